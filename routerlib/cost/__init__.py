"""Model prices and capabilities, and exact (Decimal) pricing of calls.

- ``ModelMap``: the packaged snapshot of LiteLLM's model map (read on first use, never at
  import), or a map of your own; ``register``/``merged`` return new maps.
- ``ModelInfo``: one model's limits, prices and capability flags.
- ``compute_cost(usage, info, override)``: a ``Cost`` priced once per usage bucket;
  ``worst_case_cost`` bounds a call for budget reservations.
- ``PriceOverride``: per-call prices that replace the map's.
- LiteLLM-named helpers, returning what LiteLLM returns (floats; ``exact=True`` for Decimals):
  ``get_model_info``, ``cost_per_token``, ``completion_cost``, ``token_counter``; and
  ``model_cost`` (a read-only view), ``register_model``, ``get_max_tokens``, ``supports_*``.

An unknown price is ``Cost.total is None`` plus a ``CostUnknownWarning``, never a zero.
See docs/cost.md for the rules and for where routerlib and LiteLLM differ.
"""

from __future__ import annotations

from ._capabilities import (
    ModelCost,
    get_max_tokens,
    model_cost,
    register_model,
    supports,
    supports_audio_input,
    supports_audio_output,
    supports_box_questions,
    supports_computer_use,
    supports_continuation,
    supports_function_calling,
    supports_httpx_timeout,
    supports_parallel_function_calling,
    supports_pdf_input,
    supports_prompt_caching,
    supports_reasoning,
    supports_response_schema,
    supports_system_messages,
    supports_tool_choice,
    supports_tool_search,
    supports_url_context,
    supports_video_input,
    supports_vision,
    supports_web_search,
)
from ._compat import completion_cost, cost_per_token, get_model_info, token_counter
from ._errors import CostUnknownWarning, UnknownModelError
from .model_map import ModelInfo, ModelMap, is_default_loaded
from .pricing import PriceOverride, compute_cost, worst_case_cost

__all__ = [
    "CostUnknownWarning",
    "ModelCost",
    "ModelInfo",
    "ModelMap",
    "PriceOverride",
    "UnknownModelError",
    "completion_cost",
    "compute_cost",
    "cost_per_token",
    "get_max_tokens",
    "get_model_info",
    "is_default_loaded",
    "model_cost",
    "register_model",
    "supports",
    "supports_audio_input",
    "supports_audio_output",
    "supports_box_questions",
    "supports_computer_use",
    "supports_continuation",
    "supports_function_calling",
    "supports_httpx_timeout",
    "supports_parallel_function_calling",
    "supports_pdf_input",
    "supports_prompt_caching",
    "supports_reasoning",
    "supports_response_schema",
    "supports_system_messages",
    "supports_tool_choice",
    "supports_tool_search",
    "supports_url_context",
    "supports_video_input",
    "supports_vision",
    "supports_web_search",
    "token_counter",
    "worst_case_cost",
]
