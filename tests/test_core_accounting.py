"""The one accounting path: prompt tokens, context fit, estimates, prices and worst cases."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routerlib._core.accounting import Accounting, byte_bound, unbounded_part
from routerlib._embedding import EmbeddingRequest, build_embedding_request
from routerlib._request import build_request
from routerlib.cost.model_map import ModelMap
from routerlib.planning import Planner, targets_for
from routerlib.providers import ProviderRegistry
from routerlib.providers.base import DeploymentOptions, Prices
from routerlib.request import ChatRequest
from routerlib.tokens import count_messages, count_text


@pytest.fixture
def planner() -> Planner:
    return Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})


def request(**params: object) -> ChatRequest:
    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                          "api_key": "k", **params})


def test_context_check_skips_only_what_cannot_fit(planner: Planner) -> None:
    accounting = Accounting(planner)
    deployment = planner.resolve(targets_for(request())[0], request(), None)
    never = lambda: pytest.fail("a small prompt must not be tokenized")  # noqa: E731
    info = accounting.info(deployment)
    assert accounting.fits(request(), deployment, info, never) is None
    assert "max output" in (accounting.fits(request(max_tokens=10_000_000), deployment, info, never) or "")
    big = request(messages=[{"role": "user", "content": "token " * 130_000}])
    exact = lambda: accounting.prompt_tokens(big, "gpt-4o-mini")  # noqa: E731
    assert "context window" in (accounting.fits(big, deployment, info, exact) or "")


def test_a_deployment_can_narrow_the_context_window(planner: Planner) -> None:
    accounting = Accounting(planner)
    deployment = planner.deployment("openai/gpt-4o-mini", {"api_key": "k"},
                                    options=DeploymentOptions(max_input_tokens=50))
    long = request(messages=[{"role": "user", "content": "word " * 100}])
    assert "context window" in (accounting.fits(long, deployment, accounting.info(deployment), lambda: 120) or "")


def test_prompt_tokens_count_messages_prompts_and_tool_schemas() -> None:
    plain = request()
    assert Accounting.prompt_tokens(plain, "gpt-4o-mini") == count_messages("gpt-4o-mini", plain.messages)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    with_tools = request(tools=tools)
    assert Accounting.prompt_tokens(with_tools, "gpt-4o-mini") > Accounting.prompt_tokens(plain, "gpt-4o-mini")
    text = build_request({"model": "openai/gpt-3.5-turbo-instruct", "prompt": ("ab", "cd")})
    assert Accounting.prompt_tokens(text, "gpt-3.5-turbo-instruct") == 2 * count_text("gpt-4o", "ab")


def test_worst_case_counts_every_choice(planner: Planner) -> None:
    accounting = Accounting(planner)
    deployment = planner.resolve(targets_for(request())[0], request(), None)
    one, _ = accounting.worst_case(request(max_tokens=100), deployment, 10)
    eight, _ = accounting.worst_case(request(max_tokens=100, n=8), deployment, 10)
    assert one is not None and eight is not None
    info = planner.info(deployment)
    assert info is not None and info.output_cost_per_token is not None
    assert eight - one == 7 * 100 * info.output_cost_per_token


def test_parts_billed_by_decoded_size_cannot_be_bounded(planner: Planner) -> None:
    accounting = Accounting(planner)
    deployment = planner.resolve(targets_for(request())[0], request(), None)
    audio = request(messages=[{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}])
    assert unbounded_part(audio) == "input_audio"
    amount, why = accounting.worst_case(audio, deployment, 10)
    assert amount is None and "input_audio" in why


def test_deployment_prices_override_the_call_and_the_map(planner: Planner) -> None:
    accounting = Accounting(planner)
    priced = planner.deployment("openai/gpt-4o-mini", {"api_key": "k"}, options=DeploymentOptions(
        prices=Prices(input_cost_per_token=Decimal("0.5"), output_cost_per_token=Decimal("1"))))
    amount, _ = accounting.worst_case(request(max_tokens=2, input_cost_per_token=9), priced, 4)
    assert amount == Decimal("4")  # 4 x 0.5 + 2 x 1


def test_byte_bound_is_an_upper_bound() -> None:
    r = request(messages=[{"role": "user", "content": "héllo wörld " * 20}])
    assert byte_bound(r) >= Accounting.prompt_tokens(r, "gpt-4o-mini")


# -- embeddings: the same path, its own rules

def embedding(value: object, **params: object) -> EmbeddingRequest:
    return build_embedding_request({"model": "openai/text-embedding-3-small", "input": value, "api_key": "k",
                                    **params})


def test_an_embeddings_prompt_is_its_inputs() -> None:
    texts = ["the cat sat", "on the mat"]
    assert Accounting.prompt_tokens(embedding(texts), "text-embedding-3-small") == sum(
        count_text("text-embedding-3-small", t) for t in texts)
    assert Accounting.prompt_tokens(embedding([[1, 2, 3], [4]]), "x") == 4
    assert Accounting.prompt_tokens(embedding([5, 6]), "x") == 2
    assert Accounting.output_tokens(embedding("x")) == 0


def test_each_input_must_fit_the_models_input_limit(planner: Planner, monkeypatch: pytest.MonkeyPatch) -> None:
    accounting = Accounting(planner)
    deployment = planner.deployment("openai/text-embedding-3-small", {"api_key": "k"})
    info = accounting.info(deployment)
    assert info is not None and info.max_input_tokens == 8191
    never = lambda: pytest.fail("fits() counts inputs itself")  # noqa: E731
    monkeypatch.setattr("routerlib.tokens.count_text", lambda model, text: pytest.fail("a short input was counted"))
    assert accounting.fits(embedding(["short", "also short"]), deployment, info, never) is None
    monkeypatch.undo()
    long_text = "word " * 9000
    too_long = embedding(["fine", long_text])
    counted = count_text("text-embedding-3-small", long_text)
    assert accounting.fits(too_long, deployment, info, never) == f"input[1]: {counted} tokens > 8191 input tokens"
    tokens = embedding([[1] * 10, [2] * 9000])
    assert accounting.fits(tokens, deployment, info, never) == "input[1]: 9000 tokens > 8191 input tokens"
    narrow = planner.deployment("openai/text-embedding-3-small", {"api_key": "k"},
                                options=DeploymentOptions(max_input_tokens=3))
    assert accounting.fits(embedding("one two three four five"), narrow, info, never)


def test_an_embeddings_worst_case_is_its_inputs_at_the_input_price(planner: Planner) -> None:
    accounting = Accounting(planner)
    deployment = planner.deployment("openai/text-embedding-3-small", {"api_key": "k"})
    amount, why = accounting.worst_case(embedding("x"), deployment, 1000)
    assert amount == Decimal("2E-8") * 1000 and why == ""
    unknown = planner.deployment("openai/my-own-embedder", {"api_key": "k"})
    amount, why = accounting.worst_case(embedding("x"), unknown, 1000)
    assert amount is None and "no known input price" in why
    priced = embedding("x", input_cost_per_token="0.001")
    assert accounting.worst_case(priced, unknown, 10)[0] == Decimal("0.01")


def test_an_embeddings_estimate_has_no_output(planner: Planner) -> None:
    deployment = planner.deployment("openai/text-embedding-3-small", {"api_key": "k"})
    usage = Accounting(planner).estimate(embedding("x"), deployment, 7, "")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.estimated) == (7, 0, 7, True)
