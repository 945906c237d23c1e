"""A circuit breaker per deployment: closed, open, half-open.

Anchors: Envoy's outlier detection (an ejection after consecutive 5xx, an ejection time that
grows with each ejection, capped at ``max_ejection_time``, 300 s by default) and
Resilience4j's breaker (a failure rate over a window once a minimum number of calls is
recorded; a limited number of trial calls while half-open). LiteLLM's cooldown is a fixed
5 s timer whose re-cooling keeps the earlier deadline (#40130); this is not that::

                 failure rate >= failure_rate over the window (>= min_calls calls),
                 more than allowed_fails failures in a row,
                 401/403/404 at once, 429 for its Retry-After
       ┌────────┐ ──────────────────────────────────────────────▶ ┌──────┐
       │ CLOSED │                                                  │ OPEN │ no traffic until open_until
       └────────┘ ◀──────────┐                                     └──────┘
            ▲                │ a trial succeeds                       │ open time is up
            │                │                                        ▼
            │          ┌───────────┐   a trial fails: open again,  ┌───────────┐
            │          │ HALF-OPEN │ ────────────────────────────▶ │   OPEN    │
            │          └───────────┘   for twice as long            └───────────┘
            │   (at most half_open_trials trial calls in flight at once)
            └── reset_after successes in a row forget the growth

Open time: ``cooldown_time`` (5 s, LiteLLM's default) doubling with each opening in a row,
capped at ``max_cooldown`` (300 s, Envoy's cap); a new opening never shortens one in force.
A 429 opens the deployment for the server's Retry-After (else ``cooldown_time``, capped the
same way) without growing the open time: rate limiting is load, not a fault. Client errors
(400, 422, context window, content policy, unsupported params) say nothing about the
deployment and never count.

Every method takes ``now`` (seconds on the router's clock), so the machine is a pure value
machine that tests drive without sleeping; ``routing/redis_state.py`` runs the same rules in
Lua over Redis hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..exceptions import (
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RouterlibError,
    UnprocessableEntityError,
)

__all__ = [
    "Breaker",
    "BreakerConfig",
    "verdict",
]

State = Literal["closed", "open", "half_open"]
#: What an attempt's outcome means for its deployment.
Verdict = Literal["ok", "failure", "fatal", "rate_limited", "neutral"]

#: Buckets of the failure-rate window (its resolution is window / WINDOW_BUCKETS).
WINDOW_BUCKETS = 10


def verdict(error: RouterlibError | None) -> Verdict:
    """How an attempt's outcome counts against its deployment (see the module docstring)."""
    if error is None:
        return "ok"
    if isinstance(error, RateLimitError):
        return "rate_limited"
    if isinstance(error, AuthenticationError | PermissionDeniedError | NotFoundError):
        return "fatal"
    if isinstance(error, BadRequestError | UnprocessableEntityError):
        return "neutral"
    if isinstance(error, APIStatusError) and error.status_code is not None and error.status_code < 500 \
            and error.status_code not in (408, 409):
        return "neutral"  # another 4xx (418, 413...): the request, not the deployment
    if isinstance(error, APIError):
        return "failure"  # 5xx, 408, 409, connection, timeout, unreadable 2xx, broken stream
    return "neutral"  # budgets, templates: nothing to do with the deployment


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """The breaker's settings (the Router's ``allowed_fails`` and ``cooldown_time`` land here).

    Defaults and where they come from: ``allowed_fails`` 3 and ``cooldown_time`` 5 s are
    LiteLLM's; ``failure_rate`` 50% is Resilience4j's and LiteLLM's; ``min_calls`` 10 sits
    between LiteLLM's 5 and Resilience4j's 100 (LLM traffic is sparse, 5 is noisy);
    ``window`` 60 s is LiteLLM's per-minute count; ``max_cooldown`` 300 s is Envoy's
    ``max_ejection_time``; one trial in flight while half-open (Resilience4j permits 10, which
    against an LLM deployment that is still down costs ten failed calls).
    """

    allowed_fails: int = 3
    failure_rate: float = 0.5
    min_calls: int = 10
    window: float = 60.0
    cooldown_time: float = 5.0
    max_cooldown: float = 300.0
    half_open_trials: int = 1
    reset_after: int = 5

    def __post_init__(self) -> None:
        from ..exceptions import RouterConfigError

        checks = {
            "allowed_fails": isinstance(self.allowed_fails, int) and self.allowed_fails >= 0,
            "failure_rate": _number(self.failure_rate) and 0 < self.failure_rate <= 1,
            "min_calls": isinstance(self.min_calls, int) and self.min_calls >= 1,
            "window": _number(self.window) and self.window > 0,
            "cooldown_time": _number(self.cooldown_time) and self.cooldown_time > 0,
            "max_cooldown": _number(self.max_cooldown) and self.max_cooldown >= self.cooldown_time,
            "half_open_trials": isinstance(self.half_open_trials, int) and self.half_open_trials >= 1,
            "reset_after": isinstance(self.reset_after, int) and self.reset_after >= 1,
        }
        allowed = {"allowed_fails": "a whole number >= 0", "failure_rate": "a fraction in (0, 1]",
                   "min_calls": "a whole number >= 1", "window": "seconds > 0",
                   "cooldown_time": "seconds > 0", "max_cooldown": "seconds >= cooldown_time",
                   "half_open_trials": "a whole number >= 1", "reset_after": "a whole number >= 1"}
        for name, ok in checks.items():
            if not ok:
                raise RouterConfigError(f"{name}={getattr(self, name)!r}: must be {allowed[name]}")

    def open_time(self, openings: int) -> float:
        """Seconds of the next opening after ``openings`` in a row: doubling, capped."""
        if openings >= 30:
            return self.max_cooldown
        return float(min(self.cooldown_time * (1 << openings), self.max_cooldown))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Breaker:
    """One deployment's breaker. Not thread-safe by itself: the health store holds a lock."""

    __slots__ = (
        "_fail",
        "_ok",
        "_stamp",
        "_width",
        "cause",
        "config",
        "consecutive",
        "open_until",
        "openings",
        "successes",
        "trials",
    )

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        #: 0.0 while closed; else when the open time ends (the breaker is half-open after it).
        self.open_until = 0.0
        #: Openings in a row (the growth of the open time); reset by ``reset_after`` successes.
        self.openings = 0
        self.consecutive = 0
        self.successes = 0
        #: Trial calls in flight while half-open.
        self.trials = 0
        #: Why it last opened, e.g. "4 failures in a row (last: InternalServerError 500)".
        self.cause = ""
        n = WINDOW_BUCKETS
        self._ok = [0] * n
        self._fail = [0] * n
        self._stamp = [-1] * n
        self._width = config.window / n

    # -- reading
    def state(self, now: float) -> State:
        if self.open_until == 0.0:
            return "closed"
        return "open" if now < self.open_until else "half_open"

    def admits(self, now: float) -> bool:
        """Whether a call may go now (closed, or a free trial slot while half-open)."""
        if self.open_until == 0.0:
            return True
        return now >= self.open_until and self.trials < self.config.half_open_trials

    def refusal(self, now: float) -> str:
        """Why ``admits`` said no, for the attempt and the error."""
        if now < self.open_until:
            return f"open for {self.open_until - now:.1f} s more ({self.cause})"
        return f"half-open, {self.trials} trial call(s) in flight"

    def counts(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the window."""
        oldest = int(now // self._width) - WINDOW_BUCKETS
        calls = fails = 0
        for i, stamp in enumerate(self._stamp):
            if stamp > oldest:
                calls += self._ok[i] + self._fail[i]
                fails += self._fail[i]
        return calls, fails

    def failure_rate(self, now: float) -> float:
        calls, fails = self.counts(now)
        return fails / calls if calls else 0.0

    # -- writing
    def acquire(self, now: float) -> bool:
        """Take a call slot (``admits`` was checked): True if the call is a half-open trial."""
        if self.open_until != 0.0:
            self.trials += 1
            return True
        return False

    def force_trial(self) -> None:
        """Let one call through while open: every deployment of its group is open, and this one
        reopens first (the call would otherwise fail without trying anything)."""
        self.trials += 1

    def record(self, kind: Verdict, now: float, *, trial: bool = False, retry_after: float | None = None,
               detail: str = "") -> bool:
        """Apply one attempt's outcome. Returns True if this outcome opened the breaker."""
        if trial and self.trials:
            self.trials -= 1
        if kind == "ok":
            self._count(now, failed=False)
            self.consecutive = 0
            self.successes += 1
            if self.open_until and (trial or now >= self.open_until):
                self.open_until = 0.0  # a trial succeeded: close
                self.successes = 1
            if self.successes >= self.config.reset_after:
                self.openings = 0
            return False
        if kind == "neutral":
            return False
        if kind == "rate_limited":
            wait = self.config.cooldown_time if retry_after is None else retry_after
            asked = "" if retry_after is None else f", Retry-After {retry_after:g} s"
            return self._open(now, min(max(wait, 0.0), self.config.max_cooldown), f"{detail or '429'}{asked}",
                              grow=False)
        if kind == "fatal":
            return self._open(now, self.config.open_time(self.openings), detail, grow=True)
        return self._failure(now, trial, detail)

    def _failure(self, now: float, trial: bool, detail: str) -> bool:
        self._count(now, failed=True)
        self.consecutive += 1
        self.successes = 0
        config = self.config
        if self.open_until:
            if trial or now >= self.open_until:  # a half-open trial failed: open again, longer
                return self._open(now, config.open_time(self.openings), f"trial failed: {detail}", grow=True)
            return False  # a call sent before it opened: already counted by the opening
        if self.consecutive > config.allowed_fails:
            return self._open(now, config.open_time(self.openings),
                              f"{self.consecutive} failures in a row (last: {detail})", grow=True)
        calls, fails = self.counts(now)
        if calls >= config.min_calls and fails >= config.failure_rate * calls:
            return self._open(now, config.open_time(self.openings),
                              f"{fails} of {calls} calls failed in {config.window:g} s (last: {detail})",
                              grow=True)
        return False

    def _open(self, now: float, seconds: float, cause: str, *, grow: bool) -> bool:
        until = now + seconds
        if until <= self.open_until:
            return False  # never shorten an opening in force
        self.open_until = until
        self.cause = cause
        if grow:
            self.openings += 1
        self.consecutive = 0
        self.successes = 0
        self.trials = 0
        self._stamp = [-1] * WINDOW_BUCKETS  # a fresh window after reopening (as Resilience4j)
        return True

    def _count(self, now: float, *, failed: bool) -> None:
        idx = int(now // self._width)
        slot = idx % WINDOW_BUCKETS
        if self._stamp[slot] != idx:
            self._stamp[slot] = idx
            self._ok[slot] = 0
            self._fail[slot] = 0
        if failed:
            self._fail[slot] += 1
        else:
            self._ok[slot] += 1
