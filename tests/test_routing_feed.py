"""routing.feed: observer events become health-store reports, releases and first tokens."""

from __future__ import annotations

from typing import Any

from routerlib import exceptions as ex
from routerlib.observe.events import AttemptEnd, CallEnd, FirstToken, Observers
from routerlib.routing.feed import HealthFeed
from routerlib.types import Attempt, Usage

RECORD = Attempt(model="m", provider="openai", outcome="ok")


class Spy:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def report(self, call_id: str, deployment_id: str, outcome: Any) -> None:
        self.calls.append(("report", call_id, deployment_id, outcome))

    def release(self, call_id: str) -> None:
        self.calls.append(("release", call_id))

    def first_token(self, call_id: str, deployment_id: str, seconds: float) -> None:
        self.calls.append(("first_token", call_id, deployment_id, seconds))


def end(outcome: str, error: ex.RouterlibError | None = None, usage: Usage | None = None) -> AttemptEnd:
    return AttemptEnd("c", 1, "d0", "openai", "m", outcome, 0.5, RECORD, usage, None, None, error, 1.0)  # type: ignore[arg-type]


def test_an_answer_reports_its_usage_and_latency() -> None:
    spy = Spy()
    HealthFeed(spy).on_attempt_end(end("ok", usage=Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10)))
    [(kind, call, dep, outcome)] = spy.calls
    assert (kind, call, dep) == ("report", "c", "d0")
    assert (outcome.verdict, outcome.latency, outcome.tokens, outcome.completion_tokens) == ("ok", 0.5, 10, 3)


def test_an_error_reports_its_verdict_retry_after_and_detail() -> None:
    spy = Spy()
    HealthFeed(spy).on_attempt_end(end("error", ex.RateLimitError("slow", status_code=429, retry_after=7.0)))
    outcome = spy.calls[0][3]
    assert (outcome.verdict, outcome.retry_after, outcome.detail, outcome.tokens) == (
        "rate_limited", 7.0, "RateLimitError 429", None)


def test_a_skipped_attempt_releases_the_pick() -> None:
    spy = Spy()
    HealthFeed(spy).on_attempt_end(end("skipped"))
    assert spy.calls == [("release", "c")]


def test_first_tokens_are_passed_on_and_the_feed_is_dispatched_by_observers() -> None:
    spy = Spy()
    observers = Observers([HealthFeed(spy)])
    assert observers.wants(AttemptEnd) and observers.wants(FirstToken)
    assert not observers.wants(CallEnd)  # a routed call builds no CallEnd for the Router
    observers.emit(FirstToken("c", 1, "d0", 0.25, 1.0))
    assert spy.calls == [("first_token", "c", "d0", 0.25)]
