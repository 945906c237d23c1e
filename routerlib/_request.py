"""The validated request: every parameter of a call, checked once, frozen.

``completion(**params)`` funnels everything through ``build_request``: unknown names and
bad values raise ``InvalidRequestError`` (naming the parameter, the value and what is
allowed) before any planning or network I/O. After that, no code reads loose kwargs.

Parameters fall in two groups. ``PROVIDER_PARAMS`` are sent to the provider (after the
adapter maps or drops them); everything else steers routerlib itself (routing, retries,
cost, templates). ``None`` means "not given" for every optional parameter, so a per-call
``num_retries=0`` is a real zero and never "use the default".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ._messages import needs_normalising, normalise_messages
from .exceptions import InvalidRequestError
from .policy import RetryPolicy

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
CONTENT_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file"})

#: Parameters of the legacy /completions endpoint only (text_completion); refused on chat calls.
TEXT_ONLY_PARAMS: tuple[str, ...] = ("echo", "best_of", "suffix")
#: Parameters forwarded to the provider (the adapter decides how each is spelled there).
PROVIDER_PARAMS: tuple[str, ...] = (
    "temperature", "top_p", "n", "stream_options", "stop", "max_completion_tokens", "max_tokens",
    "modalities", "prediction", "audio", "presence_penalty", "frequency_penalty", "logit_bias", "user",
    "reasoning_effort", "verbosity", "response_format", "seed", "tools", "tool_choice",
    "parallel_tool_calls", "logprobs", "top_logprobs", "web_search_options", "safety_identifier",
    "service_tier", "repetition_penalty", "router_preference", *TEXT_ONLY_PARAMS,
)

Number = float | int | str | Decimal


class BaseRequest(BaseModel):
    """What every call takes besides its operation's own parameters: routing, connection,
    retries, prices and testing switches. ``ChatRequest`` (completion, text_completion) and
    ``EmbeddingRequest`` (embedding) extend it; the call core reads these fields for both,
    and tells the two apart by ``operation`` (a class constant, so checking it costs nothing).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True,
                              protected_namespaces=())

    #: Which adapter methods the core calls: build_request/parse_response, or the embedding twins.
    operation: ClassVar[Literal["chat", "embeddings"]]
    #: The fields sent to the provider (``providers.base.select_params`` reads these).
    provider_params: ClassVar[tuple[str, ...]]

    model: str = Field(min_length=1)
    # -- routing and connection
    timeout: float | None = Field(default=None, strict=True, gt=0)
    deadline: float | None = Field(default=None, strict=True, gt=0)
    deployment_id: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    #: Azure OpenAI: a Microsoft Entra ID token, sent as a bearer when there is no api_key.
    azure_ad_token: str | None = Field(default=None, repr=False)
    model_list: tuple[Mapping[str, Any], ...] | None = None
    headers: Mapping[str, str] | None = None
    metadata: Mapping[str, Any] | None = None
    extra_body: Mapping[str, Any] | None = None
    drop_params: bool = Field(default=False, strict=True)
    # -- reliability (behaviour: routerlib.policy)
    num_retries: int | None = Field(default=None, strict=True, ge=0)
    #: This call's retry/fallback policy (which errors retry or fall back, backoff, caps);
    #: replaces the client's for this call only. num_retries, if given, still wins.
    policy: InstanceOf[RetryPolicy] | None = None
    fallbacks: tuple[str | Mapping[str, Any], ...] | None = None
    context_window_fallback_dict: Mapping[str, str] | None = None
    # -- cost (behaviour: routerlib.cost)
    input_cost_per_token: Decimal | None = Field(default=None, ge=0)
    output_cost_per_token: Decimal | None = Field(default=None, ge=0)
    input_cost_per_second: Decimal | None = Field(default=None, ge=0)
    output_cost_per_second: Decimal | None = Field(default=None, ge=0)
    # -- testing (behaviour: routerlib.providers.mock)
    #: LiteLLM's switch: the primary (and model_list deployments) fail with a mocked 500, so the
    #: fallbacks are exercised (answered for real, or by mock_response).
    mock_testing_fallbacks: bool | None = Field(default=None, strict=True)

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, metadata: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """user, team and tags attribute spend: check them now, not when the record is written."""
        if metadata:
            for name in ("user", "team"):
                value = metadata.get(name)
                if value is not None and (not isinstance(value, str) or not value):
                    raise ValueError(f"metadata.{name}={value!r}: must be a non-empty string")
            tags = metadata.get("tags")
            if tags is not None and not isinstance(tags, str) and not (
                    isinstance(tags, list | tuple) and all(isinstance(t, str) and t for t in tags)):
                raise ValueError(f"metadata.tags={tags!r}: must be a string or a list of non-empty strings")
        return metadata

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # api_key is repr=False; keys can also sit in headers and in fallback/model_list entries.
        for name, value in super().__repr_args__():
            yield name, (redacted(value) if name in _MAY_HOLD_SECRETS else value)


