"""The Router's circuit breaker end to end, against real loopback servers with their own faults.

The breaker runs on the Router's clock, which these tests move by hand, so open times are
exact and no test sleeps through a cooldown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers
from routing_helpers import Clock

import routerlib
from routerlib import NoDeploymentAvailableError, RetryPolicy, Router

MESSAGES = [{"role": "user", "content": "hi"}]
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0.0)


@pytest.fixture
def servers() -> Iterator[list[FaultServer]]:
    with fault_servers("a", "b") as pair:
        yield pair


def router(servers: list[FaultServer], clock: Clock | None = None, **options: Any) -> Router:
    options.setdefault("policy", FAST)
    if clock is not None:
        options["clock"] = clock
    return Router([entry(s) for s in servers], environ={}, seed=1, **options)


def calls(r: Router, n: int, **params: Any) -> list[Any]:
    return [r.completion("chat", MESSAGES, **params) for _ in range(n)]


def test_a_deployment_failing_every_call_gets_only_its_trial_calls_once_open(servers: list[FaultServer]) -> None:
    a, _b = servers
    a.set(status=500)
    clock = Clock()
    r = router(servers, clock, allowed_fails=1, cooldown_time=5.0)
    answers = calls(r, 60)
    assert all(x.choices[0].message.content == "b" for x in answers)  # every call answered
    assert a.count() == 2  # the two failures in a row that opened it, then nothing
    assert r.health()["a"].state == "open"
    clock.advance(5.0)  # half-open: one trial among the next calls
    calls(r, 30)
    assert a.count() == 3
    assert r.health()["a"].openings == 2  # the trial failed: open again, for 10 s
    clock.advance(5.0)
    calls(r, 30)
    assert a.count() == 3  # still open (10 s)
    clock.advance(5.0)
    calls(r, 30)
    assert a.count() == 4


def test_recovery_through_half_open(servers: list[FaultServer]) -> None:
    a, _b = servers
    a.set(status=503)
    clock = Clock()
    r = router(servers, clock, allowed_fails=0, cooldown_time=5.0)
    calls(r, 10)
    assert r.health()["a"].state == "open"
    a.set(status=None)  # healed
    clock.advance(5.0)
    assert r.health()["a"].state == "half_open"
    answers = calls(r, 40)
    assert r.health()["a"].state == "closed"
    assert {x.choices[0].message.content for x in answers} == {"a", "b"}


def test_a_429_switches_deployment_at_once_and_opens_for_its_retry_after(servers: list[FaultServer]) -> None:
    a, _b = servers
    a.set(status=429, retry_after=30)
    clock = Clock()
    r = router(servers, clock)
    for _ in range(20):
        response = r.completion("chat", MESSAGES)
        assert response.choices[0].message.content == "b"
        if len(response.attempts) == 2:
            first, second = response.attempts
            assert (first.deployment_id, first.status_code) == ("a", 429)
            assert second.deployment_id == "b" and second.waited == 0.0  # switched, not slept 30 s
    assert a.count() == 1
    health = r.health()["a"]
    assert health.state == "open" and health.open_until is not None
    clock.advance(29.0)
    calls(r, 20)
    assert a.count() == 1  # honoured its Retry-After


def test_every_deployment_open_does_not_fail_instantly_it_trials_the_soonest(servers: list[FaultServer]) -> None:
    a, b = servers
    a.set(status=500)
    b.set(status=500)
    clock = Clock()
    r = router(servers, clock, allowed_fails=0, num_retries=0)
    with pytest.raises(routerlib.InternalServerError):
        r.completion("chat", MESSAGES)
    assert {h.state for h in r.health().values()} == {"open"}
    a.set(status=None)
    b.set(status=None)
    clock.advance(1.0)  # both still open for 4 s; a call still gets through as a trial
    response = r.completion("chat", MESSAGES)
    assert response.attempts[-1].strategy == "trial"
    assert "every deployment is open" in (response.attempts[-1].reason or "")
    assert r.health()[response.attempts[-1].deployment_id or ""].state == "closed"


def test_when_the_trial_fails_too_the_typed_error_says_until_when(servers: list[FaultServer]) -> None:
    a, b = servers
    a.set(status=500)
    b.set(status=500)
    clock = Clock()
    r = router(servers, clock, allowed_fails=0, num_retries=1)
    with pytest.raises(routerlib.InternalServerError):
        r.completion("chat", MESSAGES)
    before = a.count() + b.count()
    with pytest.raises(NoDeploymentAvailableError) as caught:
        r.completion("chat", MESSAGES)
    error = caught.value
    assert a.count() + b.count() == before + 1  # one trial, nothing more
    assert "all 2 deployments of chat are cooling down until" in str(error)
    assert error.open_until is not None and set(error.reasons) == {"a", "b"}
    assert [x.outcome for x in error.attempts] == ["error"]
    assert error.history is not None and "1 attempt" in error.history


def test_client_errors_never_open_a_deployment(servers: list[FaultServer]) -> None:
    a, b = servers
    a.set(status=400)
    b.set(status=400)
    r = router(servers, allowed_fails=0)
    for _ in range(10):
        with pytest.raises(routerlib.BadRequestError):
            r.completion("chat", MESSAGES)
    assert {h.state for h in r.health().values()} == {"closed"}
    assert a.count() + b.count() == 10  # no switch on a client error either


def test_authentication_errors_open_at_once(servers: list[FaultServer]) -> None:
    a, _b = servers
    a.set(status=401)
    r = router(servers, allowed_fails=100)
    calls(r, 20)
    assert a.count() == 1
    assert r.health()["a"].cause == "AuthenticationError 401"


def test_health_is_inspectable(servers: list[FaultServer]) -> None:
    r = router(servers)
    calls(r, 10)
    health = r.health()
    assert set(health) == {"a", "b"}
    total = sum(h.rpm_used for h in health.values())
    assert total == 10
    assert all(h.state == "closed" and h.in_flight == 0 and h.failure_rate == 0.0 for h in health.values())
    assert any(h.latency is not None for h in health.values())


def test_every_attempt_records_deployment_strategy_and_reason(servers: list[FaultServer]) -> None:
    a, _ = servers
    a.set(status=500)
    r = router(servers, routing_strategy="least-busy", allowed_fails=0)
    response = next(x for x in calls(r, 10) if len(x.attempts) == 2)
    first, second = response.attempts
    assert (first.deployment_id, first.strategy, second.deployment_id, second.strategy) == (
        "a", "least-busy", "b", "least-busy")
    assert first.reason is not None and first.reason.startswith("least-busy: 0 in flight")
