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
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Literal

import pydantic_core
from pydantic import (
    BaseModel,
    Field,
    InstanceOf,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from . import _checks
from ._base_request import MAY_HOLD_SECRETS, BaseRequest
from ._messages import needs_normalising, normalise_messages
from ._mock_rules import check_mock_error_name, check_tool_calls
from ._secrets import redacted as redacted  # re-exported: planning quotes entries with it
from .exceptions import InvalidRequestError

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


class ChatRequest(BaseRequest):
    """One chat call (or a text_completion, with ``prompt`` set), validated. Build it with
    ``build_request``, never by hand. Routing, retries, prices: ``BaseRequest``."""

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

    @field_validator("hf_model_name")
    @classmethod
    def _check_model_name(cls, model: str | None) -> str | None:
        problem = _checks.model_problem(model) if model is not None else None
        if problem is not None:
            raise ValueError(problem)
        return model

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, tools: tuple[Mapping[str, Any], ...] | None) -> tuple[Mapping[str, Any], ...] | None:
        for i, tool in enumerate(tools or ()):
            problem = _tool_problem(tool)
            if problem is not None:
                raise ValueError(f"tools[{i}]: {problem}")
        return tools

    @field_validator("tool_choice")
    @classmethod
    def _check_tool_choice(cls, choice: str | Mapping[str, Any] | None) -> str | Mapping[str, Any] | None:
        if isinstance(choice, str):
            if choice not in TOOL_CHOICES:
                raise ValueError(f"allowed strings are {', '.join(map(repr, TOOL_CHOICES))}, or "
                                 f"{{'type': 'function', 'function': {{'name': ...}}}}")
        elif choice is not None and (not isinstance(choice.get("type"), str) or (
                choice["type"] == "function" and not _function_name(choice.get("function")))):
            raise ValueError("a dict tool_choice needs a 'type', and for type 'function' a "
                             "'function': {'name': <non-empty string>}")
        return choice

    @field_validator("response_format")
    @classmethod
    def _check_response_format(cls, fmt: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if fmt is not None:
            kind = fmt.get("type")
            if kind not in RESPONSE_FORMATS:
                raise ValueError(f"type={kind!r}: allowed types are {', '.join(RESPONSE_FORMATS)}")
            spec = fmt.get("json_schema")
            if kind == "json_schema" and not (isinstance(spec, Mapping) and isinstance(spec.get("name"), str)
                                               and isinstance(spec.get("schema", {}), Mapping)):
                raise ValueError("type 'json_schema' needs 'json_schema': {'name': <string>, 'schema': {...}}")
        return fmt

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
            check_mock_error_name(value)  # a misspelt error name must not pass as the answer's text
        return value

    @field_validator("mock_tool_calls")
    @classmethod
    def _check_mock_tool_calls(cls, calls: tuple[Mapping[str, Any], ...] | None
                               ) -> tuple[Mapping[str, Any], ...] | None:
        if not calls:
            return None  # as LiteLLM: an empty list mocks nothing
        check_tool_calls(calls)
        return calls

    @model_validator(mode="after")
    def _check_combinations(self) -> ChatRequest:
        # Replaces BaseRequest's validator. model, api_base and api_key are given on (almost) every
        # call: their checks (base_request.check_call_options) are inlined here, cheapest first, and
        # the reason is looked up only for a bad value (_checks has the rules).
        model = self.model
        if not (model.isprintable() and model[:1] != " " and model[-1:] not in _BAD_MODEL_ENDS):
            raise ValueError(f"model={model!r}: {_checks.model_problem(model)}")
        base = self.api_base
        if base is not None and base not in _checks.GOOD_URLS:
            problem = _checks.url_problem(base)
            if problem is not None:
                raise ValueError(f"api_base={_checks.shown_url(base)}: {problem}")
        key = self.api_key
        if key is not None and not (key.isascii() and key.isprintable() and " " not in key):
            raise ValueError(f"api_key=<hidden>: {_checks.credential_problem(key)}")
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


_MAY_HOLD_SECRETS = MAY_HOLD_SECRETS
_BAD_MODEL_ENDS = ("", " ", "/")
TOOL_CHOICES = ("none", "auto", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def _function_name(function: Any) -> bool:
    return isinstance(function, Mapping) and isinstance(function.get("name"), str) and bool(function["name"])


def _tool_problem(tool: Any) -> str | None:
    """A tool must say its type; a function tool needs a name, and its parameters are a schema object."""
    kind = tool.get("type") if isinstance(tool, Mapping) else None
    if not isinstance(kind, str):
        return "each tool is a dict with a 'type' (e.g. {'type': 'function', 'function': {'name': ...}})"
    if kind == "function":
        function = tool.get("function")
        if not _function_name(function):
            return "a function tool needs 'function': {'name': <non-empty string>, ...}"
        if not isinstance(function.get("parameters", {}), Mapping):
            return "function.parameters must be a JSON schema object (a dict)"
        if not isinstance(function.get("description", ""), str):
            return "function.description must be a string"
    return None


def _check_message(i: int, message: Any) -> None:
    if not isinstance(message, Mapping):
        raise ValueError(f"messages[{i}]: each message must be a dict, got {type(message).__name__}")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(f"messages[{i}].role={role!r}: allowed roles are {', '.join(sorted(ROLES))}")
    content = message.get("content")
    if isinstance(content, list | tuple):
        for j, part in enumerate(content):
            problem = _part_problem(part)
            if problem is not None:
                raise ValueError(f"messages[{i}].content[{j}]{problem}")
    elif content is not None and not isinstance(content, str):
        raise ValueError(f"messages[{i}].content: must be a string or a list of parts, "
                         f"got {type(content).__name__}")
    elif content is None and role != "assistant":
        raise ValueError(f"messages[{i}].content: required for role {role!r}")
    if role == "tool" and not (message.get("tool_call_id") and isinstance(message["tool_call_id"], str)):
        raise ValueError(f"messages[{i}]: a tool message needs tool_call_id (a string)")
    if len(message) > 2:  # anything beyond role and content: check the shapes adapters read
        problem = _message_extras_problem(message)
        if problem is not None:
            raise ValueError(f"messages[{i}].{problem}")


def _part_problem(part: Any) -> str | None:
    """Why a content part cannot be sent (its type, and the field that type needs), or None."""
    kind = part.get("type") if isinstance(part, Mapping) else None
    if not isinstance(kind, str) or kind not in CONTENT_PART_TYPES:
        return f".type={kind!r}: allowed part types are {', '.join(sorted(CONTENT_PART_TYPES))}"
    if kind == "text" and not isinstance(part.get("text"), str):
        return ": a text part needs 'text': <string>"
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str) or not url:
            return ": an image_url part needs 'image_url': {'url': <string>}"
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not (isinstance(audio, Mapping) and isinstance(audio.get("data"), str)
                and isinstance(audio.get("format"), str)):
            return ": an input_audio part needs 'input_audio': {'data': <base64>, 'format': 'wav' or 'mp3'}"
    if kind == "file" and not isinstance(part.get("file"), Mapping):
        return ": a file part needs 'file': {'file_id': ...} or {'file_data': ...}"
    if "cache_control" in part and not isinstance(part["cache_control"], Mapping):
        return ".cache_control: must be a dict such as {'type': 'ephemeral'}"
    return None


def _message_extras_problem(message: Mapping[str, Any]) -> str | None:
    """The optional message fields adapters read: name, tool_calls, thinking_blocks, cache_control."""
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        return f"name: must be a string, got {type(name).__name__}"
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list | tuple):
            return f"tool_calls: must be a list, got {type(calls).__name__}"
        for k, call in enumerate(calls):
            function = call.get("function") if isinstance(call, Mapping) else None
            if not (isinstance(function, Mapping) and isinstance(function.get("name"), str)
                    and isinstance(function.get("arguments", ""), str | Mapping)
                    and isinstance(call.get("id", ""), str | None)):
                return (f"tool_calls[{k}]: each needs 'id': <string> and 'function': {{'name': <string>, "
                        f"'arguments': <JSON string>}}")
    blocks = message.get("thinking_blocks")
    if blocks is not None and not (isinstance(blocks, list | tuple) and all(isinstance(b, Mapping) for b in blocks)):
        return "thinking_blocks: must be a list of dicts (as an earlier answer gave them)"
    cache = message.get("cache_control")
    if cache is not None and not isinstance(cache, Mapping):
        return "cache_control: must be a dict such as {'type': 'ephemeral'}"
    return None


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
        request = ChatRequest.model_validate(params)
    except ValidationError as exc:
        error = _validation_error(exc, params)
    else:
        # Every JSON-bound value serialised once, in C; the culprit is searched for only when that
        # fails, or when the output might hold a NaN or an infinity (_check_json).
        values = request.__dict__
        try:
            text = pydantic_core.to_json([values[name] for name in _JSON_FIELDS if values[name] is not None])
        except ValueError:
            text = b"NaN"
        if b"NaN" in text or b"Infinity" in text:
            _check_json(request)
        return request
    # Raised outside the except block, so neither chained nor in __context__: pydantic's error
    # holds the whole input (api_key included) in input_value. Our message names every problem.
    raise error