class ChatRequest(BaseRequest):
    """One chat call (or a text_completion, with ``prompt`` set), validated. Build it with
    ``build_request``, never by hand."""

    operation: ClassVar[Literal["chat"]] = "chat"
    provider_params: ClassVar[tuple[str, ...]] = PROVIDER_PARAMS

    messages: tuple[Mapping[str, Any], ...] = ()
    # -- sent to the provider
    temperature: float | None = Field(default=None, strict=True, ge=0, le=2)
    top_p: float | None = Field(default=None, strict=True, ge=0, le=1)
    n: int | None = Field(default=None, strict=True, ge=1)
    stream: bool = Field(default=False, strict=True)
    stream_options: Mapping[str, Any] | None = None
    stop: str | tuple[str, ...] | None = None
    max_completion_tokens: int | None = Field(default=None, strict=True, ge=1)
    max_tokens: int | None = Field(default=None, strict=True, ge=1)
    modalities: tuple[Literal["text", "audio"], ...] | None = None
    prediction: Mapping[str, Any] | None = None
    audio: Mapping[str, Any] | None = None
    presence_penalty: float | None = Field(default=None, strict=True, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, strict=True, ge=-2, le=2)
    logit_bias: Mapping[str, float] | None = None
    user: str | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    response_format: Mapping[str, Any] | None = None
    seed: int | None = Field(default=None, strict=True)
    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = Field(default=None, strict=True)
    #: true/false for chat; an integer 0..5 for text_completion (the legacy API's meaning).
    logprobs: StrictBool | StrictInt | None = None
    top_logprobs: int | None = Field(default=None, strict=True, ge=0, le=20)
    web_search_options: Mapping[str, Any] | None = None
    safety_identifier: str | None = None
    service_tier: str | None = None
    repetition_penalty: float | None = Field(default=None, strict=True, gt=0)
    router_preference: Literal["balanced", "powerful", "efficient"] | None = None
    #: text_completion only (OpenAI's /completions): echo the prompt, best of N, text after the insertion.
    echo: bool | None = Field(default=None, strict=True)
    best_of: int | None = Field(default=None, strict=True, ge=1, le=20)
    suffix: str | None = None
    # -- prompt templates for raw-prompt providers (behaviour: routerlib.prompts)
    initial_prompt_value: str | None = None
    roles: Mapping[str, Mapping[str, str]] | None = None
    final_prompt_value: str | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    hf_model_name: str | None = None
    # -- testing (behaviour: routerlib.providers.mock)
    #: The answer's text; or an exception (or "litellm.RateLimitError", ...) each attempt fails with.
    mock_response: str | InstanceOf[Exception] | None = None
    #: Tool calls the mocked answer carries (OpenAI's shape), streamed too.
    mock_tool_calls: tuple[Mapping[str, Any], ...] | None = None
    #: Set for text_completion(): the raw prompt, sent to /completions as is.
    prompt: str | tuple[str, ...] | None = None

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, messages: tuple[Mapping[str, Any], ...]) -> tuple[Mapping[str, Any], ...]:
        for i, message in enumerate(messages):
            _check_message(i, message)
        return messages

    @field_validator("roles")
    @classmethod
    def _check_roles(cls, roles: Mapping[str, Mapping[str, str]] | None) -> Mapping[str, Mapping[str, str]] | None:
        """A misspelt role or key ("pre_mesage") would silently drop a model's control tokens."""
        if roles is not None:
            from .prompts import PromptTemplate

            PromptTemplate.from_params(roles=roles)  # raises naming the bad key and the allowed ones
        return roles

    @field_validator("stop", mode="before")
    @classmethod
    def _check_stop(cls, stop: Any) -> Any:
        if isinstance(stop, list | tuple) and len(stop) > 4:
            raise ValueError(f"at most 4 stop sequences are allowed, got {len(stop)}")
        return stop

    @field_validator("mock_response")
    @classmethod
    def _check_mock_response(cls, value: str | Exception | None) -> str | Exception | None:
        if isinstance(value, str) and value.startswith("litellm."):
            from .providers.mock import check_mock_error_name

            check_mock_error_name(value)  # a misspelt error name must not pass as the answer's text
        return value

    @field_validator("mock_tool_calls")
    @classmethod
    def _check_mock_tool_calls(cls, calls: tuple[Mapping[str, Any], ...] | None
                               ) -> tuple[Mapping[str, Any], ...] | None:
        if not calls:
            return None  # as LiteLLM: an empty list mocks nothing
        from .providers.mock import check_tool_calls

        check_tool_calls(calls)
        return calls

    @model_validator(mode="after")
    def _check_combinations(self) -> ChatRequest:
        if self.prompt is None and not self.messages:
            raise ValueError("messages=[]: at least one message is required")
        if self.prompt is not None and self.messages:
            raise ValueError("prompt and messages: give messages to completion() or a prompt to "
                             "text_completion(), not both")
        if self.logprobs is not None and not isinstance(self.logprobs, bool):
            if self.prompt is None:
                raise ValueError(f"logprobs={self.logprobs!r}: chat completions take true or false "
                                 f"(with top_logprobs 0..20); an integer is for text_completion")
            if not 0 <= self.logprobs <= 5:
                raise ValueError(f"logprobs={self.logprobs!r}: text_completion takes an integer 0..5")
        if self.prompt is None and (self.echo is not None or self.best_of is not None or self.suffix is not None):
            given = [name for name in TEXT_ONLY_PARAMS if getattr(self, name) is not None]
            raise ValueError(f"{', '.join(given)}: only for text_completion() (the /completions endpoint), "
                             f"not for chat completions")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError(f"top_logprobs={self.top_logprobs!r}: only allowed together with logprobs=True "
                             f"(got logprobs={self.logprobs!r})")
        return self

    @property
    def wants_usage_chunk(self) -> bool:
        """Whether the caller asked to see the usage chunk of a stream."""
        return bool(self.stream_options and self.stream_options.get("include_usage"))


