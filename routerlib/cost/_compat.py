"""LiteLLM-named money helpers, for code that ports from ``litellm.completion_cost`` and friends.

Under LiteLLM's names they return what LiteLLM returns, so that ``json.dumps(cost)``,
``total = 0.0; total += cost`` and ``statistics.mean(costs)`` keep working:

- ``completion_cost(...)`` -> float; ``cost_per_token(...)`` -> (float, float);
- ``get_model_info(model)`` -> LiteLLM's dict (``max_tokens``, prices as floats,
  ``supports_*``, ``supported_openai_params``), JSON-serialisable.

``exact=True`` returns routerlib's exact ``Decimal`` values instead (and, from
``completion_cost``, None plus a ``CostUnknownWarning`` for an unknown cost, where the float
form raises). A response's own exact cost is ``response.cost.total``; ``compute_cost`` prices
a ``Usage`` exactly. An unknown model raises ``UnknownModelError`` (a ``ValueError``); a
wrong argument type raises ``InvalidRequestError`` naming it, before anything is looked up.

The map is the default client's (so ``routerlib.register_model(...)`` is seen), unless
``model_map=`` is given. Nothing reads or writes module-level state.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, overload

from pydantic import ValidationError

from ..exceptions import InvalidRequestError
from ..types import (
    CompletionTokensDetails,
    EmbeddingResponse,
    ModelResponse,
    PromptTokensDetails,
    TextCompletion,
    Usage,
)
from ._errors import CostUnknownWarning, UnknownModelError, caller_stacklevel
from .model_map import ModelInfo, ModelMap
from .pricing import compute_cost

__all__ = [
    "check_model",
    "completion_cost",
    "cost_per_token",
    "current_map",
    "get_model_info",
    "info_or_raise",
    "token_counter",
]


# -- argument checks (item: a wrong type is a clear routerlib error, not a TypeError deep inside)

def check_model(function: str, model: object) -> str:
    """``model`` as a non-empty string, or ``InvalidRequestError`` naming the function and the value."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError(
            f"{function}(model={model!r}): model must be a non-empty string such as 'gpt-4o-mini' "
            f"or 'openai/gpt-4o-mini'", code="invalid_parameter")
    return model


