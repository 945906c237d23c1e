"""routerlib.cost.pricing: exact Decimal pricing, one price per usage bucket, never a silent zero."""

from __future__ import annotations

import timeit
import warnings
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerlib.cost import (
    CostUnknownWarning,
    ModelInfo,
    ModelMap,
    PriceOverride,
    compute_cost,
    worst_case_cost,
)
from routerlib.types import (
    CompletionTokensDetails,
    PromptTokensDetails,
    Usage,
)

D = Decimal
MAP = ModelMap.from_dict({
    # Every bucket priced differently, so a token billed in the wrong bucket shows.
    "full": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "0.000003",
             "output_cost_per_token": "0.000015", "cache_read_input_token_cost": "0.0000003",
             "cache_creation_input_token_cost": "0.00000375", "output_cost_per_reasoning_token": "0.00002",
             "input_cost_per_audio_token": "0.00004", "output_cost_per_audio_token": "0.00008",
             "max_output_tokens": 8192},
    "plain": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
              "output_cost_per_token": 6e-07, "max_output_tokens": 16384},
    "gpt-3.5-turbo": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 5e-07,
                      "output_cost_per_token": 1.5e-06},
    "free": {"litellm_provider": "ollama", "mode": "chat", "input_cost_per_token": 0, "output_cost_per_token": 0},
    "input-only": {"litellm_provider": "x", "mode": "embedding", "input_cost_per_token": 1e-07},
    "unpriced": {"litellm_provider": "x", "mode": "chat"},
    "by-time": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_second": "0.011"},
})


def _row(name: str) -> ModelInfo:
    info = MAP.get(name)
    assert info is not None
    return info


FULL = _row("full")
PLAIN = _row("plain")


def usage(prompt: int = 0, completion: int = 0, *, cached: int = 0, creation: int = 0, audio_in: int = 0,
          reasoning: int = 0, audio_out: int = 0, estimated: bool = False) -> Usage:
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached, cache_creation_tokens=creation,
                                                  audio_tokens=audio_in or None),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning, audio_tokens=audio_out or None),
        estimated=estimated,
    )


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    """Consistent canonical usage: the details are disjoint slices of the totals."""
    cached, creation, audio_in = (draw(st.integers(0, 50_000)) for _ in range(3))
    uncached = draw(st.integers(0, 200_000))
    reasoning, audio_out, text_out = (draw(st.integers(0, 20_000)) for _ in range(3))
    return usage(uncached + cached + creation + audio_in, text_out + reasoning + audio_out, cached=cached,
                 creation=creation, audio_in=audio_in, reasoning=reasoning, audio_out=audio_out)


def scaled(u: Usage, k: int) -> Usage:
    p, c = u.prompt_tokens_details, u.completion_tokens_details
    assert p is not None and c is not None
    return usage(u.prompt_tokens * k, u.completion_tokens * k, cached=p.cached_tokens * k,
                 creation=p.cache_creation_tokens * k, audio_in=(p.audio_tokens or 0) * k,
                 reasoning=c.reasoning_tokens * k, audio_out=(c.audio_tokens or 0) * k)


# -- properties --------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(usages())
def test_buckets_sum_exactly_to_total(u: Usage) -> None:
    cost = compute_cost(u, FULL)
    assert cost.total is not None
    parts = cost.input + cost.cached_input + cost.cache_creation + cost.output + cost.reasoning + cost.audio
    assert parts == cost.total
    assert cost.source == "model_map" and cost.priced_as == "full"


@settings(max_examples=300, deadline=None)
@given(usages(), st.integers(2, 5))
def test_cost_is_linear_in_tokens(u: Usage, k: int) -> None:
    one, many = compute_cost(u, FULL).total, compute_cost(scaled(u, k), FULL).total
    assert one is not None and many is not None
    assert many == k * one


@settings(max_examples=300, deadline=None)
@given(usages())
def test_each_bucket_is_priced_once_at_its_own_rate(u: Usage) -> None:
    p, c = u.prompt_tokens_details, u.completion_tokens_details
    assert p is not None and c is not None
    audio_in, audio_out = p.audio_tokens or 0, c.audio_tokens or 0
    uncached = u.prompt_tokens - p.cached_tokens - p.cache_creation_tokens - audio_in
    text_out = u.completion_tokens - c.reasoning_tokens - audio_out
    expected = (uncached * D("0.000003") + p.cached_tokens * D("0.0000003") + p.cache_creation_tokens
                * D("0.00000375") + audio_in * D("0.00004") + text_out * D("0.000015") + c.reasoning_tokens
                * D("0.00002") + audio_out * D("0.00008"))
    assert compute_cost(u, FULL).total == expected


