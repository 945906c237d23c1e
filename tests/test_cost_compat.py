"""routerlib.cost._compat: LiteLLM-named money helpers return LiteLLM's types (floats, its dict
shape); ``exact=True`` gives routerlib's Decimals; a wrong argument is a clear routerlib error."""

from __future__ import annotations

import json
import statistics
import sys
import types
import warnings
from decimal import Decimal
from typing import Any

import pytest

import routerlib
from routerlib.cost import (
    CostUnknownWarning,
    ModelMap,
    UnknownModelError,
    completion_cost,
    cost_per_token,
    get_model_info,
    token_counter,
)
from routerlib.exceptions import InvalidRequestError, RouterlibError
from routerlib.types import ChatCompletionMessage, Choice, Cost, ModelResponse, PromptTokensDetails, Usage

D = Decimal
MAP = ModelMap.from_dict({
    "full": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": "0.000003",
             "output_cost_per_token": "0.000015", "cache_read_input_token_cost": "0.0000003",
             "cache_creation_input_token_cost": "0.00000375", "output_cost_per_reasoning_token": "0.00002",
             "input_cost_per_audio_token": "0.00004", "output_cost_per_audio_token": "0.00008",
             "max_output_tokens": 8192, "max_input_tokens": 100000, "supports_vision": True},
    "plain": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
              "output_cost_per_token": 6e-07, "max_output_tokens": 16384},
    "input-only": {"litellm_provider": "x", "mode": "embedding", "input_cost_per_token": 1e-07},
    "by-time": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_second": "0.011"},
    "unpriced": {"litellm_provider": "x", "mode": "chat"},
})


def usage(prompt: int, completion: int, cached: int = 0) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=cached))


def response(model: str = "plain", u: Usage | None = None, cost: Cost | None = None) -> ModelResponse:
    return ModelResponse(id="x", model=model, choices=[Choice(message=ChatCompletionMessage(content="hi"))],
                         usage=u if u is not None else usage(1000, 500), cost=cost)


# -- get_model_info ----------------------------------------------------------------------------

def test_get_model_info_has_litellm_shape_and_serialises() -> None:
    info = get_model_info("full", model_map=MAP)
    assert info["key"] == "full" and info["litellm_provider"] == "openai" and info["mode"] == "chat"
    assert info["max_input_tokens"] == 100000
    assert info["max_tokens"] == 8192  # absent from the row: filled from max_output_tokens, as LiteLLM does
    assert isinstance(info["input_cost_per_token"], float) and info["input_cost_per_token"] == 3e-06
    assert info["supports_vision"] is True and info["supports_function_calling"] is False
    assert "stream" in info["supported_openai_params"] and "temperature" in info["supported_openai_params"]
    assert "rates" not in info and "tiers" not in info
    assert json.loads(json.dumps(info)) == info


def test_get_model_info_exact_keeps_decimals() -> None:
    info = get_model_info("full", model_map=MAP, exact=True)
    assert info["input_cost_per_token"] == D("0.000003") and isinstance(info["input_cost_per_token"], Decimal)


def test_get_model_info_unknown_and_bad_arguments() -> None:
    with pytest.raises(UnknownModelError) as caught:
        get_model_info("no-such-model", "openai", model_map=MAP)
    assert isinstance(caught.value, ValueError) and "openai/no-such-model" in str(caught.value)
    for bad in (None, "", 42):
        with pytest.raises(InvalidRequestError, match=r"get_model_info\(model="):
            get_model_info(bad, model_map=MAP)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="custom_llm_provider"):
        get_model_info("full", 3, model_map=MAP)  # type: ignore[arg-type]


def test_get_model_info_of_the_packaged_map() -> None:
    info = routerlib.get_model_info("gpt-4o-mini")
    assert info["max_tokens"] == info["max_output_tokens"] and info["max_tokens"]
    assert isinstance(info["input_cost_per_token"], float)
    json.dumps(info)


# -- cost_per_token ----------------------------------------------------------------------------