_MAY_HOLD_SECRETS = frozenset({"headers", "model_list", "fallbacks", "extra_body"})
_SECRET_KEYS = frozenset({"api_key", "azure_ad_token", "authorization", "proxy-authorization", "x-api-key", "api-key",
                          "x-goog-api-key"})


def redacted(value: Any) -> Any:
    """``value`` with API keys and auth headers hidden, for reprs and error messages."""
    if isinstance(value, Mapping):
        return {k: "<hidden>" if isinstance(k, str) and k.lower() in _SECRET_KEYS else redacted(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redacted(v) for v in value)
    return value


def _check_message(i: int, message: Any) -> None:
    if not isinstance(message, Mapping):
        raise ValueError(f"messages[{i}]: each message must be a dict, got {type(message).__name__}")
    role = message.get("role")
    if role not in ROLES:
        raise ValueError(f"messages[{i}].role={role!r}: allowed roles are {', '.join(sorted(ROLES))}")
    content = message.get("content")
    if isinstance(content, list | tuple):
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind not in CONTENT_PART_TYPES:
                raise ValueError(f"messages[{i}].content[{j}].type={kind!r}: allowed part types are "
                                 f"{', '.join(sorted(CONTENT_PART_TYPES))}")
    elif content is not None and not isinstance(content, str):
        raise ValueError(f"messages[{i}].content: must be a string or a list of parts, "
                         f"got {type(content).__name__}")
    elif content is None and role != "assistant":
        raise ValueError(f"messages[{i}].content: required for role {role!r}")
    if role == "tool" and not message.get("tool_call_id"):
        raise ValueError(f"messages[{i}]: a tool message needs tool_call_id")


FIELDS = frozenset(ChatRequest.model_fields)
#: Accepted spellings that are folded into one field before validation.
ALIASES = {"base_url": "api_base", "max_retries": "num_retries", "extra_headers": "headers",
           "request_timeout": "timeout"}
#: LiteLLM's custom_llm_provider="openai": the provider prefix of ``model``, given apart.
PROVIDER_PREFIX = "custom_llm_provider"
#: Deprecated OpenAI parameters mapped to their successors (functions -> tools).
DEPRECATED = frozenset({"functions", "function_call"})
ACCEPTED = FIELDS | set(ALIASES) | DEPRECATED | {PROVIDER_PREFIX}


def build_request(params: dict[str, Any]) -> ChatRequest:
    """Validate call parameters into a ``ChatRequest``, or raise ``InvalidRequestError``."""
    unknown = params.keys() - ACCEPTED
    if unknown:
        raise _unknown_parameter_error(sorted(unknown))
    if params.keys() & (ALIASES.keys() | DEPRECATED):
        params = _fold_aliases(dict(params))
    if PROVIDER_PREFIX in params:
        params = _prefix_provider(dict(params))
    messages = params.get("messages")
    if messages and needs_normalising(messages):
        # Message objects (a response's message) become dicts; null fields are dropped (``_messages``).
        params = {**params, "messages": normalise_messages(messages)}
    response_format = params.get("response_format")
    if isinstance(response_format, type):
        params["response_format"] = _json_schema_format(response_format)
    try:
        return ChatRequest.model_validate(params)
    except ValidationError as exc:
        # Not chained: pydantic's error holds the whole input (api_key included) in input_value,
        # which a logged traceback would print. Our message names every problem instead.
        raise _validation_error(exc, params) from None


def _fold_aliases(params: dict[str, Any]) -> dict[str, Any]:
    for alias, name in ALIASES.items():
        if alias not in params:
            continue
        value = params.pop(alias)
        if name == "headers" and params.get("headers") is not None and value is not None:
            value = {**params["headers"], **value}
        elif params.get(name) is not None and value is not None and params[name] != value:
            raise InvalidRequestError(f"{alias} and {name} are the same parameter: give one of them")
        if value is not None:
            params[name] = value
    functions = params.pop("functions", None)
    function_call = params.pop("function_call", None)
    if functions is not None and params.get("tools") is None:
        params["tools"] = [{"type": "function", "function": f} for f in functions]
    if function_call is not None and params.get("tool_choice") is None:
        params["tool_choice"] = (function_call if isinstance(function_call, str)
                                 else {"type": "function", "function": dict(function_call)})
    return params


def _prefix_provider(params: dict[str, Any]) -> dict[str, Any]:
    """custom_llm_provider="openai", model="gpt-4o-mini" -> model="openai/gpt-4o-mini" (not doubled)."""
    provider = params.pop(PROVIDER_PREFIX)
    if provider is None:
        return params
    if not isinstance(provider, str) or not provider or "/" in provider:
        raise InvalidRequestError(f"custom_llm_provider={provider!r}: must be a provider name such as 'openai'",
                                  code="invalid_parameter")
    model = params.get("model")
    if isinstance(model, str) and model and not model.startswith(provider + "/"):
        params["model"] = f"{provider}/{model}"
    return params


def _json_schema_format(model_class: type) -> dict[str, Any]:
    """Turn a pydantic model class into OpenAI's json_schema response_format."""
    if not issubclass(model_class, BaseModel):
        raise InvalidRequestError(
            f"response_format={model_class!r}: pass a dict or a pydantic BaseModel subclass")
    schema = model_class.model_json_schema()
    _forbid_extra_properties(schema)
    return {"type": "json_schema",
            "json_schema": {"name": model_class.__name__, "schema": schema, "strict": True}}


def _forbid_extra_properties(schema: Any) -> None:
    """OpenAI's strict mode requires additionalProperties: false on every object schema..."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
            # ...and every property listed in required (a default does not make it optional there).
            schema["required"] = list(schema["properties"])
        for value in schema.values():
            _forbid_extra_properties(value)
    elif isinstance(schema, list):
        for value in schema:
            _forbid_extra_properties(value)


def _unknown_parameter_error(names: Sequence[str], accepted: frozenset[str] | set[str] = ACCEPTED
                             ) -> InvalidRequestError:
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, sorted(accepted), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    return InvalidRequestError(
        f"unknown parameter {', '.join(parts)}; provider-specific parameters go in extra_body={{...}}",
        code="unknown_parameter")


#: Values never quoted in an error message: they may be long, and they are the user's data.
_NEVER_SHOWN = frozenset({"messages", "input"})


def _validation_error(exc: ValidationError, params: Mapping[str, Any]) -> InvalidRequestError:
    problems = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = str(loc[0]) if loc else ""
        message = err["msg"].removeprefix("Value error, ")
        if name in params and name not in _NEVER_SHOWN:
            shown = "<hidden>" if name in ("api_key", "azure_ad_token") else repr(redacted(params[name]))
            problems.append(f"{name}={shown}: {message}")
        elif message.startswith(name):
            problems.append(message)
        else:  # messages, input (never shown whole): point at the item, e.g. "messages[0]: ..., got str"
            where = name + "".join(f"[{p}]" for p in loc[1:2] if isinstance(p, int))
            got = f", got {type(err['input']).__name__}" if where != name else ""
            problems.append(f"{where}: {message}{got}" if where else message)
    return InvalidRequestError("invalid request: " + "; ".join(dict.fromkeys(problems)),
                               code="invalid_parameter")
