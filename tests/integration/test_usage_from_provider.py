"""Usage a provider reports is checked before it is priced, recorded or charged (item 16): negative,
non-integer or absurd counts never crash the record and never lock a budget. Against a real loopback
server answering such usage in each wire format, JSON and streams, with a ledger and a budget.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from strict_server import StrictServer

import routerlib
from routerlib.exceptions import UsageWarning
from routerlib.spend import Budget, MemoryLedger

KEY = "sk-test-usage-0123456789"
MESSAGES = [{"role": "user", "content": "hello"}]
#: (model, base path, usage field builder) per wire format.
FORMATS = {
    "openai": ("openai/gpt-4o-mini", "/v1", lambda p, c: {"prompt_tokens": p, "completion_tokens": c,
                                                          "total_tokens": 12}),
    "anthropic": ("anthropic/claude-sonnet-4-5", "", lambda p, c: {"input_tokens": p, "output_tokens": c}),
    "gemini": ("gemini/gemini-2.5-flash", "/v1beta", lambda p, c: {"promptTokenCount": p,
                                                                  "candidatesTokenCount": c}),
}
BAD = {
    "negative": (-5, 3),
    "absurd": (9, 10**30),
    "fraction": (9, 2.5),
    "string": (9, "lots"),
    "above a billion": (10**9 + 1, 3),
}


@pytest.fixture
def server() -> Iterator[StrictServer]:
    with StrictServer() as s:
        yield s


def call(server: StrictServer, fmt: str, *, stream: bool, client: routerlib.Client) -> Any:
    model, path, _ = FORMATS[fmt]
    result = client.completion(model, MESSAGES, api_base=server.root + path, api_key=KEY, stream=stream,
                               metadata={"user": "alice"})
    if stream:
        list(result)
        return result.response
    return result


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("case", sorted(BAD))
def test_implausible_usage_is_counted_locally_and_never_locks_a_budget(server: StrictServer, fmt: str, stream: bool,
                                                                       case: str) -> None:
    # Before: negative counts crashed the record after the answer, 10**30 tokens recorded ~$6e23 and
    # locked every budget, and a non-integer count failed the parse (a retryable error: paid twice).
    prompt, completion = BAD[case]
    server.usage = FORMATS[fmt][2](prompt, completion)
    ledger = MemoryLedger()
    client = routerlib.Client(environ={}, ledger=ledger, budgets=[Budget("1.00", "user", "total")])
    with pytest.warns(UsageWarning, match="implausible usage"):
        response = call(server, fmt, stream=stream, client=client)
    assert response.choices[0].message.content == "Hi!", "the answer already paid for is returned"
    usage = response.usage
    assert usage is not None and usage.estimated, "counted locally and marked estimated"
    assert 0 < usage.prompt_tokens < 100 and 0 < usage.completion_tokens < 100
    assert response.cost is not None and response.cost.estimated
    assert response.cost.total is not None and Decimal(0) < response.cost.total < Decimal("0.01")
    records = ledger.records()
    assert len(records) == 1, "the call is recorded"
    assert records[0].cost < Decimal("0.01")
    server.usage = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", UsageWarning)
        assert call(server, fmt, stream=stream, client=client).usage.estimated is False, "the budget is not locked"
    assert len(server.requests) == 2, "never retried"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_plausible_usage_is_kept_as_reported(server: StrictServer, fmt: str) -> None:
    server.usage = FORMATS[fmt][2](1234, 56)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UsageWarning)
        response = call(server, fmt, stream=False, client=routerlib.Client(environ={}))
    assert response.usage.prompt_tokens == 1234 and response.usage.completion_tokens == 56
    assert not response.usage.estimated


def test_openai_usage_details_out_of_range_are_implausible_too(server: StrictServer) -> None:
    server.usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                    "prompt_tokens_details": {"cached_tokens": -100}}
    with pytest.warns(UsageWarning, match="cached_tokens=-100"):
        response = call(server, "openai", stream=False, client=routerlib.Client(environ={}))
    assert response.usage.estimated and response.usage.cached_tokens == 0


def test_usage_of_the_wrong_shape_is_implausible(server: StrictServer) -> None:
    server.usage = ["not", "a", "dict"]
    with pytest.warns(UsageWarning):
        response = call(server, "openai", stream=True, client=routerlib.Client(environ={}))
    assert response.usage.estimated
    for fmt in ("anthropic", "gemini"):  # the native parsers ignore a usage that is not an object
        response = call(server, fmt, stream=True, client=routerlib.Client(environ={}))
        assert response.usage.estimated


def test_completion_tokens_far_beyond_max_tokens_are_cut_to_what_the_call_could_generate(server: StrictServer) -> None:
    server.usage = {"prompt_tokens": 9, "completion_tokens": 5_000_000, "total_tokens": 5_000_009}
    with pytest.warns(UsageWarning, match="at most 1 x 10"):
        response = routerlib.Client(environ={}).completion("openai/gpt-4o-mini", MESSAGES, api_base=server.url,
                                                           api_key=KEY, max_tokens=10)
    assert response.usage.completion_tokens == 10 and response.usage.estimated