def _check_count(function: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(f"{function}({name}={value!r}): must be an integer >= 0 (a token count)",
                                  code="invalid_parameter")
    return value


def _check_provider(function: str, provider: object) -> str | None:
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise InvalidRequestError(f"{function}(custom_llm_provider={provider!r}): must be a provider name "
                                  f"such as 'openai', or None", code="invalid_parameter")
    return provider


def current_map(model_map: ModelMap | None) -> ModelMap:
    """``model_map``, else the default client's map (which ``routerlib.register_model`` extends)."""
    if model_map is not None:
        return model_map
    from .._api import default_client  # late: routerlib.cost must import on its own

    return default_client().model_map


def info_or_raise(model: str, provider: str | None, model_map: ModelMap | None) -> ModelInfo:
    info = current_map(model_map).get(model, provider)
    if info is None:
        raise UnknownModelError(model, provider)
    return info


def _as_float(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


# -- get_model_info ----------------------------------------------------------------------------

def get_model_info(
    model: str, custom_llm_provider: str | None = None, *, model_map: ModelMap | None = None,
    exact: bool = False,
) -> dict[str, Any]:
    """The model's row in LiteLLM's ``get_model_info`` shape; raises ``UnknownModelError``.

    Keys as LiteLLM's: ``key``, ``max_tokens`` (the row's, else its output limit, as LiteLLM
    fills it), ``max_input_tokens``, ``max_output_tokens``, the per-token and per-second prices
    (floats; Decimal with ``exact=True``), ``litellm_provider``, ``mode``, the ``supports_*``
    flags and ``supported_openai_params`` (the provider's parameters routerlib sends, or None
    for a provider routerlib does not call natively). Plus ``provider``, routerlib's routing name.
    """
    check_model("get_model_info", model)
    info = info_or_raise(model, _check_provider("get_model_info", custom_llm_provider), model_map)
    row = info.to_dict()
    row["max_tokens"] = info.max_tokens if info.max_tokens is not None else info.max_output_tokens
    row["supported_openai_params"] = _supported_params(info.provider)
    if exact:
        return row
    return {name: _as_float(value) for name, value in row.items()}


def _supported_params(provider: str | None) -> list[str] | None:
    if provider is None:
        return None
    from ..providers.registry import builtin_specs

    spec = builtin_specs().get(provider)
    return sorted(spec.supported | {"stream"}) if spec is not None else None


# -- cost_per_token ----------------------------------------------------------------------------

@overload
def cost_per_token(
    model: str = ..., prompt_tokens: int = ..., completion_tokens: int = ..., *,
    response_time_ms: float | None = ...,
    custom_llm_provider: str | None = ...,
    cache_read_input_tokens: int = ...,
    cache_creation_input_tokens: int = ...,
    usage_object: Any = ...,
    cached_tokens: int = ...,
    cache_creation_tokens: int = ...,
    reasoning_tokens: int = ...,
    model_map: ModelMap | None = ...,
    exact: Literal[False] = ...,
) -> tuple[float, float]: ...
@overload
def cost_per_token(
    model: str = ..., prompt_tokens: int = ..., completion_tokens: int = ..., *,
    response_time_ms: float | None = ...,
    custom_llm_provider: str | None = ...,
    cache_read_input_tokens: int = ...,
    cache_creation_input_tokens: int = ...,
    usage_object: Any = ...,
    cached_tokens: int = ...,
    cache_creation_tokens: int = ...,
    reasoning_tokens: int = ...,
    model_map: ModelMap | None = ...,
    exact: Literal[True],
) -> tuple[Decimal, Decimal]: ...
def cost_per_token(
    model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    *,
    response_time_ms: float | None = None,
    custom_llm_provider: str | None = None,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    usage_object: Any = None,
    cached_tokens: int = 0,
    cache_creation_tokens: int = 0,
    reasoning_tokens: int = 0,
    model_map: ModelMap | None = None,
    exact: bool = False,
) -> tuple[float, float] | tuple[Decimal, Decimal]:
    """(prompt cost, completion cost) in USD for these counts, in OpenAI's meaning.

    ``prompt_tokens`` includes the cached (``cached_tokens``, LiteLLM's
    ``cache_read_input_tokens``) and cache-creation tokens (``cache_creation_tokens``,
    LiteLLM's ``cache_creation_input_tokens``); ``completion_tokens`` includes
    ``reasoning_tokens``. ``usage_object`` (a ``Usage`` or an OpenAI-shaped usage dict) gives
    every count at once. A model billed per second needs ``response_time_ms``; its cost is
    the first value. Raises ``UnknownModelError`` when the model, or a price these tokens
    need, is not in the map (a tuple cannot say "unknown").
    """
    fn = "cost_per_token"
    check_model(fn, model)
    provider = _check_provider(fn, custom_llm_provider)
    if usage_object is not None:
        usage = _usage_from(fn, usage_object)
    else:
        cached = _check_count(fn, "cached_tokens", cached_tokens) or _check_count(
            fn, "cache_read_input_tokens", cache_read_input_tokens)
        creation = _check_count(fn, "cache_creation_tokens", cache_creation_tokens) or _check_count(
            fn, "cache_creation_input_tokens", cache_creation_input_tokens)
        prompt = _check_count(fn, "prompt_tokens", prompt_tokens)
        completion = _check_count(fn, "completion_tokens", completion_tokens)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                      prompt_tokens_details=PromptTokensDetails(cached_tokens=cached, cache_creation_tokens=creation),
                      completion_tokens_details=CompletionTokensDetails(
                          reasoning_tokens=_check_count(fn, "reasoning_tokens", reasoning_tokens)))
    info = info_or_raise(model, provider, model_map)
    prompt_cost, completion_cost_ = _split_cost(model, provider, info, usage, response_time_ms)
    if exact:
        return prompt_cost, completion_cost_
    return float(prompt_cost), float(completion_cost_)


def _split_cost(model: str, provider: str | None, info: ModelInfo, usage: Usage,
                response_time_ms: float | None) -> tuple[Decimal, Decimal]:
    if info.bills_by_time:
        if response_time_ms is None:
            raise UnknownModelError(model, provider, "is priced per second: pass response_time_ms")
        seconds = float(response_time_ms) / 1000
        cost = compute_cost(usage, info, response_seconds=seconds)
        assert cost.total is not None  # a per-second row with a response time always prices
        return cost.total, Decimal(0)
    rates = info.rates_for(usage.prompt_tokens)
    if (usage.prompt_tokens and rates[0] is None) or (usage.completion_tokens and rates[4] is None):
        raise UnknownModelError(model, provider, "has no per-token price for these tokens")
    cost = compute_cost(usage, info)
    assert cost.total is not None  # every needed price was checked above
    # The audio bucket holds both sides: the completion's share is its audio tokens at the output-audio rate.
    details = usage.completion_tokens_details
    out_audio = (details.audio_tokens or 0) if details is not None else 0
    completion = cost.output + cost.reasoning + (out_audio * rates[6] if out_audio and rates[6] is not None else 0)
    return cost.total - completion, completion


def _usage_from(function: str, value: Any) -> Usage:
    """A ``Usage`` from ours, an OpenAI-shaped dict, or any pydantic usage object (LiteLLM's, OpenAI's)."""
    if isinstance(value, Usage):
        return value
    data = value.model_dump() if callable(getattr(value, "model_dump", None)) else value
    if not isinstance(data, Mapping):
        raise InvalidRequestError(f"{function}(usage_object=...): must be a Usage or an OpenAI-shaped usage dict, "
                                  f"got {type(value).__name__}", code="invalid_parameter")
    try:
        return Usage.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidRequestError(f"{function}(usage_object=...): not a usage ({where}: {err['msg']})",
                                  code="invalid_parameter") from None


# -- completion_cost ---------------------------------------------------------------------------

@overload
def completion_cost(
    completion_response: Any = ..., model: str | None = ..., *,
    prompt: str = ...,
    messages: Sequence[Mapping[str, Any]] | None = ...,
    completion: str = ...,
    custom_llm_provider: str | None = ...,
    response_seconds: float | None = ...,
    total_time: float | None = ...,
    model_map: ModelMap | None = ...,
    exact: Literal[False] = ...,
) -> float: ...
@overload
def completion_cost(
    completion_response: Any = ..., model: str | None = ..., *,
    prompt: str = ...,
    messages: Sequence[Mapping[str, Any]] | None = ...,
    completion: str = ...,
    custom_llm_provider: str | None = ...,
    response_seconds: float | None = ...,
    total_time: float | None = ...,
    model_map: ModelMap | None = ...,
    exact: Literal[True],
) -> Decimal | None: ...
def completion_cost(
    completion_response: Any = None,
    model: str | None = None,
    *,
    prompt: str = "",
    messages: Sequence[Mapping[str, Any]] | None = None,
    completion: str = "",
    custom_llm_provider: str | None = None,
    response_seconds: float | None = None,
    total_time: float | None = None,
    model_map: ModelMap | None = None,
    exact: bool = False,
) -> float | Decimal | None:
    """The cost in USD of a response, or of ``prompt``/``messages`` + ``completion`` text for ``model``.

    ``completion_response`` is a routerlib response (its exact ``cost`` is used when nothing
    overrides it), an OpenAI-shaped dict, or another library's response object (e.g.
    LiteLLM's, OpenAI's). ``model`` overrides the response's own model. Returns a float;
    an unknown cost raises ``UnknownModelError`` (with ``exact=True``: a Decimal, or None
    plus a ``CostUnknownWarning``).
    """
    fn = "completion_cost"
    if model is not None:
        check_model(fn, model)
    provider = _check_provider(fn, custom_llm_provider)
    seconds = response_seconds if response_seconds is not None else total_time
    if completion_response is None:
        total, name = _text_cost(model, prompt, messages, completion, provider, model_map, seconds)
    else:
        total, name = _response_cost(completion_response, model, provider, model_map, seconds)
    if exact:
        return total
    if total is None:
        raise UnknownModelError(name, provider, "has no known price for this response (pass exact=True to get "
                                "None instead of this error)")
    return float(total)


def _response_cost(response: Any, model: str | None, provider: str | None, model_map: ModelMap | None,
                   seconds: float | None) -> tuple[Decimal | None, str]:
    fn = "completion_cost"
    if isinstance(response, ModelResponse | TextCompletion | EmbeddingResponse):
        own = response.cost
        if own is not None and own.total is not None and model is None and model_map is None \
                and provider is None and seconds is None:
            return own.total, response.model
        usage, name, provider = response.usage, model or response.model, provider or response.provider
    else:
        data = response.model_dump() if callable(getattr(response, "model_dump", None)) else response
        if not isinstance(data, Mapping):
            raise InvalidRequestError(
                f"{fn}(completion_response={_short(response)}): must be a response (routerlib's, or an "
                f"OpenAI-shaped dict or object); to price text, pass model=, prompt= and completion=",
                code="invalid_parameter")
        raw_usage = data.get("usage")
        usage = _usage_from(fn, raw_usage) if raw_usage is not None else None
        name = model or data.get("model") or ""
    if not name:
        raise InvalidRequestError(f"{fn}(): the response names no model; pass model=", code="invalid_parameter")
    info = current_map(model_map).get(name, provider)
    if usage is None and (info is None or not info.bills_by_time):
        # No usage reported: a zero would be a guess, not a price.
        warnings.warn(f"cost of {name!r} is unknown (the response has no usage)", CostUnknownWarning,
                      stacklevel=caller_stacklevel())
        return None, name
    return compute_cost(usage or Usage(), info, response_seconds=seconds, model=name).total, name


def _text_cost(model: str | None, prompt: str, messages: Sequence[Mapping[str, Any]] | None, completion: str,
               provider: str | None, model_map: ModelMap | None, seconds: float | None) -> tuple[Decimal | None, str]:
    """LiteLLM's ``completion_cost(model=..., prompt=..., completion=...)``: tokens counted here (estimated)."""
    fn = "completion_cost"
    if model is None or not (prompt or messages or completion):
        raise InvalidRequestError(f"{fn}(): pass a completion_response, or model= with prompt=/messages= and "
                                  f"completion= text to price", code="invalid_parameter")
    for name, text in (("prompt", prompt), ("completion", completion)):
        if not isinstance(text, str):
            raise InvalidRequestError(f"{fn}({name}={_short(text)}): must be a string", code="invalid_parameter")
    from ..tokens import count_messages, count_text

    prompt_tokens = count_text(model, prompt) if prompt else 0
    if messages:
        prompt_tokens += count_messages(model, _message_list(fn, messages))
    completion_tokens = count_text(model, completion) if completion else 0
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                  total_tokens=prompt_tokens + completion_tokens, estimated=True)
    info = current_map(model_map).get(model, provider)
    return compute_cost(usage, info, response_seconds=seconds, model=model).total, model


def _message_list(function: str, messages: object) -> Sequence[Mapping[str, Any]]:
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not all(
            isinstance(m, Mapping) for m in messages):
        raise InvalidRequestError(f"{function}(messages={_short(messages)}): must be a list of message dicts "
                                  f"such as [{{'role': 'user', 'content': 'Hi'}}]", code="invalid_parameter")
    return messages


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def token_counter(*args: Any, **kwargs: Any) -> int:
    """``routerlib.tokens.token_counter``, imported on first call.

    Imported late so that ``routerlib.cost`` imports on its own and stays cheap to import.
    """
    tokens = importlib.import_module("routerlib.tokens")
    result: int = tokens.token_counter(*args, **kwargs)
    return result
