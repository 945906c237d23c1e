"""routerlib.cost.model_map: the packaged snapshot, lazy loading, lookup order, user maps, copy-on-write."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import timeit
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routerlib.cost import ModelInfo, ModelMap
from routerlib.cost.regenerate import build_snapshot, dumps_snapshot, litellm_source_path, main

PACKAGED = Path(__file__).resolve().parents[1] / "routerlib" / "cost" / "model_map.json"
ROOT = str(Path(__file__).resolve().parents[1])

# A small map in LiteLLM's own format and naming, so lookup tests do not depend on which
# models the current snapshot happens to list.
FIXTURE: dict[str, dict[str, Any]] = {
    "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
                    "output_cost_per_token": 6e-07, "cache_read_input_token_cost": 7.5e-08,
                    "max_input_tokens": 128000, "max_output_tokens": 16384, "supports_vision": True},
    "claude-3-5-sonnet-20241022": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 3e-06,
                                   "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07,
                                   "cache_creation_input_token_cost": 3.75e-06},
    "claude-3-5-sonnet-latest": {"alias_of": "claude-3-5-sonnet-20241022"},
    "broken-alias": {"alias_of": "no-such-model"},
    "gemini/gemini-1.5-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1.25e-06,
                              "output_cost_per_token": 5e-06},
    "gemini-1.5-pro": {"litellm_provider": "vertex_ai-language-models", "mode": "chat",
                       "input_cost_per_token": 1.3e-06, "output_cost_per_token": 5.1e-06},
    "azure/gpt-4o": {"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 2.5e-06,
                     "output_cost_per_token": 1e-05},
    "openrouter/anthropic/claude-3.5-sonnet": {"litellm_provider": "openrouter", "mode": "chat",
                                               "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05},
    "mistral/mistral-large-latest": {"litellm_provider": "mistral", "mode": "chat",
                                     "input_cost_per_token": 2e-06, "output_cost_per_token": 6e-06},
    "ft:gpt-4o-mini-2024-07-18": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 3e-07,
                                  "output_cost_per_token": 1.2e-06},
    "llama-3-70b": {"litellm_provider": "groq", "mode": "chat", "input_cost_per_token": 5.9e-07,
                    "output_cost_per_token": 7.9e-07},
    "groq/llama-3-8b": {"litellm_provider": "groq", "mode": "chat", "input_cost_per_token": 5e-08,
                        "output_cost_per_token": 8e-08},
    "together_ai/llama-3-8b": {"litellm_provider": "together_ai", "mode": "chat", "input_cost_per_token": 1e-07,
                               "output_cost_per_token": 1e-07},
    "sample_spec": {"litellm_provider": "one of ...", "max_tokens": "max tokens"},
}


@pytest.fixture(scope="module")
def fixture_map() -> ModelMap:
    return ModelMap.from_dict(FIXTURE)


# -- lookup order ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("model", "provider", "key"),
    [
        ("gpt-4o-mini", None, "gpt-4o-mini"),
        ("openai/gpt-4o-mini", None, "gpt-4o-mini"),
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),  # the provider prefix is not doubled
        ("anthropic/claude-3-5-sonnet-20241022", None, "claude-3-5-sonnet-20241022"),
        ("claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet-20241022"),
        ("gemini/gemini-1.5-pro", None, "gemini/gemini-1.5-pro"),
        ("gemini-1.5-pro", "gemini", "gemini/gemini-1.5-pro"),  # provider/model beats the bare row
        ("gemini-1.5-pro", None, "gemini-1.5-pro"),
        ("gemini-1.5-pro", "vertex_ai", "gemini-1.5-pro"),  # vertex_ai-language-models -> vertex_ai
        ("vertex_ai/gemini-1.5-pro", None, "gemini-1.5-pro"),
        ("gemini/gemini-1.5-pro-002", None, "gemini/gemini-1.5-pro"),  # Gemini stable version
        ("azure/gpt-4o", None, "azure/gpt-4o"),
        ("gpt-4o", "azure", "azure/gpt-4o"),
        ("openrouter/anthropic/claude-3.5-sonnet", None, "openrouter/anthropic/claude-3.5-sonnet"),
        ("anthropic/claude-3.5-sonnet", "openrouter", "openrouter/anthropic/claude-3.5-sonnet"),
        ("mistral-large-latest", None, "mistral/mistral-large-latest"),  # bare name, one provider
        ("gpt-4o-mini-2024-07-18", None, "gpt-4o-mini"),  # dated snapshot -> base model
        ("openai/gpt-4o-mini-2099-12-31", None, "gpt-4o-mini"),
        ("claude-3-5-sonnet-latest", None, "claude-3-5-sonnet-20241022"),  # alias_of
        ("ft:gpt-4o-mini-2024-07-18:my-org::abc123", None, "ft:gpt-4o-mini-2024-07-18"),
        ("GPT-4o-Mini", None, "gpt-4o-mini"),  # case-insensitive when nothing matches exactly
        ("groq/llama-3-70b", None, "llama-3-70b"),
    ],
)
def test_lookup_resolution(fixture_map: ModelMap, model: str, provider: str | None, key: str) -> None:
    info = fixture_map.get(model, provider)
    assert info is not None, (model, provider)
    assert info.key == key


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-mini", "anthropic"),  # a bare row of another provider is not this provider's price
        ("azure/my-deployment", None),
        ("my-deployment", "azure"),
        ("llama-3-8b", None),  # two providers serve it: ambiguous, so unknown
        ("broken-alias", None),
        ("no-such-model", None),
        ("sample_spec", None),
    ],
)
def test_lookup_misses(fixture_map: ModelMap, model: str, provider: str | None) -> None:
    assert fixture_map.get(model, provider) is None


def test_provider_of(fixture_map: ModelMap) -> None:
    assert fixture_map.provider_of("gpt-4o-mini") == "openai"
    assert fixture_map.provider_of("claude-3-5-sonnet-20241022") == "anthropic"
    assert fixture_map.provider_of("gemini-1.5-pro") == "vertex_ai"
    assert fixture_map.provider_of("mistral-large-latest") == "mistral"
    assert fixture_map.provider_of("llama-3-8b") is None
    assert fixture_map.provider_of("nope") is None


def test_packaged_lookups() -> None:
    m = ModelMap.default()
    mini = m.get("gpt-4o-mini")
    assert mini is not None and mini.provider == "openai" and mini.mode == "chat"
    assert mini.input_cost_per_token == Decimal("0.00000015")
    assert m.get("openai/gpt-4o-mini") is mini
    assert m.get("gpt-4o-mini", "openai") is mini
    gemini = m.get("gemini/gemini-2.5-pro")
    assert gemini is not None and gemini.provider == "gemini"
    azure = m.get("azure/gpt-4o")
    assert azure is not None and azure.provider == "azure"
    assert m.provider_of("gpt-4o-mini") == "openai"


def test_lookup_is_cached_and_fast() -> None:
    m = ModelMap.default()
    first = m.get("gpt-4o-mini", "openai")
    assert m.get("gpt-4o-mini", "openai") is first  # the same object, not a rebuilt one
    n = 20000
    per_call = min(timeit.repeat(lambda: m.get("gpt-4o-mini", "openai"), number=n, repeat=5)) / n
    assert per_call < 5e-6, f"lookup took {per_call * 1e6:.2f} us"  # ~0.12 us measured; loose for shared CI


def test_model_info_is_frozen(fixture_map: ModelMap) -> None:
    info = fixture_map.get("gpt-4o-mini")
    assert isinstance(info, ModelInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.input_cost_per_token = Decimal(0)  # type: ignore[misc]
    assert info.supports_vision and not info.supports_reasoning
    assert info.max_input_tokens == 128000


# -- packaged snapshot -------------------------------------------------------------------------

def _packaged_json() -> dict[str, object]:
    return json.loads(PACKAGED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_snapshot_header() -> None:
    data = _packaged_json()
    meta = data["__meta__"]
    assert isinstance(meta, dict)
    assert meta["licence"] == "MIT"
    assert "litellm" in meta["source"]
    assert meta["litellm_version"] and meta["generated"]
    assert meta["models"] == len(data) - 1 == len(ModelMap.default())
    assert ModelMap.default().meta["licence"] == "MIT"


def test_snapshot_prices_are_exact_plain_strings() -> None:
    for key, entry in _packaged_json().items():
        if key == "__meta__":
            continue
        assert isinstance(entry, dict)
        for name, value in entry.items():
            if "cost" in name:
                assert isinstance(value, str), (key, name, value)
                assert "e" not in value.lower(), (key, name, value)
                Decimal(value)


def test_snapshot_matches_installed_litellm() -> None:
    """The packaged file is exactly what regenerate.py makes from the LiteLLM version it names."""
    import importlib.metadata

    meta = _packaged_json()["__meta__"]
    assert isinstance(meta, dict)
    try:
        installed = importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("litellm not installed")
    if installed != meta["litellm_version"]:
        pytest.skip(f"snapshot is from litellm {meta['litellm_version']}, installed is {installed}")
    source = json.loads(litellm_source_path().read_bytes(), parse_float=Decimal)
    expected = build_snapshot(source, litellm_version=installed, generated=str(meta["generated"]))
    assert dumps_snapshot(expected) == PACKAGED.read_text(encoding="utf-8")


def test_regenerate_cli(tmp_path: Path) -> None:
    source = tmp_path / "source.json"
    mini = dict(FIXTURE["gpt-4o-mini"], unrelated=[1, 2])
    source.write_text(json.dumps({**FIXTURE, "gpt-4o-mini": mini}))
    out = tmp_path / "out.json"
    assert main(["--out", str(out), "--source", str(source), "--litellm-version", "9.9.9"]) == 0
    data = json.loads(out.read_text())
    assert data["__meta__"]["litellm_version"] == "9.9.9"
    assert data["gpt-4o-mini"]["input_cost_per_token"] == "0.00000015"
    assert "unrelated" not in data["gpt-4o-mini"] and "sample_spec" not in data
    assert ModelMap.from_file(out).get("gpt-4o-mini") == ModelMap.from_dict(FIXTURE).get("gpt-4o-mini")


# -- lazy, thread-safe loading -----------------------------------------------------------------

def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_does_not_read_the_map() -> None:
    out = _run(
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda ev, args: opened.append(str(args[0])) if ev == 'open' else None)\n"
        "import routerlib.cost as c\n"
        "before = [p for p in opened if p.endswith('model_map.json')]\n"
        "loaded_before = c.is_default_loaded()\n"
        "c.ModelMap.default().get('gpt-4o-mini')\n"
        "after = [p for p in opened if p.endswith('model_map.json')]\n"
        "print(len(before), loaded_before, len(after), c.is_default_loaded())\n"
    )
    assert out == "0 False 1 True"


def test_default_loads_once_under_threads() -> None:
    out = _run(
        "import threading\n"
        "from routerlib.cost import model_map as mm\n"
        "calls = []\n"
        "orig = mm.ModelMap._from_data.__func__\n"
        "mm.ModelMap._from_data = classmethod(lambda cls, *a, **k: calls.append(1) or orig(cls, *a, **k))\n"
        "seen = []\n"
        "barrier = threading.Barrier(8)\n"
        "def work():\n"
        "    barrier.wait()\n"
        "    seen.append(mm.ModelMap.default())\n"
        "threads = [threading.Thread(target=work) for _ in range(8)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(len(calls), len({id(m) for m in seen}))\n"
    )
    assert out == "1 1"


# -- user maps, register, merged ---------------------------------------------------------------

def test_from_file_reads_litellm_format_exactly(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"my-model": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,'
                    ' "output_cost_per_token": 0.1, "max_input_tokens": 1000, "some_future_field": {"x": 1}}}')
    info = ModelMap.from_file(path).get("my-model")
    assert info is not None
    assert info.input_cost_per_token == Decimal("0.00000015")
    assert info.output_cost_per_token == Decimal("0.1")  # never the binary 0.1000000000000000055...
    assert str(info.output_cost_per_token) == "0.1"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("[1, 2]", TypeError),
        ('{"m": 3}', TypeError),
        ('{"m": {"input_cost_per_token": "cheap"}}', ValueError),
        ('{"m": {"input_cost_per_token": -1}}', ValueError),
        ('{"m": {"max_input_tokens": 1.5}}', ValueError),
    ],
)
def test_from_file_rejects_bad_rows(tmp_path: Path, content: str, error: type[Exception]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(error):
        ModelMap.from_file(path)


def test_register_is_copy_on_write() -> None:
    base = ModelMap.default()
    before = base.get("gpt-4o-mini")
    mine = base.register("gpt-4o-mini", input_cost_per_token=0.1, output_cost_per_token="0.2", provider="openai")
    assert mine is not base
    assert base.get("gpt-4o-mini") is before  # the default is untouched
    assert ModelMap.default().get("gpt-4o-mini") is before
    info = mine.get("gpt-4o-mini")
    assert info is not None and info.input_cost_per_token == Decimal("0.1") and info.provider == "openai"
    assert mine.get("openai/gpt-4o-mini") is info
    assert base.get("my-new-model") is None
    added = base.register("my-new-model", {"litellm_provider": "vllm", "input_cost_per_token": 0}, vision=True)
    new = added.get("my-new-model")
    assert new is not None and new.supports_vision and new.input_cost_per_token == Decimal(0)
    assert base.get("my-new-model") is None


def test_register_replaces_an_aliased_target(fixture_map: ModelMap) -> None:
    assert fixture_map.get("claude-3-5-sonnet-latest") is not None  # warm the alias cache
    changed = fixture_map.register("claude-3-5-sonnet-20241022", provider="anthropic", input_cost_per_token=1,
                                   output_cost_per_token=2)
    via_alias = changed.get("claude-3-5-sonnet-latest")
    assert via_alias is not None and via_alias.input_cost_per_token == Decimal(1)
    original = fixture_map.get("claude-3-5-sonnet-latest")
    assert original is not None and original.input_cost_per_token == Decimal("0.000003")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"input_cost_per_tokens": 1}, TypeError),  # typo
        ({"input_cost_per_token": True}, TypeError),
        ({"input_cost_per_token": float("nan")}, ValueError),
        ({"input_cost_per_token": -0.5}, ValueError),
        ({"max_input_tokens": "lots"}, ValueError),
    ],
)
def test_register_rejects_bad_fields(fields: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ModelMap().register("m", **fields)


def test_merged(fixture_map: ModelMap) -> None:
    other = ModelMap.from_dict({"gpt-4o-mini": {"litellm_provider": "openai", "input_cost_per_token": 1,
                                                "output_cost_per_token": 1}, "extra": {"litellm_provider": "x"}})
    both = fixture_map.merged(other)
    merged_info = both.get("gpt-4o-mini")
    assert merged_info is not None and merged_info.input_cost_per_token == Decimal(1)
    assert both.get("azure/gpt-4o") is not None and "extra" in both
    fixture_info = fixture_map.get("gpt-4o-mini")
    assert fixture_info is not None and fixture_info.input_cost_per_token == Decimal("0.00000015")
    assert "extra" not in fixture_map


def test_long_context_tiers_and_fireworks_default() -> None:
    m = ModelMap.from_dict({
        "long": {"litellm_provider": "gemini", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                 "input_cost_per_token_above_200k_tokens": 3e-06, "cache_read_input_token_cost": 1e-07},
        "xai-long": {"litellm_provider": "xai", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                     "input_cost_per_token_above_128k_tokens": 4e-06},
        "fireworks_ai/m": {"litellm_provider": "fireworks_ai", "input_cost_per_token": 9e-07,
                           "output_cost_per_token": 9e-07},
    })
    long = m.get("long")
    assert long is not None
    assert long.rates_for(200_000)[0] == Decimal("0.000001")
    assert long.rates_for(200_001)[0] == Decimal("0.000003")
    assert long.rates_for(200_001)[1] == Decimal("1E-7")  # the base cached rate carries into the tier
    assert long.rates_for(200_001)[4] == Decimal("0.000002")
    xai = m.get("xai-long")
    assert xai is not None and xai.rates_for(128_000)[0] == Decimal("0.000004")  # xAI: reaching it counts
    fireworks = m.get("fireworks_ai/m")
    assert fireworks is not None and fireworks.cache_read_input_token_cost == Decimal("0.00000045")