@settings(max_examples=200, deadline=None)
@given(usages(), st.decimals(min_value=0, max_value=1, places=9), st.booleans())
def test_override_applies_to_one_call_only(u: Usage, price: Decimal, input_side: bool) -> None:
    before = compute_cost(u, PLAIN)
    override = (PriceOverride(input_cost_per_token=price) if input_side
                else PriceOverride(output_cost_per_token=price))
    overridden = compute_cost(u, PLAIN, override)
    assert overridden.source == "override"
    assert compute_cost(u, PLAIN) == before  # the next call is priced from the map again
    assert PLAIN.input_cost_per_token == D("0.00000015") and PLAIN.output_cost_per_token == D("0.0000006")
    assert MAP.get("plain") is PLAIN


# -- canonical usage per provider: cached tokens billed once, at the cached rate --------------

@pytest.mark.parametrize(
    ("provider", "raw", "canonical"),
    [
        # OpenAI: prompt_tokens already includes prompt_tokens_details.cached_tokens.
        ("openai", {"prompt_tokens": 2000, "cached_tokens": 1500, "completion_tokens": 100},
         usage(2000, 100, cached=1500)),
        # Anthropic: input_tokens excludes cache reads and writes; the adapter adds them back.
        ("anthropic", {"input_tokens": 500, "cache_read_input_tokens": 1500, "cache_creation_input_tokens": 200,
                       "output_tokens": 100}, usage(500 + 1500 + 200, 100, cached=1500, creation=200)),
        # Gemini: promptTokenCount includes cachedContentTokenCount; thoughts are apart from candidates.
        ("gemini", {"promptTokenCount": 2000, "cachedContentTokenCount": 1500, "candidatesTokenCount": 80,
                    "thoughtsTokenCount": 20}, usage(2000, 100, cached=1500, reasoning=20)),
        # DeepSeek: prompt_cache_hit_tokens + prompt_cache_miss_tokens == prompt_tokens.
        ("deepseek", {"prompt_cache_hit_tokens": 1500, "prompt_cache_miss_tokens": 500, "completion_tokens": 100},
         usage(2000, 100, cached=1500)),
    ],
)
def test_cached_tokens_billed_once_at_cached_rate(provider: str, raw: dict[str, int], canonical: Usage) -> None:
    cost = compute_cost(canonical, FULL)
    creation = canonical.cache_creation_tokens
    uncached = canonical.prompt_tokens - 1500 - creation
    assert cost.cached_input == 1500 * D("0.0000003")
    assert cost.input == uncached * D("0.000003")  # not prompt_tokens * input: no double billing
    assert cost.cache_creation == creation * D("0.00000375")
    double_billed = canonical.prompt_tokens * D("0.000003") + 1500 * D("0.0000003")
    assert cost.input + cost.cached_input < double_billed


def test_cache_read_falls_back_to_input_price_and_zero_is_a_price() -> None:
    m = ModelMap.from_dict({
        "no-cache-price": {"litellm_provider": "x", "input_cost_per_token": 1, "output_cost_per_token": 1},
        "free-cache": {"litellm_provider": "x", "input_cost_per_token": 1, "output_cost_per_token": 1,
                       "cache_read_input_token_cost": 0},
    })
    u = usage(10, 0, cached=4)
    assert compute_cost(u, m.get("no-cache-price")).total == D(10)
    assert compute_cost(u, m.get("free-cache")).total == D(6)


# -- exactness ---------------------------------------------------------------------------------

def test_no_float_artefacts() -> None:
    # In floats: 75802 * 5e-07 + 3 * 1.5e-06 == 0.037905499999999995 (what LiteLLM reports).
    assert 75802 * 5e-07 + 3 * 1.5e-06 != 0.0379055
    cost = compute_cost(usage(75802, 3), MAP.get("gpt-3.5-turbo"))
    assert cost.total == D("0.0379055")
    assert isinstance(cost.total, Decimal)


def test_price_override_converts_floats_through_str() -> None:
    override = PriceOverride.from_params(input_cost_per_token=0.1, output_cost_per_token=1)
    assert override is not None
    assert override.input_cost_per_token == D("0.1") and str(override.input_cost_per_token) == "0.1"
    assert PriceOverride.from_params() is None
    assert PriceOverride(input_cost_per_token="0.5").input_cost_per_token == D("0.5")  # type: ignore[arg-type]
    for bad in (-1, float("inf"), "NaN", True):
        with pytest.raises((ValueError, TypeError)):
            PriceOverride.from_params(input_cost_per_token=bad)


# -- overrides and per-second prices -----------------------------------------------------------

def test_input_override_replaces_the_input_side_only() -> None:
    u = usage(1000, 100, cached=400, reasoning=10)
    cost = compute_cost(u, FULL, PriceOverride.from_params(input_cost_per_token="0.000001"))
    assert cost.source == "override" and cost.priced_as == "full"
    assert cost.input == 600 * D("0.000001") and cost.cached_input == 400 * D("0.000001")
    assert cost.output == 90 * D("0.000015") and cost.reasoning == 10 * D("0.00002")  # from the map


