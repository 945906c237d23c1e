"""Public value types: responses, chunks, usage, cost and attempts.

Responses are OpenAI-shaped: ``model_dump()`` gives the OpenAI JSON, and unknown fields a
provider adds are kept. Beside the OpenAI fields each response carries routerlib's own,
excluded from ``model_dump()`` so that the dump stays a faithful OpenAI body:

- ``provider``: the provider that answered (``model`` is the model that answered);
- ``attempts``: every attempt made for the call, in order (see ``Attempt``);
- ``cost``: a ``Cost`` whose ``total`` is a ``Decimal`` in USD, or None when no price is known;
- ``dropped_params``: parameters removed because the provider does not take them (drop_params=True);
- ``cache_hit``: True when the answer came from the client's response cache (nothing was sent;
  ``cost.total`` is zero and ``cost.saved`` what the answer cost when it was fetched).

``EmbeddingResponse`` (``embedding()``) carries the same fields beside OpenAI's ``data``,
``model`` and ``usage``.

Every object also reads like LiteLLM's (so code written for it ports by changing the import):
``r["choices"][0]["message"]["content"]``, ``delta.get("content")``, ``"usage" in r``,
``r.json()`` and ``r.to_dict()`` (plain dicts, the same as ``model_dump()``), and
``r._hidden_params["response_cost"]`` (the cost as a float; the exact Decimal is ``r.cost.total``).

Usage has one canonical meaning across providers, OpenAI's: ``prompt_tokens`` includes
cached and cache-creation tokens, ``completion_tokens`` includes reasoning tokens. A
response's or chunk's usage is checked as it is parsed (``routerlib._usage``): counts that
are not integers from 0 to 10**9 are dropped with a ``UsageWarning``, and the engine counts
the tokens itself, marked ``estimated``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ._warnings import warn_implausible

__all__ = [
    "Attempt",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Choice",
    "ChoiceDelta",
    "CompletionTokensDetails",
    "Cost",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "ModelResponse",
    "PromptTokensDetails",
    "StreamChoice",
    "TextChoice",
    "TextCompletion",
    "Usage",
    "count",
    "usage_problem",
]

_OPEN = ConfigDict(extra="allow", protected_namespaces=())
_FROZEN = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class _OpenModel(BaseModel):
    """An OpenAI-shaped object: keeps fields it does not know, dumps without routerlib's own.

    Reads like a dict too, as LiteLLM's objects do: ``obj["field"]``, ``obj.get("field")``,
    ``"field" in obj`` see the fields and the extra fields a provider sent (not methods).
    """

    model_config = _OPEN

    def __getitem__(self, key: str) -> Any:
        if key in type(self).model_fields:
            return getattr(self, key)
        extra = self.__pydantic_extra__
        if extra is not None and key in extra:
            return extra[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or ``default`` when the object has no such field (LiteLLM's ``get``)."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        extra = self.__pydantic_extra__
        return key in type(self).model_fields or (extra is not None and key in extra)

    def json(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The object as a plain dict: LiteLLM's ``json()`` (pydantic's deprecated ``json()`` gave a str)."""
        return self.model_dump(**kwargs)

    def to_dict(self, *, mode: Literal["python", "json"] = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The object as a plain dict, as the OpenAI SDK's ``to_dict()`` (every field, not only those set)."""
        return self.model_dump(mode=mode, exclude_none=exclude_none)

    def to_json(self, *, indent: int | None = 2) -> str:
        """The object as JSON text, as the OpenAI SDK's ``to_json()``."""
        return self.model_dump_json(indent=indent)


class PromptTokensDetails(_OpenModel):
    cached_tokens: int = 0
    audio_tokens: int | None = None
    #: routerlib extension: tokens written to the provider's prompt cache (Anthropic), priced apart.
    cache_creation_tokens: int = 0


class CompletionTokensDetails(_OpenModel):
    reasoning_tokens: int = 0
    audio_tokens: int | None = None


class Usage(_OpenModel):
    """Token counts in OpenAI's meaning (see the module docstring)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    #: True when routerlib counted the tokens itself because the provider sent none.
    estimated: bool = Field(default=False, exclude=True)

    @property
    def cached_tokens(self) -> int:
        d = self.prompt_tokens_details
        return d.cached_tokens if d else 0

    @property
    def cache_creation_tokens(self) -> int:
        d = self.prompt_tokens_details
        return d.cache_creation_tokens if d else 0

    @property
    def reasoning_tokens(self) -> int:
        d = self.completion_tokens_details
        return d.reasoning_tokens if d else 0


#: The usage of a response or chunk as a provider reports it: implausible counts become None.
#: The most tokens any one count of one call may be (a billion): see ``routerlib._usage``.
USAGE_TOKEN_LIMIT = 10**9


def count(value: Any) -> int | None:
    """A token count from a provider's JSON: an int (or an integral float), else None."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def usage_problem(usage: Usage) -> str | None:
    """Why ``usage`` cannot be right (a count below 0 or above ``USAGE_TOKEN_LIMIT``), or None."""
    limit = USAGE_TOKEN_LIMIT
    p, c, t = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if 0 <= p <= limit and 0 <= c <= limit and 0 <= t <= limit and (
            usage.prompt_tokens_details is None and usage.completion_tokens_details is None):
        return None  # the common case, in a handful of comparisons
    named = [("prompt_tokens", p), ("completion_tokens", c), ("total_tokens", t)]
    ptd, ctd = usage.prompt_tokens_details, usage.completion_tokens_details
    if ptd is not None:
        named += [("cached_tokens", ptd.cached_tokens), ("cache_creation_tokens", ptd.cache_creation_tokens),
                  ("prompt audio_tokens", ptd.audio_tokens or 0)]
    if ctd is not None:
        named += [("reasoning_tokens", ctd.reasoning_tokens), ("completion audio_tokens", ctd.audio_tokens or 0)]
    for name, value in named:
        if not 0 <= value <= limit:
            return f"{name}={value}: counts are integers from 0 to {limit:,}"
    return None


def _plausible(usage: Usage) -> Usage:
    """The common case of ``CheckedUsage``, run after pydantic built the ``Usage``: a handful of
    comparisons; an implausible count sends the value on to ``_loose_or_none``."""
    limit = USAGE_TOKEN_LIMIT
    if (0 <= usage.prompt_tokens <= limit and 0 <= usage.completion_tokens <= limit
            and 0 <= usage.total_tokens <= limit and usage.prompt_tokens_details is None
            and usage.completion_tokens_details is None) or usage_problem(usage) is None:
        return usage
    raise ValueError("implausible usage")


def _loose_or_none(value: Any) -> Usage | None:
    """What ``CheckedUsage`` does with a value that is not a plausible ``Usage`` as validated: a
    lax pass (a strict one refuses 20.0 for 20), else None with a warning saying why."""
    try:
        usage = Usage.model_validate(value)
    except ValidationError:
        warn_implausible("counts that are not integers")
        return None
    problem = usage_problem(usage)
    if problem is not None:
        warn_implausible(problem)
        return None
    return usage


#: The ``usage`` field of responses and chunks: a plausible ``Usage``, else None and a warning.
#: A left-to-right union, so that the common case runs in pydantic's own code plus one short
#: check (``_plausible``); only a value that fails it reaches Python (``_loose_or_none``), where
#: a wrap validator would put every response's usage through Python twice. None comes first: most
#: stream chunks carry no usage, and must not fail their way through the other two.
CheckedUsage = Annotated[
    None | Annotated[Usage, AfterValidator(_plausible)] | Annotated[Any, AfterValidator(_loose_or_none)],  # noqa: RUF036
    Field(union_mode="left_to_right")]


class Cost(BaseModel):
    """What a call cost, in USD, exactly (Decimal), priced once per usage bucket.

    ``total`` is None when no price is known for the model: never a silent zero.
    ``source`` says where the prices came from: "model_map", "override" (per-call prices),
    "per_second" (priced by response time), or "unknown".
    """

    model_config = _FROZEN

    total: Decimal | None
    input: Decimal = Decimal(0)
    cached_input: Decimal = Decimal(0)
    cache_creation: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    reasoning: Decimal = Decimal(0)
    audio: Decimal = Decimal(0)
    time: Decimal = Decimal(0)
    source: Literal["model_map", "override", "per_second", "unknown"] = "unknown"
    estimated: bool = False
    #: The model map key the prices came from (None for overrides and unknown models).
    priced_as: str | None = None
    #: What a cache hit saved: the cost the answer had when it was fetched (``total`` is then
    #: zero). 0 for a call that was sent; None for a hit whose original cost was unknown.
    saved: Decimal | None = Decimal(0)

    def __radd__(self, other: object) -> Cost:
        """``sum(costs)`` starts from 0."""
        if other == 0:
            return self
        return NotImplemented

    def __add__(self, other: Cost) -> Cost:
        """Sum two costs (an unknown total stays unknown: it cannot be summed honestly)."""
        total = None if self.total is None or other.total is None else self.total + other.total
        return Cost(
            total=total,
            input=self.input + other.input,
            cached_input=self.cached_input + other.cached_input,
            cache_creation=self.cache_creation + other.cache_creation,
            output=self.output + other.output,
            reasoning=self.reasoning + other.reasoning,
            audio=self.audio + other.audio,
            time=self.time + other.time,
            source=self.source if self.source == other.source else other.source,
            estimated=self.estimated or other.estimated,
            priced_as=other.priced_as or self.priced_as,
            saved=None if self.saved is None or other.saved is None else self.saved + other.saved,
        )


class Attempt(BaseModel):
    """One try at one deployment, as recorded in ``response.attempts`` and ``error.attempts``."""

    model_config = _FROZEN

    model: str
    provider: str
    api_base: str | None = None
    #: The deployment's stable id (``Deployment.id``): routing state and traces are keyed by it.
    deployment_id: str | None = None
    #: "ok", "error", "skipped" (not sent: e.g. the prompt cannot fit the context window), or
    #: "cache_hit" (answered from the response cache: nothing sent, nothing paid).
    outcome: Literal["ok", "error", "skipped", "cache_hit"]
    error: str | None = None
    status_code: int | None = None
    message: str | None = None
    #: Seconds from sending to the answer (or failure).
    latency: float = 0.0
    #: Seconds waited before this attempt (backoff or server-asked).
    waited: float = 0.0
    retry_after: float | None = None
    cost: Cost | None = None
    #: The Router strategy that picked it ("simple-shuffle", "least-busy", ...), None outside a Router.
    strategy: str | None = None
    #: Why it was picked (or skipped), e.g. "least-busy: 0 in flight; skipped eu-2: open until ...".
    reason: str | None = None

    def summary(self) -> str:
        """A short label such as "openai/gpt-4o 429" used in error messages; a configured deployment
        id is shown too ("openai/gpt-4o[eu-2] 429"), so that the deployments of one model in a
        router group can be told apart."""
        label = f"{self.provider}/{self.model}"
        ident = self.deployment_id
        if ident and not ident.startswith(label + "@"):  # not the id made from the model and endpoint
            label += f"[{ident}]"
        if self.outcome == "ok":
            return f"{label} ok"
        if self.outcome == "skipped":
            return f"{label} skipped ({self.message})"
        if self.outcome == "cache_hit":
            return f"{label} cache hit"
        return f"{label} {self.status_code or self.error}"


class _RouterlibFields(_OpenModel):
    provider: str | None = Field(default=None, exclude=True)
    attempts: tuple[Attempt, ...] = Field(default=(), exclude=True)
    cost: Cost | None = Field(default=None, exclude=True)
    dropped_params: tuple[str, ...] = Field(default=(), exclude=True)
    cache_hit: bool = Field(default=False, exclude=True)
    #: The spend ledger's failure while recording this answer (a ``LedgerError``), if any: the
    #: answer stands, and the record waits in the ledger's spool for a later write.
    ledger_error: Any = Field(default=None, exclude=True)

    @property
    def _hidden_params(self) -> dict[str, Any]:
        """LiteLLM's ``response._hidden_params``, built from routerlib's fields (a new dict each time).

        ``response_cost`` is a float (None when the price is unknown), so it sums and
        serialises as LiteLLM's does; the exact Decimal stays on ``cost.total``.
        """
        total = self.cost.total if self.cost is not None else None
        answered = next((a for a in reversed(self.attempts) if a.outcome in ("ok", "cache_hit")), None)
        return {
            "response_cost": float(total) if total is not None else None,
            "custom_llm_provider": self.provider,
            "api_base": answered.api_base if answered is not None else None,
            "model_id": answered.deployment_id if answered is not None else None,  # a Router's deployment id
            "litellm_model_name": self.__dict__.get("model"),
            "cache_hit": self.cache_hit,  # LiteLLM's hit marker (routerlib's own: ``response.cache_hit``)
        }


class Function(_OpenModel):
    name: str | None = None
    arguments: str = ""


class ChatCompletionMessageToolCall(_OpenModel):
    id: str | None = None
    type: str = "function"
    function: Function
    #: Present in stream deltas, where tool calls arrive in pieces.
    index: int | None = None


class ChatCompletionMessage(_OpenModel):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    refusal: str | None = None
    function_call: Function | None = None


class Choice(_OpenModel):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: str | None = None
    logprobs: Any = None


class ModelResponse(_RouterlibFields):
    """A chat completion, shaped like OpenAI's ``ChatCompletion``."""

    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice]
    usage: CheckedUsage = None
    system_fingerprint: str | None = None


