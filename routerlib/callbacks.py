"""Callbacks: observe calls (for logging and metrics) without being able to break them.

A callback is any object with some of these methods; each is called with one argument:

- ``on_attempt(attempt)``: every attempt, ok, failed or skipped (``routerlib.Attempt``);
- ``on_retry(error)``: before sleeping for a retry of the same deployment;
- ``on_fallback(error)``: when the call moves to its next deployment;
- ``on_success(response)`` / ``on_failure(error)``: once per call.

A callback that raises is logged (logger ``routerlib``) and ignored: observability must
never fail the call it observes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

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