def test_cost_per_token_floats_by_default_and_exact_on_request() -> None:
    prompt, completion = cost_per_token("full", 1000, 100, cached_tokens=400, reasoning_tokens=10, model_map=MAP)
    exact_prompt, exact_completion = cost_per_token("full", 1000, 100, cached_tokens=400, reasoning_tokens=10,
                                                    model_map=MAP, exact=True)
    assert exact_prompt == 600 * D("0.000003") + 400 * D("0.0000003")
    assert exact_completion == 90 * D("0.000015") + 10 * D("0.00002")
    assert (prompt, completion) == (float(exact_prompt), float(exact_completion))
    assert isinstance(prompt, float) and isinstance(completion, float)


def test_cost_per_token_takes_litellms_names() -> None:
    ours = cost_per_token("full", 1000, 100, cached_tokens=400, cache_creation_tokens=100, model_map=MAP)
    theirs = cost_per_token(model="full", prompt_tokens=1000, completion_tokens=100, cache_read_input_tokens=400,
                            cache_creation_input_tokens=100, model_map=MAP)
    assert ours == theirs
    via_usage = cost_per_token(model="full", usage_object={"prompt_tokens": 1000, "completion_tokens": 100,
                                                           "total_tokens": 1100,
                                                           "prompt_tokens_details": {"cached_tokens": 400}},
                               model_map=MAP)
    assert via_usage == cost_per_token("full", 1000, 100, cached_tokens=400, model_map=MAP)


def test_cost_per_token_audio_is_split_between_the_sides() -> None:
    u = Usage.model_validate({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20,
                              "prompt_tokens_details": {"audio_tokens": 4},
                              "completion_tokens_details": {"audio_tokens": 3}})
    prompt, completion = cost_per_token("full", usage_object=u, model_map=MAP, exact=True)
    assert prompt == 6 * D("0.000003") + 4 * D("0.00004")
    assert completion == 7 * D("0.000015") + 3 * D("0.00008")


def test_cost_per_token_per_second_rows() -> None:
    assert cost_per_token("by-time", response_time_ms=2000, model_map=MAP, exact=True) == (D("0.022"), D(0))
    with pytest.raises(UnknownModelError, match="response_time_ms"):
        cost_per_token("by-time", 1, 1, model_map=MAP)


def test_cost_per_token_unknown() -> None:
    with pytest.raises(UnknownModelError) as caught:
        cost_per_token("nope", 1, 1, model_map=MAP)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, RouterlibError)
    with pytest.raises(UnknownModelError, match="per-token"):
        cost_per_token("input-only", 1, 1, model_map=MAP)


@pytest.mark.parametrize("kwargs", [{"prompt_tokens": "10"}, {"completion_tokens": -1}, {"prompt_tokens": True},
                                    {"cached_tokens": 1.5}, {"usage_object": "lots"}])
def test_cost_per_token_bad_counts_are_typed_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError, match="cost_per_token"):
        cost_per_token(model="full", model_map=MAP, **kwargs)


# -- completion_cost ---------------------------------------------------------------------------

def test_completion_cost_is_a_float_that_sums_and_serialises() -> None:
    costs = [completion_cost(response(), model_map=MAP) for _ in range(3)]
    assert costs[0] == 0.00045 and isinstance(costs[0], float)
    total = 0.0
    for cost in costs:
        total += cost
    assert total == pytest.approx(0.00135)
    assert statistics.mean(costs) == pytest.approx(0.00045)
    assert costs[0] * 1e6 == pytest.approx(450)
    assert json.loads(json.dumps({"cost": costs[0]})) == {"cost": 0.00045}


def test_completion_cost_exact() -> None:
    assert completion_cost(response(), model_map=MAP, exact=True) == D("0.00045")
    body = {"model": "plain", "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
                                        "prompt_tokens_details": {"cached_tokens": 0}}}
    assert completion_cost(body, model_map=MAP, exact=True) == D("0.00045")
    assert completion_cost(completion_response=body, model="full", model_map=MAP, exact=True) == D("0.0105")
    with pytest.warns(CostUnknownWarning):
        assert completion_cost({"model": "plain"}, model_map=MAP, exact=True) is None  # no usage: unknown, not 0
    with pytest.warns(CostUnknownWarning):
        assert completion_cost(body, model="nope", model_map=MAP, exact=True) is None


