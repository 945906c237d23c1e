"""Retry policy: what is retried, how long routerlib waits, and that nothing else retries."""

from __future__ import annotations

import email.utils
import threading

import pytest
from policy_helpers import MESSAGES, FakeClock, Script, error, ok, transports

import routerlib
from routerlib import RetryPolicy
from routerlib.exceptions import APIConnectionError, RateLimitError


def client_for(script: Script, clock: FakeClock, **kwargs: object) -> routerlib.Client:
    return routerlib.Client(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep,
                            environ={}, **transports(script), **kwargs)  # type: ignore[arg-type]


def call(client: routerlib.Client, **params: object) -> routerlib.ModelResponse:
    response = client.completion("openai/gpt-4o-mini", MESSAGES, api_key="k", **params)
    assert isinstance(response, routerlib.ModelResponse)
    return response


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses_are_retried_num_retries_times(status: int) -> None:
    script = Script({"gpt-4o-mini": [error(status)]})
    clock = FakeClock()
    with pytest.raises(routerlib.APIStatusError) as info:
        call(client_for(script, clock), num_retries=3)
    assert len(script.seen) == 4
    assert info.value.status_code == status
    assert len(info.value.attempts) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_non_retryable_statuses_are_sent_once(status: int) -> None:
    script = Script({"gpt-4o-mini": [error(status)]})
    with pytest.raises(routerlib.APIStatusError):
        call(client_for(script, FakeClock()), num_retries=5)
    assert len(script.seen) == 1


def test_context_window_and_content_policy_are_not_retried() -> None:
    for code in ("context_length_exceeded", "content_policy_violation"):
        script = Script({"gpt-4o-mini": [error(400, "nope", code=code)]})
        with pytest.raises(routerlib.BadRequestError):
            call(client_for(script, FakeClock()), num_retries=3)
        assert len(script.seen) == 1


def test_num_retries_zero_means_one_attempt() -> None:
    script = Script({"gpt-4o-mini": [error(503)]})
    with pytest.raises(routerlib.ServiceUnavailableError):
        call(client_for(script, FakeClock()), num_retries=0)
    assert len(script.seen) == 1


def test_default_is_two_retries_and_max_retries_is_an_alias() -> None:
    script = Script({"gpt-4o-mini": [error(500)]})
    with pytest.raises(routerlib.InternalServerError):
        call(client_for(script, FakeClock()))
    assert len(script.seen) == 3
    script = Script({"gpt-4o-mini": [error(500)]})
    with pytest.raises(routerlib.InternalServerError):
        call(client_for(script, FakeClock()), max_retries=1)
    assert len(script.seen) == 2


def test_client_policy_sets_the_default_and_call_overrides_it() -> None:
    script = Script({"gpt-4o-mini": [error(500)]})
    client = client_for(script, FakeClock(), policy=RetryPolicy(num_retries=4))
    with pytest.raises(routerlib.InternalServerError):
        call(client)
    assert len(script.seen) == 5
    script.seen.clear()
    with pytest.raises(routerlib.InternalServerError):
        call(client, num_retries=1)
    assert len(script.seen) == 2


def test_connection_errors_are_retried_then_raised_typed() -> None:
    script = Script({"gpt-4o-mini": [APIConnectionError("refused")]})
    with pytest.raises(APIConnectionError) as info:
        call(client_for(script, FakeClock()), num_retries=2)
    assert len(script.seen) == 3
    assert "3 attempts on 1 model" in str(info.value)


def test_unreadable_2xx_is_retried() -> None:
    from routerlib.transport import HTTPResponse

    script = Script({"gpt-4o-mini": [HTTPResponse(200, {}, b"<html>oops"), ok()]})
    response = call(client_for(script, FakeClock()), num_retries=1)
    assert response.choices[0].message.content == "hi"
    assert [a.outcome for a in response.attempts] == ["error", "ok"]
    assert response.attempts[0].error == "APIResponseValidationError"


def test_retry_after_ms_wins_over_retry_after() -> None:
    script = Script({"gpt-4o-mini": [error(429, headers={"retry-after-ms": "1500", "retry-after": "2"}), ok()]})
    clock = FakeClock()
    response = call(client_for(script, clock), num_retries=1)
    assert clock.sleeps == [1.5]
    assert response.attempts[1].waited == 1.5
    assert response.attempts[0].retry_after == 1.5


def test_retry_after_http_date_is_honoured() -> None:
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    script = Script({"gpt-4o-mini": [error(503, headers={"retry-after": when}), ok()]})
    clock = FakeClock()
    call(client_for(script, clock), num_retries=1)
    assert len(clock.sleeps) == 1 and 27 <= clock.sleeps[0] <= 30