def test_full_override_prices_an_unknown_model() -> None:
    override = PriceOverride.from_params(input_cost_per_token="0.000001", output_cost_per_token="0.000002")
    cost = compute_cost(usage(1000, 100), None, override)
    assert cost.total == D("0.0012") and cost.source == "override" and cost.priced_as is None


def test_a_zero_per_second_rate_does_not_hide_the_other() -> None:
    override = PriceOverride.from_params(input_cost_per_second=0.0, output_cost_per_second=1.0)
    assert compute_cost(Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2), None, override,
                        response_seconds=0.6).total == D("0.6")


def test_per_second_prices() -> None:
    override = PriceOverride.from_params(input_cost_per_second=0.01, output_cost_per_second="0.02")
    cost = compute_cost(usage(1000, 100), PLAIN, override, response_seconds=1.5)
    assert cost.total == D("0.015") and cost.time == D("0.015") and cost.source == "per_second"  # one rate
    output_only = PriceOverride.from_params(output_cost_per_second="0.02")
    assert compute_cost(usage(1, 1), PLAIN, output_only, response_seconds=0.1).total == D("0.002")
    by_time = MAP.get("by-time")
    map_cost = compute_cost(usage(10, 10), by_time, response_seconds=2)
    assert map_cost.total == D("0.022") and map_cost.source == "per_second" and map_cost.priced_as == "by-time"
    with pytest.warns(CostUnknownWarning, match="response time"):
        assert compute_cost(usage(10, 10), by_time).total is None


def test_audio_and_reasoning_rates() -> None:
    cost = compute_cost(usage(100, 100, audio_in=30, reasoning=20, audio_out=10), FULL)
    assert cost.audio == 30 * D("0.00004") + 10 * D("0.00008")
    assert cost.reasoning == 20 * D("0.00002")
    assert cost.output == 70 * D("0.000015")
    # Without audio or reasoning prices those tokens cost their text price.
    plain = compute_cost(usage(100, 100, audio_in=30, reasoning=20, audio_out=10), PLAIN)
    assert plain.total == 100 * D("0.00000015") + 100 * D("0.0000006")


def test_estimated_flag() -> None:
    assert compute_cost(usage(10, 10, estimated=True), PLAIN).estimated
    assert compute_cost(usage(10, 10), PLAIN, estimated=True).estimated
    assert not compute_cost(usage(10, 10), PLAIN).estimated


def test_zero_prices_are_known_zero() -> None:
    cost = compute_cost(usage(1000, 100), MAP.get("free"))
    assert cost.total == 0 and cost.source == "model_map"


# -- unknown prices: None and a warning, never a silent zero ----------------------------------

@pytest.mark.parametrize(
    ("info", "u"),
    [
        (None, usage(10, 10)),
        (None, usage(0, 0)),
        (MAP.get("unpriced"), usage(10, 10)),
        (MAP.get("input-only"), usage(10, 10)),  # output tokens but no output price
    ],
)
def test_unknown_price_is_none_with_warning(info: ModelInfo | None, u: Usage) -> None:
    with pytest.warns(CostUnknownWarning):
        cost = compute_cost(u, info, model="some-model")
    assert cost.total is None and cost.source == "unknown"


def test_input_only_model_prices_input_only_calls() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compute_cost(usage(10, 0), MAP.get("input-only")).total == D("0.000001")


# -- worst case, for budget reservations -------------------------------------------------------

def test_worst_case_cost() -> None:
    # Dearest input rate (audio 0.00004) for every prompt token, dearest output (audio 0.00008).
    assert worst_case_cost(FULL, None, 1000, 100) == 1000 * D("0.00004") + 100 * D("0.00008")
    assert worst_case_cost(PLAIN, None, 1000, None) == 1000 * D("0.00000015") + 16384 * D("0.0000006")
    assert worst_case_cost(None, None, 1000, 100) is None
    assert worst_case_cost(MAP.get("unpriced"), None, 10, 10) is None
    assert worst_case_cost(MAP.get("by-time"), None, 10, 10) is None
    override = PriceOverride.from_params(input_cost_per_token=1, output_cost_per_token=2)
    assert worst_case_cost(None, override, 10, 5) == D(20)
    assert worst_case_cost(None, override, 10, None) is None  # no bound on the output


@settings(max_examples=200, deadline=None)
@given(usages())
def test_worst_case_bounds_the_real_cost(u: Usage) -> None:
    bound = worst_case_cost(FULL, None, u.prompt_tokens, u.completion_tokens)
    real = compute_cost(u, FULL).total
    assert bound is not None and real is not None and real <= bound


# -- speed -------------------------------------------------------------------------------------

def test_compute_cost_speed() -> None:
    u = usage(1000, 500, cached=400, reasoning=100)
    n = 5000
    per_call = min(timeit.repeat(lambda: compute_cost(u, PLAIN), number=n, repeat=5)) / n
    assert per_call < 50e-6, f"compute_cost took {per_call * 1e6:.1f} us"  # ~4 us measured; loose for CI
