"""LiteLLM-named helpers, for code that ports from ``litellm.get_model_info`` and friends.

They keep LiteLLM's names and argument names but routerlib's rules: money is Decimal, an
unknown model raises ``UnknownModelError`` (a ``ValueError``) instead of a bare ``Exception``,
and nothing reads or writes module-level state: pass ``model_map=`` to use your own map.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..types import (
    CompletionTokensDetails,
    ModelResponse,
    PromptTokensDetails,
    TextCompletion,
    Usage,
)
from ._errors import CostUnknownWarning, UnknownModelError, caller_stacklevel
from .model_map import ModelInfo, ModelMap
from .pricing import compute_cost

__all__ = ["completion_cost", "cost_per_token", "get_model_info", "token_counter"]


def _info_or_raise(model: str, provider: str | None, model_map: ModelMap | None) -> ModelInfo:
    info = (model_map or ModelMap.default()).get(model, provider)
    if info is None:
        raise UnknownModelError(model, provider)
    return info


def get_model_info(
    model: str, custom_llm_provider: str | None = None, *, model_map: ModelMap | None = None
) -> dict[str, Any]:
    """The model's row with LiteLLM's key names; prices are Decimal. Raises ``UnknownModelError``."""
    return _info_or_raise(model, custom_llm_provider, model_map).to_dict()


def cost_per_token(
    model: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cached_tokens: int = 0,
    cache_creation_tokens: int = 0,
    reasoning_tokens: int = 0,
    *,
    custom_llm_provider: str | None = None,
    model_map: ModelMap | None = None,
) -> tuple[Decimal, Decimal]:
    """(prompt cost, completion cost) in USD for these counts, in OpenAI's meaning.

    ``prompt_tokens`` includes ``cached_tokens`` and ``cache_creation_tokens``;
    ``completion_tokens`` includes ``reasoning_tokens``. Raises ``UnknownModelError`` when
    the model, or a price these tokens need, is not in the map (a tuple cannot say "unknown").
    """
    info = _info_or_raise(model, custom_llm_provider, model_map)
    usage = Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=cached_tokens, cache_creation_tokens=cache_creation_tokens
        ),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning_tokens),
    )
    if info.bills_by_time:
        raise UnknownModelError(model, custom_llm_provider, "is priced per second, not per token")
    rates = info.rates_for(prompt_tokens)
    if (prompt_tokens and rates[0] is None) or (completion_tokens and rates[4] is None):
        raise UnknownModelError(model, custom_llm_provider, "has no per-token price for these tokens")
    cost = compute_cost(usage, info)
    assert cost.total is not None  # every needed price was checked above
    return cost.input + cost.cached_input + cost.cache_creation, cost.output + cost.reasoning


def completion_cost(
    completion_response: ModelResponse | TextCompletion | Mapping[str, Any] | None = None,
    model: str | None = None,
    *,
    custom_llm_provider: str | None = None,
    response_seconds: float | None = None,
    model_map: ModelMap | None = None,
) -> Decimal | None:
    """The cost of a response (routerlib's, or an OpenAI-shaped dict), or None when unknown.

    ``model`` overrides the response's own ``model``. The usage must be in OpenAI's form, as
    routerlib responses and OpenAI bodies are. Unknown prices warn ``CostUnknownWarning``.
    """
    if completion_response is None:
        raise TypeError("completion_cost() needs completion_response")
    if isinstance(completion_response, Mapping):
        raw_usage = completion_response.get("usage")
        usage = Usage.model_validate(raw_usage) if raw_usage is not None else None
        model = model or completion_response.get("model")
        provider = custom_llm_provider
    else:
        usage = completion_response.usage
        model = model or completion_response.model
        provider = custom_llm_provider or completion_response.provider
    if not model:
        raise ValueError("completion_cost(): the response names no model; pass model=")
    info = (model_map or ModelMap.default()).get(model, provider)
    if usage is None and (info is None or not info.bills_by_time):
        # No usage reported: a zero would be a guess, not a price.
        warnings.warn(f"cost of {model!r} is unknown (the response has no usage)", CostUnknownWarning,
                      stacklevel=caller_stacklevel())
        return None
    return compute_cost(usage or Usage(), info, response_seconds=response_seconds, model=model).total


def token_counter(*args: Any, **kwargs: Any) -> int:
    """``routerlib.tokens.token_counter``, imported on first call.

    Imported late so that ``routerlib.cost`` imports on its own and stays cheap to import.
    """
    tokens = importlib.import_module("routerlib.tokens")
    result: int = tokens.token_counter(*args, **kwargs)
    return result