def test_server_wait_beyond_cap_is_not_slept_and_error_carries_it() -> None:
    script = Script({"gpt-4o-mini": [error(429, headers={"retry-after": "120"})]})
    clock = FakeClock()
    with pytest.raises(RateLimitError) as info:
        call(client_for(script, clock), num_retries=3)
    assert clock.sleeps == []
    assert len(script.seen) == 1
    assert info.value.retry_after == 120


def test_server_wait_beyond_cap_moves_to_fallback_at_once() -> None:
    script = Script({"gpt-4o-mini": [error(429, headers={"retry-after": "120"})], "gpt-4o": [ok("gpt-4o")]})
    clock = FakeClock()
    response = call(client_for(script, clock), num_retries=3, fallbacks=["openai/gpt-4o"])
    assert clock.sleeps == []
    assert script.models() == ["gpt-4o-mini", "gpt-4o"]
    assert response.model == "gpt-4o"


def test_wait_past_the_deadline_is_not_slept() -> None:
    script = Script({"gpt-4o-mini": [error(429, headers={"retry-after": "5"})]})
    clock = FakeClock()
    with pytest.raises(RateLimitError):
        call(client_for(script, clock), num_retries=3, deadline=3)
    assert clock.sleeps == []
    assert len(script.seen) == 1


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    script = Script({"gpt-4o-mini": [error(500)]})
    clock = FakeClock()
    with pytest.raises(routerlib.InternalServerError):
        call(client_for(script, clock), num_retries=6)
    assert len(clock.sleeps) == 6
    bases = [0.5, 1, 2, 4, 8, 8]
    for slept, base in zip(clock.sleeps, bases, strict=True):
        assert base <= slept <= base + 0.25 or (base == 8 and slept == 8)


def test_custom_retry_on_and_backoff_values() -> None:
    policy = RetryPolicy(retry_on=(RateLimitError,), initial_backoff=0.1, max_backoff=0.1, jitter=0)
    script = Script({"gpt-4o-mini": [error(500)]})
    clock = FakeClock()
    with pytest.raises(routerlib.InternalServerError):
        call(client_for(script, clock, policy=policy), num_retries=3)
    assert len(script.seen) == 1  # 500 is not in retry_on
    script = Script({"gpt-4o-mini": [error(429)]})
    with pytest.raises(RateLimitError):
        call(client_for(script, clock, policy=policy), num_retries=2)
    assert clock.sleeps == [0.1, 0.1]


def test_policy_is_validated_and_immutable() -> None:
    with pytest.raises(ValueError, match="num_retries"):
        RetryPolicy(num_retries=-1)
    with pytest.raises(ValueError, match="max_backoff"):
        RetryPolicy(max_backoff=-2)
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.num_retries = 5  # type: ignore[misc]
    assert policy.replace(num_retries=5).num_retries == 5 and policy.num_retries == 2


def test_concurrent_calls_with_different_policies_do_not_interfere() -> None:
    results: dict[int, int] = {}

    def run(retries: int) -> None:
        script = Script({"gpt-4o-mini": [error(500)]})
        client = client_for(script, FakeClock())
        for _ in range(20):
            script.seen.clear()
            with pytest.raises(routerlib.InternalServerError):
                call(client, num_retries=retries)
            assert len(script.seen) == retries + 1
        results[retries] = len(script.seen)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: n + 1 for n in range(6)}


def test_exhausted_quota_is_not_retried_but_falls_back() -> None:
    script = Script({"gpt-4o-mini": [error(429, "You exceeded your current quota", code="insufficient_quota")],
                     "gpt-4o": [ok("gpt-4o")]})
    response = call(client_for(script, FakeClock()), num_retries=3, fallbacks=["openai/gpt-4o"])
    assert script.models() == ["gpt-4o-mini", "gpt-4o"]
    assert response.attempts[0].error == "RateLimitError"


def test_a_call_can_bring_its_own_policy() -> None:
    script = Script({"gpt-4o-mini": [error(500)], "gpt-4o": [ok("gpt-4o")]})
    client = client_for(script, FakeClock(), policy=RetryPolicy(num_retries=3))
    only_rate_limits = RetryPolicy(num_retries=3, retry_on=(RateLimitError,), fallback_on=())
    with pytest.raises(routerlib.InternalServerError):
        call(client, policy=only_rate_limits, fallbacks=["openai/gpt-4o"])
    assert script.models() == ["gpt-4o-mini"]  # neither retried nor fallen back, for this call only
    script.seen.clear()
    assert call(client, fallbacks=["openai/gpt-4o"]).model == "gpt-4o"
    assert script.models() == ["gpt-4o-mini"] * 4 + ["gpt-4o"]
    with pytest.raises(routerlib.InvalidRequestError, match="policy"):
        call(client, policy={"num_retries": 1})
