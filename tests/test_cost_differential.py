"""routerlib's prices against LiteLLM's own cost_per_token, model by model (see docs/cost.md).

Both sides read the same data (routerlib loads the installed LiteLLM's map file with
``ModelMap.from_file``) and get the same model name, provider and usage. Every chat model
with token prices is compared on several usages; they must agree within 1e-12 relative.
Where routerlib differs on purpose, a test below asserts the difference explicitly: each is
listed, with its reason, in docs/cost.md under "Differences from LiteLLM".
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from routerlib.cost import ModelMap, compute_cost
from routerlib.cost.regenerate import litellm_source_path
from routerlib.types import CompletionTokensDetails, PromptTokensDetails, Usage

REL = Decimal("1e-12")
#: Monday 02:00 UTC: outside every off-peak window in LiteLLM's map (see test_off_peak_pricing).
PEAK = datetime(2025, 1, 6, 2, 0, tzinfo=timezone.utc)
OFF_PEAK = datetime(2025, 1, 6, 12, 0, tzinfo=timezone.utc)

#: name -> (prompt, completion, cached, cache creation, reasoning, prompt audio, completion audio)
USAGES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "plain": (1000, 500, 0, 0, 0, 0, 0),
    "cached": (1000, 500, 400, 0, 0, 0, 0),
    "cache_write": (1000, 500, 300, 200, 0, 0, 0),
    "reasoning": (1000, 500, 0, 0, 200, 0, 0),
    "audio": (1000, 500, 100, 0, 0, 200, 100),
    "long_context": (300_000, 1000, 100_000, 0, 200, 0, 0),
    "at_200k": (200_000, 10, 5, 0, 0, 0, 0),
}


@pytest.fixture(scope="module")
def litellm() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: never fetch the map
        module = pytest.importorskip("litellm")
        yield module


@pytest.fixture(scope="module")
def raw_rows() -> dict[str, Any]:
    return json.loads(litellm_source_path().read_bytes())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def same_map() -> ModelMap:
    return ModelMap.from_file(litellm_source_path())


def _pinned(litellm: Any, moment: datetime) -> AbstractContextManager[object]:
    try:
        from litellm._internal_context import pinned_billing_time
    except ImportError:  # an older LiteLLM without off-peak pricing needs no pinning
        return nullcontext()
    return pinned_billing_time(moment)


def ours_usage(spec: tuple[int, ...]) -> Usage:
    prompt, completion, cached, creation, reasoning, audio_in, audio_out = spec
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached, cache_creation_tokens=creation,
                                                  audio_tokens=audio_in or None),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning, audio_tokens=audio_out or None),
    )


def their_usage(litellm: Any, spec: tuple[int, ...], **prompt_extra: Any) -> Any:
    from litellm.types.utils import Usage as LiteLLMUsage

    prompt, completion, cached, creation, reasoning, audio_in, audio_out = spec
    details: dict[str, Any] = {"cached_tokens": cached, **prompt_extra}
    if creation:
        details["cache_creation_tokens"] = creation
    if audio_in:
        details["audio_tokens"] = audio_in
    return LiteLLMUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                        prompt_tokens_details=details,
                        completion_tokens_details={"reasoning_tokens": reasoning, "audio_tokens": audio_out})


def theirs(litellm: Any, model: str, provider: str | None, usage: Any, **kw: Any) -> float:
    prompt, completion = litellm.cost_per_token(model=model, custom_llm_provider=provider, usage_object=usage, **kw)
    return float(prompt + completion)


def ours(same_map: ModelMap, model: str, provider: str | None, spec: tuple[int, ...]) -> Decimal:
    total = compute_cost(ours_usage(spec), same_map.get(model, provider)).total
    assert total is not None, model
    return total


def chat_models(same_map: ModelMap) -> list[tuple[str, str]]:
    """Every chat row with token prices, as (key, LiteLLM's provider label)."""
    rows = []
    for key in same_map:
        info = same_map.get(key)
        if info is None or info.key != key or info.mode != "chat" or info.litellm_provider is None:
            continue
        rates = info.rates_for(1000)
        if rates[0] is not None and rates[4] is not None:
            rows.append((key, info.litellm_provider))
    return rows


def _agree(mine: Decimal, their: float) -> bool:
    return abs(mine - Decimal(their)) <= REL * max(abs(mine), Decimal("1e-30"))


def test_every_chat_model_agrees_with_litellm(litellm: Any, same_map: ModelMap) -> None:
    models = chat_models(same_map)
    assert len(models) >= 200
    mismatches, exact, artefacts = [], 0, 0
    with _pinned(litellm, PEAK), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LiteLLM's own deprecation chatter
        for key, provider in models:
            for name, spec in USAGES.items():
                mine = ours(same_map, key, provider, spec)
                their = theirs(litellm, key, provider, their_usage(litellm, spec))
                if not _agree(mine, their):
                    mismatches.append((key, provider, name, str(mine), their))
                elif Decimal(repr(their)) == mine:
                    exact += 1
                else:
                    artefacts += 1  # equal within 1e-12: LiteLLM's float rounding (docs/cost.md, 1)
    assert not mismatches, f"{len(mismatches)} differences not listed in docs/cost.md: {mismatches[:20]}"
    assert exact > 0 and artefacts > 0
    print(f"\n{len(models)} chat models x {len(USAGES)} usages: {exact} exact, {artefacts} float artefacts")


# -- the listed differences, each asserted ----------------------------------------------------

def test_1_float_artefacts(litellm: Any, same_map: ModelMap) -> None:
    """LiteLLM sums binary floats; routerlib sums exact decimals."""
    info = same_map.get("gpt-3.5-turbo", "openai")
    prices = (Decimal("5E-7"), Decimal("0.0000015"))
    if info is None or (info.input_cost_per_token, info.output_cost_per_token) != prices:
        pytest.skip("gpt-3.5-turbo's prices changed; the sweep above still counts the artefacts")
    spec = (75802, 3, 0, 0, 0, 0, 0)
    assert ours(same_map, "gpt-3.5-turbo", "openai", spec) == Decimal("0.0379055")
    their = theirs(litellm, "gpt-3.5-turbo", "openai", their_usage(litellm, spec))
    assert repr(their) == "0.037905499999999995"


def test_2_off_peak_pricing_is_not_applied(litellm: Any, same_map: ModelMap, raw_rows: dict[str, Any]) -> None:
    """LiteLLM prices DeepSeek's off-peak hours by the clock; routerlib charges the standard rate."""
    if "off_peak_pricing" not in raw_rows.get("deepseek-flash", {}):
        pytest.skip("no off-peak row in this LiteLLM version")
    spec = USAGES["plain"]
    with _pinned(litellm, PEAK):
        peak = theirs(litellm, "deepseek-flash", "deepseek", their_usage(litellm, spec))
    with _pinned(litellm, OFF_PEAK):
        off_peak = theirs(litellm, "deepseek-flash", "deepseek", their_usage(litellm, spec))
    mine = ours(same_map, "deepseek-flash", "deepseek", spec)
    assert _agree(mine, peak)
    assert off_peak < peak


def test_3_service_tiers_are_not_applied(litellm: Any, same_map: ModelMap) -> None:
    """LiteLLM prices OpenAI's priority/flex tiers when told the tier; routerlib's Usage has no tier."""
    spec = USAGES["plain"]
    standard = theirs(litellm, "gpt-4o-mini", "openai", their_usage(litellm, spec))
    priority = theirs(litellm, "gpt-4o-mini", "openai", their_usage(litellm, spec), service_tier="priority")
    mine = ours(same_map, "gpt-4o-mini", "openai", spec)
    assert _agree(mine, standard)
    assert priority > standard


def test_4_regional_uplift_is_not_applied(litellm: Any, same_map: ModelMap) -> None:
    """LiteLLM multiplies by a data-residency uplift when told the region; routerlib does not know it."""
    spec = USAGES["plain"]
    standard = theirs(litellm, "gpt-4o-mini", "openai", their_usage(litellm, spec))
    fedramp = theirs(litellm, "gpt-4o-mini", "openai", their_usage(litellm, spec), data_residency="fedramp")
    assert _agree(ours(same_map, "gpt-4o-mini", "openai", spec), standard)
    assert fedramp > standard


def test_5_cache_write_lifetimes_are_not_split(litellm: Any, same_map: ModelMap) -> None:
    """Anthropic's 1-hour cache writes cost more than 5-minute ones; Usage carries one write count."""
    spec = (1000, 0, 0, 1000, 0, 0, 0)
    one_hour = their_usage(litellm, spec, cache_creation_token_details={"ephemeral_1h_input_tokens": 1000})
    their = theirs(litellm, "claude-sonnet-4-5", "anthropic", one_hour)
    five_minutes = theirs(litellm, "claude-sonnet-4-5", "anthropic", their_usage(litellm, spec))
    mine = ours(same_map, "claude-sonnet-4-5", "anthropic", spec)
    assert _agree(mine, five_minutes)
    assert their > five_minutes


def test_per_second_rows_bill_one_rate(litellm: Any, same_map: ModelMap) -> None:
    """Per-second rows are priced at one rate (input, else output), as LiteLLM does: not the sum."""
    info = same_map.get("azure_ai/whisper")
    if info is None or info.input_cost_per_second is None or info.output_cost_per_second is None:
        pytest.skip("no row with both per-second rates")
    their, _ = litellm.cost_per_token(model="azure_ai/whisper", custom_llm_provider="azure_ai",
                                      response_time_ms=10_000)
    mine = compute_cost(ours_usage((0, 0, 0, 0, 0, 0, 0)), info, response_seconds=10).total
    assert mine == 10 * info.input_cost_per_second
    assert _agree(mine, their)
