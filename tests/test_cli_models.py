"""``routerlib models`` and ``routerlib price``: the map's rows and dates, and exact request costs that equal
``compute_cost``; an unknown model is bad usage with suggestions."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from cli_helpers import assert_user_error, run_cli

from routerlib.cli import main
from routerlib.cost import ModelMap, compute_cost
from routerlib.cost.cache import parse_source, write_cache
from routerlib.cost.cache_build import build_cache
from routerlib.types import CompletionTokensDetails, PromptTokensDetails, Usage


def test_models_lists_matching_rows_with_prices_per_million(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "gpt-4o-mini", "--provider", "openai", "--mode", "chat", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_name = {r["model"]: r for r in rows}
    assert "gpt-4o-mini" in by_name and all("gpt-4o-mini" in name for name in by_name)
    info = ModelMap.packaged().get("gpt-4o-mini")
    assert info is not None and info.input_cost_per_token is not None and info.output_cost_per_token is not None
    assert Decimal(by_name["gpt-4o-mini"]["input_per_1m"]) == info.input_cost_per_token * 1_000_000
    assert Decimal(by_name["gpt-4o-mini"]["output_per_1m"]) == info.output_cost_per_token * 1_000_000
    assert by_name["gpt-4o-mini"]["max_input_tokens"] == str(info.max_input_tokens)


def test_models_words_all_match_in_any_case() -> None:
    result = run_cli("models", "CLAUDE", "haiku")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("price map: packaged snapshot of ") and "USD per 1M tokens" in lines[0]
    names = [line.split()[0] for line in lines[2:]]
    assert names and all("claude" in n.lower() and "haiku" in n.lower() for n in names)


def test_models_json_carries_the_map_header(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "gemini-2.5-flash", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["map"]["generated"] == ModelMap.packaged().meta["generated"]
    row = next(r for r in data["models"] if r["model"] == "gemini-2.5-flash")
    assert Decimal(row["input_cost_per_token"]) == ModelMap.packaged().get("gemini-2.5-flash").input_cost_per_token  # type: ignore[union-attr]


def test_models_shows_the_refreshed_maps_source_and_date(tmp_path: Path) -> None:
    source = {"acme/fresh": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2e-06,
                             "output_cost_per_token": 8e-06}}
    content = build_cache(parse_source(json.dumps(source).encode(), "s"), origin="https://prices.example/p.json")
    write_cache(content, tmp_path / "model_prices.json")
    result = run_cli("models", "fresh", env={"ROUTERLIB_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    fetched = json.loads(content)["__meta__"]["fetched"]
    assert result.stdout.splitlines()[0] == (f"price map: refreshed {fetched} from https://prices.example/p.json "
                                             "(1 model); USD per 1M tokens")
    assert result.stdout.splitlines()[2].split() == ["acme/fresh", "openai", "chat", "2", "8"]


def test_no_match_is_a_failure_in_one_line() -> None:
    assert_user_error(run_cli("models", "no-such-model-anywhere"), 1, "no model matches 'no-such-model-anywhere'")


@pytest.mark.parametrize(("model", "prompt", "completion", "cached", "write", "reasoning"), [
    ("gpt-4o-mini", 1200, 300, 1000, 0, 0),
    ("anthropic/claude-sonnet-4-5", 50_000, 800, 40_000, 5_000, 0),
    ("o3-mini", 2000, 4000, 0, 0, 3500),
    ("gemini/gemini-2.5-pro", 300_000, 1000, 0, 0, 0),  # past its long-context threshold
])
def test_price_is_compute_cost_exactly(model: str, prompt: int, completion: int, cached: int, write: int,
                                       reasoning: int, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["price", model, "--prompt", str(prompt), "--completion", str(completion), "--cached", str(cached),
            "--cache-write", str(write), "--reasoning", str(reasoning), "--format", "json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                  prompt_tokens_details=PromptTokensDetails(cached_tokens=cached, cache_creation_tokens=write),
                  completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning))
    expected = compute_cost(usage, ModelMap.default().get(model))
    assert expected.total is not None and Decimal(data["total"]) == expected.total
    for bucket, amount in data["cost"].items():
        assert Decimal(amount) == getattr(expected, bucket)


def test_price_table() -> None:
    result = run_cli("price", "gpt-4o-mini", "--prompt", "1_200", "--completion", "300", "--cached", "1000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gpt-4o-mini · price map: packaged snapshot of")
    assert lines[2].split() == ["input", "200", "0.15", "0.00003"]
    assert lines[3].split() == ["cached_input", "1,000", "0.075", "0.000075"]
    assert lines[-1].split() == ["total", "1,500", "0.000285"]


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["gpt-4o-minii", "--prompt", "1", "--completion", "1"], 2, "did you mean gpt-4o-mini"),
    (["no/such-model-xyz", "--prompt", "1", "--completion", "1"], 2, "unknown model 'no/such-model-xyz'"),
    (["gpt-4o", "--prompt", "10", "--completion", "1", "--cached", "11"], 2, "--cached plus --cache-write"),
    (["o3-mini", "--prompt", "10", "--completion", "1", "--reasoning", "2"], 2, "--reasoning cannot exceed"),
    (["gpt-4o", "--prompt", "ten", "--completion", "1"], 2, "'ten' is not a whole number of tokens"),
    (["gpt-4o", "--completion", "1"], 2, "the following arguments are required: --prompt"),
])
def test_price_user_errors(args: list[str], code: int, needle: str) -> None:
    assert_user_error(run_cli("price", *args), code, needle)


def test_a_model_without_a_price_is_a_failure(tmp_path: Path) -> None:
    source = {"acme/priced": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
              "acme/free-text": {"litellm_provider": "openai", "mode": "chat"}}
    write_cache(build_cache(parse_source(json.dumps(source).encode(), "s"), origin="s"),
                tmp_path / "model_prices.json")
    result = run_cli("price", "acme/free-text", "--prompt", "1", "--completion", "1",
                     env={"ROUTERLIB_CACHE_DIR": str(tmp_path)})
    assert_user_error(result, 1, "the cost of acme/free-text is unknown: the map has no price for it")
    assert "Warning" not in result.stderr
