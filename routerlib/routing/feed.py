"""The observer a Router registers on itself: attempt events in, health-store reports out.

The health store steers from the same facts tracers see (``routerlib.observe``): an
attempt's end settles its pick's reservation and feeds the breaker and the latency averages;
a stream's first token feeds the time-to-first-token average; a skipped attempt (the core's
own context check) gives the reservation back. A pick whose call failed without any attempt
(a budget refusal, the deadline right after the pick) is given back by the source's
``ended`` hook, so a routed call builds no ``CallEnd`` for the Router.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..observe.events import AttemptEnd, FirstToken, Observer
from .breaker import verdict
from .health import Outcome

if TYPE_CHECKING:
    from .health import HealthStore

__all__ = [
    "HealthFeed",
]


class HealthFeed(Observer):
    def __init__(self, store: HealthStore) -> None:
        self._store = store

    def on_attempt_end(self, event: AttemptEnd) -> None:
        outcome = event.outcome
        if outcome == "ok":  # the common case first
            usage = event.usage
            self._store.report(event.call_id, event.deployment_id, Outcome(
                "ok", event.latency, usage.total_tokens if usage is not None else None,
                usage.completion_tokens if usage is not None else None))
        elif outcome == "error":
            error = event.error
            status = getattr(error, "status_code", None)
            name = type(error).__name__
            self._store.report(event.call_id, event.deployment_id, Outcome(
                verdict(error), event.latency, retry_after=getattr(error, "retry_after", None),
                detail=f"{name} {status}" if status else name))
        else:  # skipped before sending (the core's context check), or answered from a cache
            self._store.release(event.call_id)

    def on_first_token(self, event: FirstToken) -> None:
        self._store.first_token(event.call_id, event.deployment_id, event.seconds)
