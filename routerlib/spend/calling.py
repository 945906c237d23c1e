"""Calling a ledger from sync or async code, whatever it implements, and bounding the time.

``run_sync`` and ``run_async`` are what the core calls: they work with every ledger shipped here
(``AsyncLedger``) and with a ledger of your own that implements only the first, sync version of
the ``Ledger`` protocol -- no ``timeout``/``ttl`` keywords, no async twins. For such a ledger
``run_async`` runs the sync method in a worker thread, so the event loop is never blocked.

``in_thread`` is the one way ledgers leave the event loop (``SQLiteLedger``'s async twins use it
with a small executor of their own). Its rule on cancellation: a job still queued never runs;
a job already running is waited for (it is bounded by its own timeout) before the cancellation
propagates. Otherwise a cancelled ``areserve`` could commit *after* the caller's ``release``,
leaving a hold nobody owns until it lapses.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

#: A ledger (``spend.base.Ledger``), named loosely here: this module is what ``base`` itself uses
#: to leave the event loop, so it cannot import ``base``'s protocol.
Ledger = Any

__all__ = ["check_timeout", "in_thread", "run_async", "run_sync"]

_T = TypeVar("_T")

#: The keywords added to the protocol after its first version: left out for methods that lack them.
_NEWER_KEYWORDS = ("timeout", "ttl")
_accepts_cache: dict[tuple[type, str], frozenset[str] | None] = {}


def _fit(ledger: object, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` less the newer keywords that ``ledger.<name>`` does not take (checked once per type)."""
    key = (type(ledger), name)
    try:
        accepted = _accepts_cache[key]
    except KeyError:
        params = inspect.signature(getattr(ledger, name)).parameters.values()
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        accepted = None if takes_any else frozenset(p.name for p in params)
        _accepts_cache[key] = accepted
    if accepted is None:
        return kwargs
    return {k: v for k, v in kwargs.items() if k in accepted or k not in _NEWER_KEYWORDS}


def run_sync(ledger: Ledger, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``ledger.<name>(*args, **kwargs)``, leaving out ``timeout``/``ttl`` if it does not take them."""
    return getattr(ledger, name)(*args, **_fit(ledger, name, kwargs))


async def run_async(ledger: Ledger, name: str, *args: Any, **kwargs: Any) -> Any:
    """Await ``ledger.a<name>(...)`` when the ledger has it, else run ``ledger.<name>(...)`` in a thread.

    The fallback for ledgers that implement only the sync protocol: their calls leave the event
    loop free, and are bounded only by the ledger itself (``timeout`` is passed when it is taken).
    """
    twin = "a" + name
    if hasattr(ledger, twin):
        result: Any = await getattr(ledger, twin)(*args, **_fit(ledger, twin, kwargs))
        return result
    method = functools.partial(getattr(ledger, name), *args, **_fit(ledger, name, kwargs))
    return await in_thread(method)


class _Job:
    """A function for a worker thread that can still be called off while it waits in the queue."""

    __slots__ = ("fn", "lock", "state")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.lock = threading.Lock()
        self.state = 0  # 0 queued, 1 running, 2 called off

    def __call__(self) -> Any:
        with self.lock:
            if self.state == 2:
                return None
            self.state = 1
        return self.fn()

    def call_off(self) -> bool:
        """True if the job had not started (and now never will)."""
        with self.lock:
            if self.state == 0:
                self.state = 2
                return True
            return False


async def in_thread(fn: Callable[[], _T], executor: Executor | None = None) -> _T:
    """Run ``fn`` in a worker thread (``executor``, else the loop's default) and await its result.

    On cancellation a job still queued never runs; a job already running is waited for before
    the cancellation propagates, so whatever the caller does next (e.g. release a reservation)
    happens after it, never before.
    """
    loop = asyncio.get_running_loop()
    job = _Job(fn)
    future = loop.run_in_executor(executor, job)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if not job.call_off():
            await asyncio.wait([future])
            if not future.cancelled():
                future.exception()  # retrieved: it is the caller's cancellation that propagates
        raise


def check_timeout(timeout: float | None) -> float | None:
    """A timeout as seconds (None: no bound); +inf means no bound, NaN or a non-number is refused."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise ValueError(f"timeout must be seconds (a number) or None; got {timeout!r}")
    return None if math.isinf(timeout) and timeout > 0 else float(timeout)