def test_completion_cost_unknown_raises_in_float_form() -> None:
    body = {"model": "unpriced", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostUnknownWarning)
        with pytest.raises(UnknownModelError, match="exact=True"):
            completion_cost(body, model_map=MAP)


def test_completion_cost_uses_the_responses_own_exact_cost() -> None:
    """A routerlib response's cost (per-call prices, every attempt) is the truth, not a re-pricing."""
    priced = response(cost=Cost(total=D("0.123"), source="override"))
    assert completion_cost(priced) == 0.123
    assert completion_cost(priced, exact=True) == D("0.123")
    assert completion_cost(priced, model_map=MAP, exact=True) == D("0.00045")  # an explicit map re-prices


def test_completion_cost_of_other_libraries_objects() -> None:
    """Any pydantic response (OpenAI SDK's, LiteLLM's) is priced from its model_dump()."""
    other = types.SimpleNamespace(model_dump=lambda: {"model": "plain", "usage": {
        "prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}})
    assert completion_cost(other, model_map=MAP) == 0.00045


def test_completion_cost_of_text() -> None:
    """LiteLLM's completion_cost(model=, prompt=, completion=): tokens counted with tiktoken."""
    from routerlib.tokens import count_messages, count_text

    cost = completion_cost(model="plain", prompt="Hello there", completion="General Kenobi", model_map=MAP,
                           exact=True)
    assert cost == count_text("plain", "Hello there") * D("1.5E-7") + count_text("plain", "General Kenobi") * D("6E-7")
    messages = [{"role": "user", "content": "Hello there"}]
    by_messages = completion_cost(model="plain", messages=messages, completion="ok", model_map=MAP, exact=True)
    assert by_messages == count_messages("plain", messages) * D("1.5E-7") + count_text("plain", "ok") * D("6E-7")


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    (("hi",), {}, "completion_response='hi'"),
    ((42,), {}, "completion_response=42"),
    ((), {}, "pass a completion_response"),
    ((), {"model": "plain"}, "pass a completion_response"),
    ((), {"model": "plain", "prompt": 5}, "prompt=5"),
    ((), {"model": "plain", "messages": "hi"}, "messages='hi'"),
    (({"usage": {"prompt_tokens": 1}},), {}, "names no model"),
    ((), {"model": None, "prompt": "x"}, "pass a completion_response"),
    ((), {"model": 7, "prompt": "x"}, "model=7"),
])
def test_completion_cost_bad_arguments_are_typed_errors(args: tuple[Any, ...], kwargs: dict[str, Any],
                                                         match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        completion_cost(*args, model_map=MAP, **kwargs)


def test_register_model_is_seen_by_the_helpers() -> None:
    """routerlib.register_model adds to the default client's map, which the helpers read."""
    routerlib.register_model({"compat-test-model": {"litellm_provider": "openai", "mode": "chat",
                                                    "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}})
    assert routerlib.cost_per_token("compat-test-model", 1, 1) == (0.001, 0.002)
    assert routerlib.get_model_info("compat-test-model")["input_cost_per_token"] == 0.001
    assert routerlib.completion_cost(response("compat-test-model", usage(1, 1))) == 0.003


# -- token_counter -----------------------------------------------------------------------------

def test_token_counter_delegates_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("routerlib.tokens")
    fake.token_counter = lambda *a, **k: 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "routerlib.tokens", fake)
    assert token_counter(model="gpt-4o", text="hello") == 42


def test_completion_cost_of_an_embedding_response_is_its_own_cost() -> None:
    response = routerlib.Client(environ={}).embedding("openai/text-embedding-3-small", ["hello world"] * 3,
                                                      mock_response=[0.1], input_cost_per_token="0.001")
    assert response.cost is not None and response.cost.total == Decimal("0.006")  # the call's price, not the map's
    assert completion_cost(completion_response=response) == float(response.cost.total)
    assert completion_cost(completion_response=response, exact=True) == response.cost.total