#: Fields whose values go into a JSON body (or a prompt, a record, a token count): each must
#: serialise, with no lone surrogate, NaN or infinity anywhere inside.
_JSON_FIELDS = ("messages", "prompt", "tools", "tool_choice", "extra_body", "response_format", "stream_options",
                "prediction", "audio", "logit_bias", "web_search_options", "stop", "user", "safety_identifier",
                "service_tier", "metadata", "mock_response", "initial_prompt_value", "final_prompt_value",
                "bos_token", "eos_token", "roles")


def _check_json(request: BaseRequest, fields: tuple[str, ...] = _JSON_FIELDS) -> None:
    """Find the value that cannot be sent as JSON and raise naming it (a "NaN" inside a string passes)."""
    values = request.__dict__
    for name in fields:
        value = values[name]
        if value is None or isinstance(value, Exception):  # mock_response=Exception(...) is raised, not sent
            continue
        items = enumerate(value) if name == "messages" else ((None, value),)
        for i, item in items:
            problem = _json_problem(item)
            if problem is not None:
                where = name if i is None else f"{name}[{i}]"
                raise InvalidRequestError(f"invalid request: {where}: {problem}", code="invalid_parameter")


def _json_problem(value: Any) -> str | None:
    try:
        pydantic_core.to_json(value)
    except ValueError as exc:
        reason = str(exc).removeprefix("Error serializing to JSON: ")
        if "surrogates not allowed" in reason:
            return ("contains a lone surrogate (e.g. '\\ud800'), which is not valid Unicode text: decode the "
                    "text with errors='replace', or fix where it came from")
        if "Circular reference" in reason:
            return "contains itself (a circular reference), so it cannot be sent as JSON"
        return f"cannot be sent as JSON ({reason[:200]})"
    if _has_nan(value, 0):
        return "contains NaN or infinity, which JSON cannot carry"
    return None