class ChoiceDelta(_OpenModel):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    refusal: str | None = None
    function_call: Function | None = None


class StreamChoice(_OpenModel):
    index: int = 0
    delta: ChoiceDelta
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(_OpenModel):
    """One streamed chunk, shaped like OpenAI's ``ChatCompletionChunk``."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[StreamChoice] = []
    usage: CheckedUsage = None
    system_fingerprint: str | None = None


class TextChoice(_OpenModel):
    index: int = 0
    #: Required, as in OpenAI's format: a chat body read as a text completion must not pass as "".
    text: str
    finish_reason: str | None = None
    logprobs: Any = None


class TextCompletion(_RouterlibFields):
    """A legacy /v1/completions answer, shaped like OpenAI's ``Completion``."""

    id: str
    object: str = "text_completion"
    created: int = 0
    model: str = ""
    choices: list[TextChoice]
    usage: CheckedUsage = None
    system_fingerprint: str | None = None


class Embedding(_OpenModel):
    """One input's vector: floats, or a base64 string of little-endian float32 with encoding_format="base64"."""

    object: str = "embedding"
    index: int = 0
    embedding: list[float] | str


class EmbeddingResponse(_RouterlibFields):
    """An embedding call's answer, shaped like OpenAI's ``CreateEmbeddingResponse``: one
    ``data[i].embedding`` per input, in input order; ``usage.prompt_tokens`` is what is billed."""

    object: str = "list"
    data: list[Embedding]
    model: str = ""
    usage: Usage | None = None
