"""Retries, waits, fallbacks, deadlines and stream faults against a real fault-injecting server.

Each test counts the requests llmock received (its journal) and, where a wait matters, the
time between them as the server saw it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pytest
from servers import Llmock

import routerlib
from routerlib import RetryPolicy

MESSAGES = [{"role": "user", "content": "hello there"}]
FAST = RetryPolicy(initial_backoff=0.02, max_backoff=0.05, jitter=0.01)


@pytest.fixture
def client() -> Iterator[routerlib.Client]:
    with routerlib.Client(policy=FAST, environ={}) as c:
        yield c


def complete(client: routerlib.Client, base: str, model: str = "openai/gpt-4o-mini",
             **params: object) -> routerlib.ModelResponse:
    response = client.completion(model, MESSAGES, api_base=base, api_key="test-key", **params)
    assert isinstance(response, routerlib.ModelResponse)
    return response


def test_429_retry_after_is_honoured_and_counted(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 0.3, "times": 2})
    response = complete(client, llmock.openai, num_retries=3)
    journal = llmock.requests()
    assert [r["status"] for r in journal] == [429, 429, 200]
    gaps = [b["started_at"] - a["ended_at"] for a, b in itertools.pairwise(journal)]
    assert all(gap >= 0.29 for gap in gaps), gaps
    assert [a.waited for a in response.attempts] == [0.0, 0.3, 0.3]


def test_server_requests_equal_policy_attempts(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 500, "times": None})
    with pytest.raises(routerlib.InternalServerError) as info:
        complete(client, llmock.openai, num_retries=2)
    assert len(llmock.requests()) == 3 == len(info.value.attempts)
    llmock.reset()
    llmock.scenario({"type": "fail", "status": 500, "times": None})
    with pytest.raises(routerlib.InternalServerError):
        complete(client, llmock.openai, num_retries=0)
    assert len(llmock.requests()) == 1


@pytest.mark.parametrize("status", [400, 422])
def test_request_errors_are_sent_once_and_not_fallen_back(llmock: Llmock, client: routerlib.Client,
                                                          status: int) -> None:
    llmock.scenario({"type": "fail", "status": status, "times": None})
    with pytest.raises(routerlib.APIStatusError) as info:
        complete(client, llmock.openai, num_retries=3, fallbacks=["openai/gpt-4o"])
    assert info.value.status_code == status
    assert len(llmock.requests()) == 1


def test_401_falls_back_to_the_next_model_without_retry(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 401, "match": {"model": "gpt-4o-mini"}, "times": None})
    response = complete(client, llmock.openai, num_retries=3, fallbacks=["openai/gpt-4o"])
    assert [r["model"] for r in llmock.requests()] == ["gpt-4o-mini", "gpt-4o"]
    assert response.model == "gpt-4o"
    assert response.attempts[0].error == "AuthenticationError"


def test_fallback_chain_keeps_the_last_error_type(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 503, "match": {"model": "gpt-4o-mini"}, "times": None},
                  {"type": "fail", "status": 429, "retry_after": 0.05, "match": {"model": "gpt-4o"}, "times": None})
    with pytest.raises(routerlib.RateLimitError) as info:
        complete(client, llmock.openai, num_retries=1, fallbacks=["openai/gpt-4o"])
    assert [r["status"] for r in llmock.requests()] == [503, 503, 429, 429]
    assert "4 attempts on 2 models" in str(info.value)


def test_hang_times_out_per_attempt_and_deadline_bounds_the_call(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "delay", "seconds": 3, "times": None})
    started = time.monotonic()
    with pytest.raises(routerlib.APITimeoutError) as info:
        complete(client, llmock.openai, timeout=0.4, deadline=1.0, num_retries=5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.6, elapsed
    assert 2 <= len(info.value.attempts) <= 3
    assert all(a.error == "APITimeoutError" for a in info.value.attempts)


def test_wait_beyond_cap_is_not_slept(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 120, "times": None})
    started = time.monotonic()
    with pytest.raises(routerlib.RateLimitError) as info:
        complete(client, llmock.openai, num_retries=3)
    assert time.monotonic() - started < 1
    assert info.value.retry_after == 120
    assert len(llmock.requests()) == 1


def test_provider_context_error_goes_to_fallback_without_retry(llmock_with_window: Callable[[int], Llmock],
                                                               llmock: Llmock, client: routerlib.Client) -> None:
    small_window = llmock_with_window(60)
    long = [{"role": "user", "content": "tell me a story " * 40}]
    response = client.completion("openai/gpt-4o-mini", long, api_base=small_window.openai, api_key="k",
                                 num_retries=3,  # another origin: the fallback brings its own key
                                 fallbacks=[{"model": "openai/gpt-4o", "api_base": llmock.openai, "api_key": "k"}])
    assert isinstance(response, routerlib.ModelResponse)
    assert len(small_window.requests()) == 1
    assert response.attempts[0].error == "ContextWindowExceededError"
    assert [r["model"] for r in llmock.requests()] == ["gpt-4o"]


def test_context_precheck_skips_before_any_request(llmock: Llmock, client: routerlib.Client) -> None:
    client.register_model("tiny-model", litellm_provider="openai", max_input_tokens=50, max_output_tokens=50,
                          input_cost_per_token="0.000001", output_cost_per_token="0.000002")
    long = [{"role": "user", "content": "tell me a story " * 40}]
    response = client.completion("openai/tiny-model", long, api_base=llmock.openai, api_key="k",
                                 num_retries=2, context_window_fallback_dict={"openai/tiny-model": "openai/gpt-4o"})
    assert isinstance(response, routerlib.ModelResponse)
    assert [r["model"] for r in llmock.requests()] == ["gpt-4o"]
    assert response.attempts[0].outcome == "skipped"


def test_stream_truncated_after_content_raises_with_partial_text(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "truncate", "after_chunks": 3})
    stream = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="k",
                               stream=True, num_retries=3)
    received = []
    with pytest.raises(routerlib.StreamInterruptedError) as info:
        for chunk in stream:  # type: ignore[union-attr]
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert info.value.partial_text == "".join(received) != ""
    assert len(llmock.requests()) == 1  # no retry once content reached the caller


def test_stream_disconnect_before_content_is_retried(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "disconnect", "after_chunks": 0})
    stream = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="k",
                               stream=True, num_retries=2)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)  # type: ignore[union-attr]
    assert text
    assert len(llmock.requests(settle=0.1)) == 2
    assert stream.response is not None and stream.cost is not None  # type: ignore[union-attr]


def test_malformed_chunk_is_an_error_not_skipped(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "malformed", "after_chunks": 2})
    stream = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="k",
                               stream=True, num_retries=0)
    with pytest.raises(routerlib.APIError):
        for _ in stream:  # type: ignore[union-attr]
            pass


def test_force_status_header_per_call_and_fallback_on_same_server(llmock: Llmock, client: routerlib.Client) -> None:
    response = client.completion(
        "openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="k", num_retries=1,
        headers={"x-llmock-force-status": "503"},
        fallbacks=[{"model": "openai/gpt-4o", "headers": {"x-llmock-force-status": "200"}}])
    assert isinstance(response, routerlib.ModelResponse)
    assert [r["status"] for r in llmock.requests()] == [503, 503, 200]


async def test_async_retries_and_fallbacks_match_sync(llmock: Llmock) -> None:
    llmock.scenario({"type": "fail", "status": 503, "match": {"model": "gpt-4o-mini"}, "times": None},
                  {"type": "fail", "status": 429, "retry_after": 0.2, "match": {"model": "gpt-4o"}, "times": 1})
    async with routerlib.Client(policy=FAST, environ={}) as client:
        response = await client.acompletion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="k",
                                            num_retries=1, fallbacks=["openai/gpt-4o"])
    assert isinstance(response, routerlib.ModelResponse)
    assert [r["status"] for r in llmock.requests()] == [503, 503, 429, 200]
    assert response.attempts[-1].waited == pytest.approx(0.2)
