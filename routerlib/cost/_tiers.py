"""Long-context price tiers: the rates a call pays once its prompt passes a size.

LiteLLM's map states them two ways, and both become one form here, an ascending tuple of
``(threshold, Rates)`` where a tier applies when ``prompt_tokens > threshold``:

- ``<price>_above_<N>[k]_tokens`` keys (Gemini Pro above 200k, GPT-5.x above 272k, Claude's
  1M-context models above 200k): each threshold the prompt passes replaces the prices it
  names; lower tiers and the base price supply the rest (LiteLLM's ``_get_token_base_cost``).
- a ``tiered_pricing`` table of ranges (Alibaba's Qwen models, Volcengine): the one range the
  prompt falls in prices every token of the call, all or nothing (LiteLLM's
  ``select_tier_for_input``: ``start < prompt_tokens <= end``, above the last range -> the last).

Either way the whole call moves to the tier: this is how the providers bill (not slice by
slice like income tax), and it is what LiteLLM computes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ._fields import INCLUSIVE_TIER_PROVIDERS, TABLE_PRICE_FIELDS, Rates, as_decimal, bucket_rates, tier_field

__all__ = ["Tiers", "build_tiers"]

Tiers = tuple[tuple[int, Rates], ...]


def build_tiers(key: str, entry: Mapping[str, Any], base: Mapping[str, Any]) -> Tiers:
    """The row's tiers (empty for most rows); ``base`` holds its already converted base prices."""
    table = entry.get("tiered_pricing")
    if isinstance(table, list) and table:
        return _table_tiers(key, table, base)
    return _threshold_tiers(key, entry, base)


def _threshold_tiers(key: str, entry: Mapping[str, Any], base: Mapping[str, Any]) -> Tiers:
    by_threshold: dict[int, dict[str, Decimal]] = {}
    for name, value in entry.items():
        parsed = tier_field(name)
        if parsed is not None and value is not None:
            price = as_decimal(value, what=f"model map entry {key!r}: {name}")
            by_threshold.setdefault(parsed[1], {})[parsed[0]] = price
    current = dict(base)
    # xAI bills the higher tier once the prompt reaches the threshold: shift it by one token.
    shift = 1 if base["provider"] in INCLUSIVE_TIER_PROVIDERS else 0
    tiers = []
    for threshold in sorted(by_threshold):
        current.update(by_threshold[threshold])
        tiers.append((threshold - shift, _rates(current, current["output_cost_per_reasoning_token"])))
    return tuple(tiers)


def _table_tiers(key: str, table: list[Any], base: Mapping[str, Any]) -> Tiers:
    ranged: list[tuple[int, dict[str, Any]]] = []
    for tier in table:
        bounds = tier.get("range") if isinstance(tier, Mapping) else None
        if not isinstance(tier, Mapping) or tier.get("input_cost_per_token") is None:
            continue  # a range without a token price (a search tier) prices nothing here
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ValueError(f"model map entry {key!r}: a tiered_pricing range must be [start, end]")
        prices = {
            name: as_decimal(tier[name], what=f"model map entry {key!r}: tiered_pricing {name}")
            for name in TABLE_PRICE_FIELDS
            if tier.get(name) is not None
        }
        ranged.append((int(bounds[0]), prices))
    tiers = []
    for start, prices in sorted(ranged, key=lambda r: r[0]):
        current = dict(base)
        # A range names its own input price; cached input and cache writes follow it, not the
        # base row's, so a call never mixes tiers. Without an output price the row's own applies.
        current.update(cache_read_input_token_cost=None, cache_creation_input_token_cost=None)
        current.update(prices)
        if "output_cost_per_reasoning_token" in prices:
            reasoning = prices["output_cost_per_reasoning_token"]
        elif "output_cost_per_token" in prices:
            reasoning = None  # follows the range's output price
        else:
            reasoning = base["output_cost_per_reasoning_token"]
        tiers.append((start, _rates(current, reasoning)))
    return tuple(tiers)


def _rates(prices: Mapping[str, Any], reasoning: Decimal | None) -> Rates:
    return bucket_rates(
        prices["input_cost_per_token"],
        prices["output_cost_per_token"],
        prices["cache_read_input_token_cost"],
        prices["cache_creation_input_token_cost"],
        prices["input_cost_per_audio_token"],
        reasoning,
        prices["output_cost_per_audio_token"],
    )
