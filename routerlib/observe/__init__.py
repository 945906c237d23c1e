"""Observing calls: events with call and attempt ids, and the observers that receive them.

See ``events`` for the event sequence of one call. ``routerlib.callbacks`` adapts the older
``callbacks=[...]`` objects (on_attempt, on_retry, on_fallback, on_success, on_failure) to an
observer.
"""

from .events import (
    AttemptEnd,
    AttemptStart,
    CallEnd,
    CallStart,
    Event,
    Fallback,
    FirstToken,
    Observer,
    Observers,
    Retry,
    StreamEnd,
)

__all__ = [
    "AttemptEnd",
    "AttemptStart",
    "CallEnd",
    "CallStart",
    "Event",
    "Fallback",
    "FirstToken",
    "Observer",
    "Observers",
    "Retry",
    "StreamEnd",
]
