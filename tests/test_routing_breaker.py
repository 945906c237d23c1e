"""routing.breaker: the state machine of the issue's Health section, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from routerlib import exceptions as ex
from routerlib.routing.breaker import Breaker, BreakerConfig, verdict

NOW = 1000.0


def breaker(**config: object) -> Breaker:
    return Breaker(BreakerConfig(**config))  # type: ignore[arg-type]


def fail(b: Breaker, now: float = NOW, n: int = 1, **kw: object) -> bool:
    opened = False
    for _ in range(n):
        opened = b.record("failure", now, detail="InternalServerError 500", **kw) or opened  # type: ignore[arg-type]
    return opened


@pytest.mark.parametrize(("error", "expected"), [
    (None, "ok"),
    (ex.RateLimitError("x", status_code=429), "rate_limited"),
    (ex.AuthenticationError("x", status_code=401), "fatal"),
    (ex.MissingAPIKeyError("x"), "fatal"),
    (ex.PermissionDeniedError("x", status_code=403), "fatal"),
    (ex.NotFoundError("x", status_code=404), "fatal"),
    (ex.BadRequestError("x", status_code=400), "neutral"),
    (ex.ContextWindowExceededError("x", status_code=400), "neutral"),
    (ex.ContentPolicyViolationError("x", status_code=400), "neutral"),
    (ex.UnsupportedParamsError("x"), "neutral"),
    (ex.UnprocessableEntityError("x", status_code=422), "neutral"),
    (ex.APIStatusError("teapot", status_code=418), "neutral"),
    (ex.InternalServerError("x", status_code=500), "failure"),
    (ex.ServiceUnavailableError("x", status_code=503), "failure"),
    (ex.RequestTimeoutError("x", status_code=408), "failure"),
    (ex.ConflictError("x", status_code=409), "failure"),
    (ex.APIConnectionError("x"), "failure"),
    (ex.APITimeoutError("x"), "failure"),
    (ex.APIResponseValidationError("x"), "failure"),
    (ex.StreamInterruptedError("x"), "failure"),
    (ex.BudgetExceededError("x", limit=0, spent=0, reserved=0, requested=None, scope="global"), "neutral"),  # type: ignore[arg-type]
])
def test_verdicts(error: ex.RouterlibError | None, expected: str) -> None:
    assert verdict(error) == expected


def test_opens_after_more_than_allowed_fails_in_a_row() -> None:
    b = breaker(allowed_fails=3)
    assert not fail(b, n=3)
    assert b.state(NOW) == "closed"
    assert fail(b)
    assert b.state(NOW) == "open"
    assert b.open_until == NOW + 5.0
    assert "4 failures in a row" in b.cause


def test_allowed_fails_zero_opens_on_the_first_failure() -> None:
    b = breaker(allowed_fails=0)
    assert fail(b)


def test_a_success_resets_the_run_of_failures() -> None:
    b = breaker(allowed_fails=2, min_calls=100)
    for _ in range(10):
        fail(b, n=2)
        b.record("ok", NOW)
    assert b.state(NOW) == "closed"


def test_failure_rate_over_the_window_with_a_minimum_of_calls() -> None:
    b = breaker(allowed_fails=100, min_calls=10, failure_rate=0.5)
    for _ in range(4):  # 8 calls, 4 failed: 50% but under the minimum
        b.record("ok", NOW)
        assert not fail(b)
    b.record("ok", NOW)
    assert fail(b)  # 10 calls, 5 failed
    assert "5 of 10 calls failed" in b.cause


def test_failures_that_left_the_window_do_not_count() -> None:
    b = breaker(allowed_fails=100, min_calls=4, failure_rate=0.5, window=60.0)
    fail(b, NOW, n=3)
    later = NOW + 61.0
    for _ in range(3):
        b.record("ok", later)
    assert not fail(b, later)  # 1 of 4 in the window
    assert b.counts(later) == (4, 1)


def test_authentication_permission_and_not_found_open_at_once() -> None:
    b = breaker()
    assert b.record("fatal", NOW, detail="AuthenticationError 401")
    assert b.state(NOW) == "open"
    assert b.cause == "AuthenticationError 401"


def test_a_429_opens_for_its_retry_after_without_growth() -> None:
    b = breaker(cooldown_time=5.0)
    assert b.record("rate_limited", NOW, retry_after=12.0, detail="RateLimitError 429")
    assert b.open_until == NOW + 12.0
    assert b.openings == 0
    assert b.cause == "RateLimitError 429, Retry-After 12 s"
    b2 = breaker(cooldown_time=5.0)
    b2.record("rate_limited", NOW)
    assert b2.open_until == NOW + 5.0
    assert b2.cause == "429"


def test_a_429_wait_is_capped() -> None:
    b = breaker(max_cooldown=300.0)
    b.record("rate_limited", NOW, retry_after=86400.0)
    assert b.open_until == NOW + 300.0


def test_a_new_opening_never_shortens_one_in_force() -> None:
    b = breaker()
    b.record("rate_limited", NOW, retry_after=60.0)
    assert not b.record("rate_limited", NOW + 1, retry_after=1.0)
    assert b.open_until == NOW + 60.0
    assert not b.record("fatal", NOW + 1)  # 5 s from now ends before the 60 s in force
    assert b.open_until == NOW + 60.0


def test_client_errors_never_count() -> None:
    b = breaker(allowed_fails=0, min_calls=1)
    for _ in range(50):
        assert not b.record("neutral", NOW)
    assert b.state(NOW) == "closed"
    assert b.counts(NOW) == (0, 0)


def test_open_time_doubles_from_cooldown_time_capped_at_300_seconds() -> None:
    b = breaker(allowed_fails=0, cooldown_time=5.0)
    now = NOW
    seen = []
    for _ in range(9):
        fail(b, now)
        seen.append(b.open_until - now)
        now = b.open_until  # half-open
        assert b.state(now) == "half_open"
        assert b.admits(now)
        assert b.acquire(now)  # a trial
    assert seen == [5, 10, 20, 40, 80, 160, 300, 300, 300]


def test_half_open_admits_a_limited_number_of_trials() -> None:
    b = breaker(allowed_fails=0, half_open_trials=2)
    fail(b)
    later = b.open_until
    assert b.admits(later) and b.acquire(later)
    assert b.admits(later) and b.acquire(later)
    assert not b.admits(later)
    assert "2 trial call(s) in flight" in b.refusal(later)


def test_a_trial_success_closes_and_a_run_of_successes_resets_the_growth() -> None:
    b = breaker(allowed_fails=0, reset_after=3)
    fail(b)
    fail(b, b.open_until, trial=True)  # reopened for 10 s
    assert b.openings == 2
    now = b.open_until
    b.acquire(now)
    b.record("ok", now, trial=True)
    assert b.state(now) == "closed"
    assert b.openings == 2  # not yet forgotten
    b.record("ok", now)
    b.record("ok", now)
    assert b.openings == 0


def test_a_trial_failure_opens_again_for_longer() -> None:
    b = breaker(allowed_fails=0, cooldown_time=5.0)
    fail(b)
    now = b.open_until
    b.acquire(now)
    assert fail(b, now, trial=True)
    assert b.open_until == now + 10.0
    assert b.cause.startswith("trial failed")


def test_a_late_failure_of_a_call_sent_before_the_opening_does_not_extend_it() -> None:
    b = breaker(allowed_fails=0)
    fail(b)
    until = b.open_until
    assert not fail(b, NOW + 1)
    assert b.open_until == until


def test_a_forced_trial_success_closes_even_while_open() -> None:
    b = breaker(allowed_fails=0)
    fail(b)
    b.force_trial()
    b.record("ok", NOW + 1, trial=True)
    assert b.state(NOW + 1) == "closed"


def test_a_429_on_a_trial_reopens_for_its_wait() -> None:
    b = breaker(allowed_fails=0)
    fail(b)
    now = b.open_until
    b.acquire(now)
    b.record("rate_limited", now, trial=True, retry_after=2.0)
    assert b.open_until == now + 2.0
    assert b.trials == 0


@pytest.mark.parametrize(("field", "value"), [
    ("allowed_fails", -1), ("failure_rate", 0), ("failure_rate", 1.5), ("min_calls", 0), ("window", 0),
    ("cooldown_time", 0), ("max_cooldown", 1.0), ("half_open_trials", 0), ("reset_after", 0),
    ("allowed_fails", 1.5), ("cooldown_time", True),
])
def test_bad_settings_are_refused_with_what_is_allowed(field: str, value: object) -> None:
    with pytest.raises(ex.RouterConfigError, match=f"{field}=.*must be"):
        BreakerConfig(**{field: value})  # type: ignore[arg-type]
