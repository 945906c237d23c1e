"""routerlib.cost._capabilities: model_cost, register_model, get_max_tokens and supports_* under
LiteLLM's names and return types, read from the default client's map."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import routerlib
from routerlib.cost import UnknownModelError, _capabilities
from routerlib.cost._fields import FLAG_FIELDS
from routerlib.exceptions import InvalidRequestError, ModuleSettingError

ROOT = Path(__file__).resolve().parents[1]


# -- model_cost --------------------------------------------------------------------------------

def test_model_cost_rows_have_litellms_shape() -> None:
    row = routerlib.model_cost["gpt-4o-mini"]
    assert row["litellm_provider"] == "openai" and row["mode"] == "chat"
    assert isinstance(row["input_cost_per_token"], float) and row["input_cost_per_token"] > 0
    assert row["supports_vision"] is True
    assert json.loads(json.dumps(row)) == row
    assert "gpt-4o-mini" in routerlib.model_cost and "no-such-model" not in routerlib.model_cost
    assert routerlib.model_cost.get("no-such-model") is None
    assert len(routerlib.model_cost) > 1000 and "gpt-4o-mini" in set(routerlib.model_cost)


def test_model_cost_tiered_pricing_tables_are_floats() -> None:
    row = next(routerlib.model_cost[k] for k in routerlib.model_cost if "tiered_pricing" in routerlib.model_cost[k])
    tier = row["tiered_pricing"][0]
    assert isinstance(tier["input_cost_per_token"], float) and isinstance(tier["range"], list)
    json.dumps(row)


def test_model_cost_is_read_only() -> None:
    with pytest.raises(ModuleSettingError, match="register_model"):
        routerlib.model_cost["mine"] = {"input_cost_per_token": 1}  # type: ignore[index]
    row = routerlib.model_cost["gpt-4o-mini"]
    row["input_cost_per_token"] = 99.0  # a copy: the map is unchanged
    assert routerlib.model_cost["gpt-4o-mini"]["input_cost_per_token"] != 99.0


def test_model_cost_loads_the_map_on_first_access_only() -> None:
    code = ("import routerlib\nfrom routerlib.cost import is_default_loaded\n"
            "mc = routerlib.model_cost\nassert not is_default_loaded()\n"
            "mc['gpt-4o-mini']\nassert is_default_loaded()\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr


# -- register_model ----------------------------------------------------------------------------

def test_register_model_adds_a_row_the_calls_and_helpers_see() -> None:
    returned = routerlib.register_model({"capabilities-test/my-model": {
        "litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 0.5, "output_cost_per_token": 1.5,
        "max_tokens": 100, "max_output_tokens": 50, "supports_vision": True,
        "source": "https://example.invalid", "deprecation_date": "2030-01-01"}})  # unread fields are ignored
    assert "capabilities-test/my-model" in returned
    assert routerlib.model_cost["capabilities-test/my-model"]["input_cost_per_token"] == 0.5
    assert routerlib.get_max_tokens("capabilities-test/my-model") == 50
    assert routerlib.supports_vision("capabilities-test/my-model") is True
    response = routerlib.completion("openai/capabilities-test/my-model", [{"role": "user", "content": "hi"}],
                                    mock_response="ok")
    assert response.cost is not None and response.cost.total is not None and response.cost.total > 0


def test_register_model_updates_an_existing_row_field_by_field() -> None:
    before = routerlib.model_cost["gpt-4o"]
    routerlib.register_model({"gpt-4o": {"output_cost_per_token": 0.25}})
    after = routerlib.model_cost["gpt-4o"]
    assert after["output_cost_per_token"] == 0.25
    assert after["input_cost_per_token"] == before["input_cost_per_token"]  # kept, as LiteLLM merges
    routerlib.register_model({"gpt-4o": {"output_cost_per_token": before["output_cost_per_token"]}})


@pytest.mark.parametrize(("arg", "match"), [
    ("https://example.invalid/map.json", "fetches no URL"),
    ({"m": {"input_cost_per_tokens": 1}}, "did you mean 'input_cost_per_token'"),
    ({"m": "cheap"}, "each row must be a dict"),
    ({"": {"input_cost_per_token": 1}}, "model must be a non-empty string"),
    ({"m": {"input_cost_per_token": "cheap"}}, "not a number"),
])
def test_register_model_refuses_what_would_leave_a_model_silently_unpriced(arg: object, match: str) -> None:
    with pytest.raises((InvalidRequestError, ValueError), match=match):
        routerlib.register_model(arg)  # type: ignore[arg-type]
    assert "m" not in routerlib.model_cost


# -- get_max_tokens and supports_* -------------------------------------------------------------

def test_get_max_tokens() -> None:
    assert routerlib.get_max_tokens("gpt-4o-mini") == routerlib.get_model_info("gpt-4o-mini")["max_output_tokens"]
    with pytest.raises(UnknownModelError):
        routerlib.get_max_tokens("no-such-model")
    with pytest.raises(InvalidRequestError, match=r"get_max_tokens\(model=None\)"):
        routerlib.get_max_tokens(None)  # type: ignore[arg-type]


def test_supports_helpers_answer_from_the_map() -> None:
    assert routerlib.supports_function_calling("gpt-4o-mini") is True
    assert routerlib.supports_vision("openai/gpt-4o-mini") is True
    assert routerlib.supports_response_schema("gpt-4o-mini") is True
    assert routerlib.supports_reasoning("gpt-4o-mini") is False
    assert routerlib.supports_function_calling("gpt-4o-mini", custom_llm_provider="openai") is True
    assert routerlib.supports_vision("no-such-model") is False  # unknown: False, as LiteLLM answers
    assert routerlib.supports_response_schema("fireworks_ai/any-model") is True  # LiteLLM: whole provider
    assert routerlib.supports_httpx_timeout("openai") is True


def test_every_flag_has_its_helper() -> None:
    for flag in FLAG_FIELDS:
        helper = getattr(_capabilities, f"supports_{flag}")
        assert helper.__name__ == f"supports_{flag}"
        assert isinstance(helper("gpt-4o-mini"), bool)
        assert f"supports_{flag}" in routerlib.__all__


def test_supports_bad_arguments() -> None:
    with pytest.raises(InvalidRequestError, match=r"supports_vision\(model=None\)"):
        routerlib.supports_vision(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="custom_llm_provider"):
        routerlib.supports_vision("gpt-4o-mini", 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="known capabilities"):
        _capabilities.supports("gpt-4o-mini", "telepathy")
