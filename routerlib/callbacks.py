"""Callbacks: observe calls (for logging and metrics) without being able to break them.

A callback is any object with some of these methods; each is called with one argument:

- ``on_attempt(attempt)``: every attempt, ok, failed or skipped (``routerlib.Attempt``);
- ``on_retry(error)``: before sleeping for a retry of the same deployment;
- ``on_fallback(error)``: when the call moves to its next deployment;
- ``on_success(response)`` / ``on_failure(error)``: once per call.

A callback that raises is logged (logger ``routerlib``) and ignored: observability must
never fail the call it observes. Callbacks are one observer (``CallbacksObserver``) of the
client's observer events (``routerlib.observe``), which carry more: call and attempt ids,
start events and timings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .observe.events import AttemptEnd, CallEnd, Fallback, Observer, Retry

__all__ = [
    "Callbacks",
    "CallbacksObserver",
]

logger = logging.getLogger("routerlib")

EVENTS = ("on_attempt", "on_retry", "on_fallback", "on_success", "on_failure")


class Callbacks:
    """The callbacks of one client, called in order."""

    def __init__(self, callbacks: Sequence[Any] = ()) -> None:
        for callback in callbacks:
            if not any(callable(getattr(callback, name, None)) for name in EVENTS):
                raise TypeError(f"callback {callback!r} has none of the methods {', '.join(EVENTS)}")
        self._by_event = {name: tuple(getattr(c, name) for c in callbacks
                                      if callable(getattr(c, name, None))) for name in EVENTS}
        self.active = bool(callbacks)

    def emit(self, event: str, payload: Any) -> None:
        if not self.active:
            return
        for method in self._by_event[event]:
            try:
                method(payload)
            except Exception:
                logger.warning("routerlib callback %r failed on %s; ignored", method, event, exc_info=True)


class CallbacksObserver(Observer):
    """The ``callbacks=[...]`` of a client, fed from the observer events."""

    def __init__(self, callbacks: Callbacks) -> None:
        self._callbacks = callbacks

    def on_attempt_end(self, event: AttemptEnd) -> None:
        self._callbacks.emit("on_attempt", event.record)

    def on_retry(self, event: Retry) -> None:
        self._callbacks.emit("on_retry", event.error)

    def on_fallback(self, event: Fallback) -> None:
        self._callbacks.emit("on_fallback", event.error)

    def on_call_end(self, event: CallEnd) -> None:
        if event.outcome == "ok":
            self._callbacks.emit("on_success", event.response)
        elif event.error is not None:
            self._callbacks.emit("on_failure", event.error)
