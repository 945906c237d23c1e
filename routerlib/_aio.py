"""Awaiting with a time bound without losing the caller's cancellation.

``asyncio.wait_for`` on Python 3.11 and older returns the result, swallowing the caller's
cancellation, when the awaited operation finishes in the same loop turn as the cancel: the
cancelled call then goes on as if nothing had happened (after a cancelled ledger reserve or
router pick, to send upstream and be billed). ``asyncio.wait`` never completes a cancelled
waiter normally, so every bounded await on Redis and SQLite goes through ``bounded``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["bounded"]

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``await awaitable`` within ``timeout`` seconds (None: unbounded).

    Past the bound the operation is cancelled and ``asyncio.TimeoutError`` raised; a cancelled
    caller always gets ``CancelledError`` (and the operation is cancelled too).
    """
    future = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait((future,), timeout=timeout)
    except BaseException:
        future.cancel()
        raise
    if not done:
        future.cancel()
        raise asyncio.TimeoutError(f"no answer within {timeout:g} s")
    return future.result()
