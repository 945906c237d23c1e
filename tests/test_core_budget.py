"""The spend side of a call (routerlib/_core/budget.py): reserve, settle, release, through completion()."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from policy_helpers import MESSAGES, Script, error, ok, transports

import routerlib
from routerlib.spend import Budget, MemoryLedger
from routerlib.transport import HTTPRequest, HTTPResponse

# gpt-4o-mini in the packaged map: $0.15 / 1M input, $0.60 / 1M output.
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}


def make_client(script: object, ledger: MemoryLedger, budgets: list[Budget] = ()) -> routerlib.Client:  # type: ignore[assignment]
    return routerlib.Client(ledger=ledger, budgets=budgets, environ={}, sleep=lambda s: None, **transports(script))  # type: ignore[arg-type]


def test_every_call_writes_one_record_with_its_caller() -> None:
    ledger = MemoryLedger()
    client = make_client(Script({"gpt-4o-mini": [ok()]}), ledger)
    response = client.completion(
        "openai/gpt-4o-mini",
        MESSAGES,
        api_key="k",
        **PRICES,
        metadata={"user": "alice", "team": "search", "tags": ["beta"], "feature": "x"},
    )
    assert isinstance(response, routerlib.ModelResponse)
    (record,) = ledger.records()
    assert (record.user, record.team, record.tags) == ("alice", "search", ("beta",))
    assert record.cost == response.cost.total == Decimal("0.00002")  # type: ignore[union-attr]
    assert record.metadata == {"feature": "x"}
    assert (record.prompt_tokens, record.completion_tokens, record.attempts) == (10, 5, 1)
    assert ledger.total(user="alice") == Decimal("0.00002")


def test_budget_refuses_before_any_network_call() -> None:
    script = Script({"gpt-4o-mini": [ok()]})
    client = make_client(script, MemoryLedger(), [Budget("0.00001", scope="user")])
    with pytest.raises(routerlib.BudgetExceededError) as info:
        client.completion(
            "openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=100, **PRICES, metadata={"user": "bob"}
        )
    assert script.seen == []
    err = info.value
    assert (err.scope, err.key, err.limit) == ("user", "bob", Decimal("0.00001"))
    assert err.requested is not None and err.requested > err.limit


def test_budget_refusal_is_not_a_fallback() -> None:
    script = Script({"gpt-4o-mini": [ok()], "gpt-4o": [ok("gpt-4o")]})
    client = make_client(script, MemoryLedger(), [Budget("0.00001", scope="global")])
    with pytest.raises(routerlib.BudgetExceededError):
        client.completion(
            "openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=100, **PRICES, fallbacks=["openai/gpt-4o"]
        )
    assert script.seen == []


def test_failure_releases_the_reservation() -> None:
    ledger = MemoryLedger()
    budget = Budget("0.0003", scope="global")
    failing = make_client(Script({"gpt-4o-mini": [error(500)]}), ledger, [budget])
    for _ in range(5):
        with pytest.raises(routerlib.InternalServerError):
            failing.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=100, **PRICES)
    working = make_client(Script({"gpt-4o-mini": [ok()]}), ledger, [budget])
    working.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=100, **PRICES)
    assert ledger.total() == Decimal("0.00002")


def test_spend_accumulates_until_the_budget_refuses() -> None:
    ledger = MemoryLedger()
    client = make_client(Script({"gpt-4o-mini": [ok()]}), ledger, [Budget("0.0001", scope="team")])
    served = 0
    with pytest.raises(routerlib.BudgetExceededError):
        for _ in range(100):
            client.completion(
                "openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=10, **PRICES, metadata={"team": "t"}
            )
            served += 1
    # each call costs 0.00002 and reserves at most 0.00003 (10 prompt-ish tokens + 10 output)
    assert served == 3 or served == 4
    assert ledger.total(team="t") <= Decimal("0.0001")


def test_budget_on_unpriced_model_refuses_unless_prices_are_given() -> None:
    def handler(request: HTTPRequest) -> HTTPResponse:
        return ok("no-such-model-xyz")

    client = make_client(handler, MemoryLedger(), [Budget("1", scope="global")])
    with pytest.raises(routerlib.BudgetExceededError) as info:
        client.completion("openai/no-such-model-xyz", MESSAGES, api_key="k", max_tokens=10)
    assert info.value.requested is None
    assert "cannot be bounded" in str(info.value)
    response = client.completion("openai/no-such-model-xyz", MESSAGES, api_key="k", max_tokens=10, **PRICES)
    assert response.cost is not None and response.cost.total == Decimal("0.00002")  # type: ignore[union-attr]


def test_budget_only_applies_to_its_subject() -> None:
    client = make_client(
        Script({"gpt-4o-mini": [ok()]}), MemoryLedger(), [Budget("0.00001", scope="user", key="carol")]
    )
    client.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=10, **PRICES, metadata={"user": "dave"})
    with pytest.raises(routerlib.BudgetExceededError):
        client.completion(
            "openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=10, **PRICES, metadata={"user": "carol"}
        )


def test_concurrent_calls_never_exceed_the_budget() -> None:
    ledger = MemoryLedger()
    client = make_client(Script({"gpt-4o-mini": [ok()]}), ledger, [Budget("0.0002", scope="global")])
    outcomes: list[str] = []

    def worker() -> None:
        for _ in range(10):
            try:
                client.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=10, **PRICES)
                outcomes.append("ok")
            except routerlib.BudgetExceededError:
                outcomes.append("refused")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.total() <= Decimal("0.0002")
    assert ledger.total() == sum(r.cost for r in ledger.records())  # type: ignore[misc]
    assert outcomes.count("ok") == len(ledger.records()) >= 6


def test_stream_is_recorded_when_it_ends() -> None:
    ledger = MemoryLedger()
    client = routerlib.Client(ledger=ledger, environ={})
    stream = client.completion(
        "openai/gpt-4o-mini", MESSAGES, mock_response="one two three", stream=True, metadata={"user": "erin"}
    )
    assert ledger.records() == []
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)  # type: ignore[union-attr]
    assert text == "one two three"
    (record,) = ledger.records()
    assert record.user == "erin" and record.cost == stream.cost.total  # type: ignore[union-attr]


def test_a_stream_left_early_releases_its_reservation_and_is_recorded() -> None:
    ledger = MemoryLedger()
    client = routerlib.Client(ledger=ledger, budgets=[Budget("0.001", scope="user")], environ={})
    for _ in range(6):  # without the release, the fifth stream would be refused
        stream = client.completion("openai/gpt-4o-mini", MESSAGES, mock_response="one two three four",
                                   stream=True, max_tokens=100, metadata={"user": "zoe"}, **PRICES)
        for _chunk in stream:  # type: ignore[union-attr]
            break
    assert ledger.reserved() == {}
    assert len(ledger.records()) == 6
    assert all(r.cost is not None and r.cost > 0 for r in ledger.records())


async def test_an_async_stream_left_early_releases_its_reservation() -> None:
    import asyncio

    ledger = MemoryLedger()
    client = routerlib.Client(ledger=ledger, budgets=[Budget("0.001", scope="user")], environ={})
    for _ in range(6):
        stream = await client.acompletion("openai/gpt-4o-mini", MESSAGES, mock_response="one two three four",
                                          stream=True, max_tokens=100, metadata={"user": "zoe"}, **PRICES)
        async for _chunk in stream:  # type: ignore[union-attr]
            break
        for _ in range(3):  # the loop finalises an abandoned async generator within a few turns
            await asyncio.sleep(0)
    assert ledger.reserved() == {}
    assert len(ledger.records()) == 6


def test_a_stream_dropped_unread_releases_its_reservation() -> None:
    import gc

    ledger = MemoryLedger()
    client = routerlib.Client(ledger=ledger, budgets=[Budget("0.001", scope="user")], environ={})
    for _ in range(8):  # without the release, the fifth dropped stream would exhaust the budget
        stream = client.completion("openai/gpt-4o-mini", MESSAGES, mock_response="one two three four",
                                   stream=True, max_tokens=100, metadata={"user": "yan"}, **PRICES)
        del stream
        gc.collect()
    assert ledger.reserved() == {}


async def test_an_async_stream_dropped_unread_releases_its_reservation() -> None:
    import gc

    ledger = MemoryLedger()
    client = routerlib.Client(ledger=ledger, budgets=[Budget("0.001", scope="user")], environ={})
    for _ in range(8):
        stream = await client.acompletion("openai/gpt-4o-mini", MESSAGES, mock_response="one two three four",
                                          stream=True, max_tokens=100, metadata={"user": "yan"}, **PRICES)
        del stream
        gc.collect()
    assert ledger.reserved() == {}


def test_a_reservation_counts_every_choice() -> None:
    """Ten n=8 calls under a budget that fits one choice each: the worst case holds n x max tokens."""
    ledger = MemoryLedger()
    script = Script({"gpt-4o-mini": [ok()] * 10})
    # One choice of 100 output tokens at $0.000002 + 10 prompt tokens: about $0.00021; n=8: about $0.0016.
    client = make_client(script, ledger, [Budget("0.001", scope="global")])
    with pytest.raises(routerlib.BudgetExceededError) as info:
        client.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=100, n=8, **PRICES)
    assert info.value.requested is not None and info.value.requested > Decimal("0.0016")
    assert script.seen == []
    client.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", max_tokens=100, n=1, **PRICES)
    assert len(script.seen) == 1
