"""The refreshed price map: checked before it is written, written atomically, preferred by
``ModelMap.default()`` when sound, and replaced by the packaged map (with one warning) when damaged."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routerlib.cost import ModelMap, model_map
from routerlib.cost.cache import (
    FORMAT,
    PriceCacheError,
    PriceCacheWarning,
    cache_dir,
    cache_path,
    parse_source,
    read_cache,
    write_cache,
)
from routerlib.cost.cache_build import build_cache

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {
    "sample_spec": {"input_cost_per_token": 0},
    "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
                    "output_cost_per_token": 6e-07, "max_input_tokens": 128000, "supports_vision": True,
                    "some_new_field": "kept out"},
    "acme/new-model": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 3e-06,
                       "output_cost_per_token": 1.2e-05},
}


def source_bytes(data: Any = SOURCE) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private cache dir, and a default map read afresh before and after the test."""
    monkeypatch.setenv("ROUTERLIB_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ROUTERLIB_NO_PRICE_CACHE", raising=False)
    model_map._forget_default()
    yield tmp_path / "model_prices.json"
    model_map._forget_default()


def test_cache_dir_rules(tmp_path: Path) -> None:
    assert cache_dir({"ROUTERLIB_CACHE_DIR": str(tmp_path)}) == tmp_path
    if sys.platform.startswith("linux"):
        assert cache_dir({"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/routerlib")
        assert cache_dir({"XDG_CACHE_HOME": "relative/ignored"}) == Path.home() / ".cache" / "routerlib"
        assert cache_dir({}) == Path.home() / ".cache" / "routerlib"
    assert cache_path({"ROUTERLIB_CACHE_DIR": str(tmp_path)}) == tmp_path / "model_prices.json"


def test_build_keeps_exact_prices_and_the_provenance() -> None:
    content = build_cache(parse_source(source_bytes(), "src.json"), origin="https://example.test/p.json",
                          last_modified="Tue, 01 Dec 2026 10:00:00 GMT")
    data = json.loads(content)
    meta = data["__meta__"]
    assert meta["format"] == FORMAT and meta["source"] == "https://example.test/p.json"
    assert meta["models"] == 2 and meta["priced_models"] == 2 and meta["fetched"].endswith("Z")
    assert meta["last_modified"] == "Tue, 01 Dec 2026 10:00:00 GMT"
    assert data["gpt-4o-mini"]["input_cost_per_token"] == "0.00000015"  # exact text, never a float
    assert "some_new_field" not in data["gpt-4o-mini"] and "sample_spec" not in data
    assert content.decode().splitlines()[2:] == [  # after "{" and the header: one line per model, then "}"
        '"acme/new-model":{"input_cost_per_token":"0.000003","litellm_provider":"openai","mode":"chat",'
        '"output_cost_per_token":"0.000012"},',
        '"gpt-4o-mini":{"input_cost_per_token":"0.00000015","litellm_provider":"openai","max_input_tokens":128000,'
        '"mode":"chat","output_cost_per_token":"0.0000006","supports_vision":true}',
        "}",
    ]


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "is not valid JSON"),
    (b"[1, 2]", "must hold a JSON object"),
    (b"\xff\xfe", "is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
])
def test_unreadable_sources_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(PriceCacheError, match=message):
        parse_source(content, "src.json")


@pytest.mark.parametrize(("data", "message"), [
    ({"m": {"input_cost_per_token": "cheap"}}, "input_cost_per_token"),
    ({"m": {"input_cost_per_token": -1}}, "input_cost_per_token"),
    ({"m": {"max_input_tokens": 1.5, "input_cost_per_token": 1}}, "max_input_tokens must be an integer"),
    ({"m": "not a row"}, "has no model with a price"),  # skipped, as regenerate.py skips it
    ({"m": {"mode": "chat"}}, "has no model with a price"),
    ({}, "has no model with a price"),
    ({"evil\x1b[2J": {"input_cost_per_token": 1}}, "control characters"),
    ({"m": {"input_cost_per_token": 1, "litellm_provider": "x\x1b]0;pwned\x07"}}, "control characters"),
])
def test_bad_maps_are_refused_before_anything_is_written(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PriceCacheError, match=message):
        build_cache(parse_source(source_bytes(data), "src.json"), origin="src.json")


def test_write_is_atomic_and_read_checks_the_digest(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model_prices.json"
    content = build_cache(parse_source(source_bytes(), "s"), origin="s")
    assert write_cache(content, target) == target
    assert read_cache(target) == json.loads(content)
    assert [p.name for p in target.parent.iterdir()] == ["model_prices.json"]  # no temporary file left
    damaged = content.replace(b'"0.0000006"', b'"0.0000001"')  # still valid JSON, one price changed
    target.write_bytes(damaged)
    with pytest.raises(PriceCacheError, match="do not match the digest"):
        read_cache(target)
    target.write_bytes(content[: len(content) // 2])
    with pytest.raises(PriceCacheError, match="damaged"):
        read_cache(target)
    with pytest.raises(PriceCacheError, match="do not match the digest"):
        write_cache(damaged, target)  # never writes what it would refuse to read
    assert read_cache(tmp_path / "absent.json") is None


def test_default_prefers_a_sound_cache(cache_env: Path) -> None:
    packaged = ModelMap.packaged()
    write_cache(build_cache(parse_source(source_bytes(), "s"), origin="s"), cache_env)
    refreshed = ModelMap.default()
    assert refreshed is not packaged and len(refreshed) == 2 and refreshed.meta["format"] == FORMAT
    info = refreshed.get("acme/new-model")
    assert info is not None and info.input_cost_per_token == Decimal("0.000003")
    assert ModelMap.packaged() is packaged and "acme/new-model" not in packaged


def test_default_without_cache_is_the_packaged_map(cache_env: Path) -> None:
    assert ModelMap.default() is ModelMap.packaged()


def test_no_price_cache_env_ignores_the_cache(cache_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cache(build_cache(parse_source(source_bytes(), "s"), origin="s"), cache_env)
    monkeypatch.setenv("ROUTERLIB_NO_PRICE_CACHE", "1")
    assert ModelMap.default() is ModelMap.packaged()


def test_a_damaged_cache_falls_back_with_one_warning(cache_env: Path) -> None:
    cache_env.write_bytes(b'{\n"__meta__":{"format":"routerlib-model-map/1","sha256":"00"},\n"m":{}\n}\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = ModelMap.default()
        second = ModelMap.default()
    assert first is second is ModelMap.packaged()
    assert [w.category for w in caught] == [PriceCacheWarning]
    assert str(cache_env) in str(caught[0].message) and "routerlib prices update" in str(caught[0].message)


def test_a_client_prices_calls_with_the_refreshed_map(cache_env: Path) -> None:
    """In a fresh process, as a user would see it: the new model is known and priced."""
    write_cache(build_cache(parse_source(source_bytes(), "s"), origin="s"), cache_env)
    code = (
        "import routerlib\n"
        "r = routerlib.Client().completion('openai/acme/new-model', [{'role': 'user', 'content': 'hi'}],\n"
        "    mock_response='hello there', api_key='k')\n"
        "print(r.cost.priced_as, r.cost.input / r.usage.prompt_tokens)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["acme/new-model", "0.000003"]