def _has_nan(value: Any, depth: int) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if depth > 64:
        return False
    if isinstance(value, Mapping):
        return any(_has_nan(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nan(v, depth + 1) for v in value)
    return False


def _fold_aliases(params: dict[str, Any]) -> dict[str, Any]:
    for alias, name in ALIASES.items():
        if alias not in params:
            continue
        value = params.pop(alias)
        if name == "headers" and value is not None and not isinstance(value, Mapping):
            raise InvalidRequestError(f"invalid request: {alias}: must be a dict of header names to strings, "
                                      f"got {type(value).__name__}", code="invalid_parameter")
        if name == "headers" and isinstance(params.get("headers"), Mapping) and value is not None:
            value = {**params["headers"], **value}
        elif params.get(name) is not None and value is not None and params[name] != value:
            raise InvalidRequestError(f"{alias} and {name} are the same parameter: give one of them")
        if value is not None:
            params[name] = value
    functions = params.pop("functions", None)
    function_call = params.pop("function_call", None)
    if functions is not None and params.get("tools") is None:
        if not isinstance(functions, list | tuple) or not all(isinstance(f, Mapping) for f in functions):
            raise InvalidRequestError("invalid request: functions: must be a list of function dicts "
                                      "({'name': ..., 'parameters': {...}})", code="invalid_parameter")
        params["tools"] = [{"type": "function", "function": f} for f in functions]
    if function_call is not None and params.get("tool_choice") is None:
        if not isinstance(function_call, str | Mapping):
            raise InvalidRequestError("invalid request: function_call: must be 'none', 'auto' or "
                                      "{'name': ...}", code="invalid_parameter")
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
    try:
        schema = model_class.model_json_schema()
    except Exception as exc:  # pydantic's schema errors have no common base beyond this
        raise InvalidRequestError(f"response_format={model_class.__name__}: pydantic cannot make a JSON "
                                  f"schema of it ({type(exc).__name__}: {str(exc)[:200]})") from None
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
        known = _KNOWN_ELSEWHERE.get(name)
        if known is not None:
            parts.append(f"{name!r} ({known})")
            continue
        close = difflib.get_close_matches(name, sorted(accepted), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    tail = "" if all(name in _KNOWN_ELSEWHERE for name in names) else \
        "; provider-specific parameters go in extra_body={...}"
    return InvalidRequestError(f"unknown parameter {', '.join(parts)}{tail}", code="unknown_parameter")


#: LiteLLM keywords whose job routerlib does elsewhere: the error says where, not "did you mean".
_KNOWN_ELSEWHERE = {
    "caching": "routerlib caches every call of a client that has a cache: Client(cache=MemoryCache()) or "
               "Router(cache=...); per call, cache={'no-cache': True} or {'no-store': True}; see docs/cache.md",
}


def _shown(name: str, value: Any) -> str:
    """A parameter's value as an error message quotes it: never a credential, at most 300 characters."""
    if name in ("api_key", "azure_ad_token"):
        return "<hidden>"
    if name == "headers" and isinstance(value, Mapping):
        return repr({k: "..." for k in value})[:300]  # names only: any value may be a key
    if name == "api_base" and isinstance(value, str):
        return _checks.shown_url(value)
    text = repr(redacted(value) if name in _MAY_HOLD_SECRETS else value)
    return text if len(text) <= 300 else text[:300] + "..."


#: Values never quoted in an error message: they may be long, and they are the user's data.
_NEVER_SHOWN = frozenset({"messages", "input"})


def _validation_error(exc: ValidationError, params: Mapping[str, Any]) -> InvalidRequestError:
    problems = []
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = str(loc[0]) if loc else ""
        message = err["msg"].removeprefix("Value error, ")
        if name in params and name not in _NEVER_SHOWN:
            problems.append(f"{name}={_shown(name, params[name])}: {message}")
        elif message.startswith(name):
            problems.append(message)
        else:  # messages, input (never shown whole): point at the item, e.g. "messages[0]: ..., got str"
            where = name + "".join(f"[{p}]" for p in loc[1:2] if isinstance(p, int))
            got = f", got {type(err['input']).__name__}" if where != name else ""
            problems.append(f"{where}: {message}{got}" if where else message)
    return InvalidRequestError("invalid request: " + "; ".join(dict.fromkeys(problems)),
                               code="invalid_parameter")
