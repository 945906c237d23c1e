"""Single flight: concurrent identical requests in one process make one upstream call.

The first call for a key that misses the cache becomes the *leader* of a flight; identical
calls arriving while it runs become *followers* and wait for it instead of sending::

    leader:    lead(key) -> Flight ... upstream call ... finish(key, flight, (key, entry bytes))
    follower:  lead(key) -> the leader's Flight -> wait(timeout) -> the same entry bytes

Followers receive the leader's *encoded entry* (the bytes a backend would store) and decode
it themselves, so each gets its own response object, and sharing works even when the
backend is down or the leader's entry is too large to store.

Decisions, and why:

- **Errors are never shared.** When the leader fails (or its stream is cut off, or it stores
  nothing), it finishes with ``None``; every follower then makes its own call, in parallel,
  with its own retry policy and deadline. Handing one failure to twenty callers would turn
  one transient 503 into twenty failed calls; re-electing a leader among them would queue
  twenty calls behind a failing upstream one after another.
- **A follower's wait is bounded** by the caller (the call's own timeout and deadline): past
  it, the follower stops waiting and calls itself. A leader that never finishes cannot hold
  anyone longer than their own call could have taken.
- **Sync and async share one registry.** A flight holds a ``threading.Event`` for threads and
  a list of asyncio futures, each resolved on its own event loop (``call_soon_threadsafe``
  when the leader runs elsewhere), so a sync leader releases async followers and vice versa.
  Both are made only when someone waits: a flight nobody follows costs a dict entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from typing import Any, TypeVar

__all__ = ["Flight", "Published", "SingleFlight", "wait_at_most"]

T = TypeVar("T")

#: What a leader hands its followers: the key its entry was encoded under, and the entry bytes.
Published = tuple[str, bytes]


class Flight:
    """One upstream call in progress, and whoever waits for it.

    Cheap to make, since every miss makes one: the ``threading.Event`` and the list of async
    waiters are created only when a follower actually waits. All state changes hold the
    registry's lock.
    """

    __slots__ = ("_event", "_lock", "_waiters", "done", "result")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._event: threading.Event | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Published | None]]] | None = None
        self.done = False
        self.result: Published | None = None

    def wait(self, timeout: float) -> Published | None:
        """Block until the leader finishes (its entry, or None) or ``timeout`` passes (None)."""
        with self._lock:
            if self.done:
                return self.result
            if timeout <= 0:
                return None
            event = self._event
            if event is None:
                event = self._event = threading.Event()
        event.wait(timeout)
        return self.result if self.done else None

    async def await_result(self, timeout: float) -> Published | None:
        """The async twin of ``wait``: never blocks the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Published | None] = loop.create_future()
        with self._lock:
            if self.done:
                return self.result
            if timeout <= 0:
                return None
            if self._waiters is None:
                self._waiters = []
            self._waiters.append((loop, future))
        try:
            return await wait_at_most(future, timeout)
        finally:
            with self._lock:
                if self._waiters and (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
            future.cancel()  # a timed-out or cancelled wait: the leader's result finds it done

    def _resolve(self, result: Published | None) -> None:
        with self._lock:
            if self.done:
                return
            self.result = result
            self.done = True
            event, waiters, self._waiters = self._event, self._waiters, None
        if event is not None:
            event.set()
        if not waiters:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, future in waiters:
            if loop is running:
                _set(future, result)
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop: its waiter is gone with it
                    loop.call_soon_threadsafe(_set, future, result)


async def wait_at_most(future: asyncio.Future[T], timeout: float) -> T | None:
    """``future``'s result, or None when ``timeout`` passes first; a cancelled caller always raises
    ``CancelledError``.

    Not ``asyncio.wait_for``: on Python 3.11 and older, when the future resolves in the same loop
    turn as the caller is cancelled, wait_for returns the result and swallows the cancellation, so a
    cancelled follower went on to call upstream itself. ``asyncio.wait`` never completes a cancelled
    task normally; the future is left alone (not cancelled) on timeout, which the caller decides.
    """
    done, _ = await asyncio.wait((future,), timeout=timeout)
    return future.result() if done else None


def _set(future: asyncio.Future[Any], result: Published | None) -> None:
    if not future.done():
        future.set_result(result)


#: Flight tables to empty in a forked child (its parent's leaders are not running there).
_AFTER_FORK: weakref.WeakSet[SingleFlight] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for table in list(_AFTER_FORK):
        table._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


class SingleFlight:
    """The flights of one cache, by key. Thread-safe; shared by sync and async calls."""

    __slots__ = ("__weakref__", "_flights", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Flight] = {}
        _AFTER_FORK.add(self)

    def _after_fork(self) -> None:
        """In a forked child no leader of the parent's flights exists: none is waited for."""
        self._lock = threading.Lock()
        self._flights = {}

    def join(self, key: str, *, lead: bool = True) -> tuple[Flight | None, bool]:
        """(flight, True) when this call leads ``key``'s flight; (flight, False) when another call
        leads it and this one may follow; (None, False) when there is none and ``lead`` is False."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            if not lead:
                return None, False
            flight = self._flights[key] = Flight(self._lock)
            return flight, True

    def finish(self, key: str, flight: Flight, result: Published | None) -> None:
        """The leader is done: hand ``result`` (None: nothing to share) to every follower. Idempotent."""
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if flight._event is None and flight._waiters is None:  # nobody waits: done here, one lock
                if not flight.done:
                    flight.result, flight.done = result, True
                return
        flight._resolve(result)

    def __len__(self) -> int:
        return len(self._flights)
