"""What every cache backend shares: settings, the outage guard, and the single-flight registry.

A backend implements a handful of private byte operations (``_get``, ``_set``, ``_delete``,
their async twins, ``_clear``); the public ones wrap them in the *outage guard*:

- an operation that fails (Redis unreachable or timing out, SQLite locked past its busy
  timeout, a disk error) is skipped -- a read is a miss, a write is dropped -- and the call
  goes on as if there were no cache;
- the first failure logs one warning (logger ``routerlib``) naming the backend and the error
  type; while the backend is down, operations are not even tried for ``retry_interval``
  seconds, so a dead Redis costs a call at most one timeout per interval, never one per
  operation; the first operation after that probes it, and success logs that it is back.

So a cache can make a call faster, never fail it, and never slow it by more than one bounded
timeout. Backends bound their own waits: ``RedisCache(timeout=...)``, ``SQLiteCache(busy_timeout=...)``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from .control import check_namespace
from .single_flight import SingleFlight

__all__ = ["CacheBackend", "LockResult"]

logger = logging.getLogger("routerlib")
T = TypeVar("T")

#: ``get_or_lock`` outcomes besides a value: the lock is ours, another process holds it, or
#: no lock was taken (a hit, a backend without locks, or one that is down).
LockResult = Literal["locked", "held", "no_lock"]
NO_LOCK: LockResult = "no_lock"


class _Outage:
    """Whether a backend is down, with one warning per outage."""

    __slots__ = ("_lock", "down_until", "name", "retry_interval")

    def __init__(self, name: str, retry_interval: float) -> None:
        self.name = name
        self.retry_interval = retry_interval
        self.down_until: float | None = None
        self._lock = threading.Lock()

    def skipping(self) -> bool:
        """True while the backend is down and not yet due for a probe."""
        until = self.down_until
        return until is not None and time.monotonic() < until

    def failed(self, exc: BaseException, describe: Callable[[BaseException], str]) -> None:
        with self._lock:
            first = self.down_until is None
            self.down_until = time.monotonic() + self.retry_interval
        if first:
            logger.warning("routerlib cache %s is unavailable (%s); calls go on without it and it is "
                           "tried again every %.0f s", self.name, describe(exc), self.retry_interval)

    def succeeded(self) -> None:
        if self.down_until is not None:
            with self._lock:
                was_down, self.down_until = self.down_until is not None, None
            if was_down:
                logger.info("routerlib cache %s is available again", self.name)


class CacheBackend:
    """The base of ``MemoryCache``, ``SQLiteCache`` and ``RedisCache``.

    ``ttl``: default seconds an entry lives (None: until evicted); a call's ``cache={"ttl": ...}``
    replaces it for that entry. ``namespace``: the default namespace (a call's
    ``cache={"namespace": ...}`` replaces it). ``per_user``: scope entries by the caller's
    ``metadata["user"]`` (else the OpenAI ``user``); a call with neither is then not cached at all.
    """

    #: Short name used in warnings.
    kind = "cache"

    def __init__(self, *, ttl: float | None = None, namespace: str = "default", per_user: bool = False,
                 retry_interval: float = 5.0) -> None:
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0):
            raise ValueError(f"ttl={ttl!r}: must be seconds > 0, or None for no expiry")
        if not isinstance(per_user, bool):
            raise TypeError(f"per_user={per_user!r}: must be True or False")
        if isinstance(retry_interval, bool) or not isinstance(retry_interval, int | float) or retry_interval <= 0:
            raise ValueError(f"retry_interval={retry_interval!r}: must be seconds > 0")
        self.ttl = None if ttl is None else float(ttl)
        self.namespace = check_namespace(namespace)
        self.per_user = per_user
        self.flights = SingleFlight()
        self._outage = _Outage(self.kind, float(retry_interval))

    # -- the guarded operations the call uses
    @property
    def available(self) -> bool:
        """False while the backend is known to be down (operations are being skipped)."""
        return not self._outage.skipping()

    def get(self, key: str) -> bytes | None:
        return self._guard(lambda: self._get(key), None)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._guard(lambda: self._set(key, value, self._ttl(ttl)), None)

    def delete(self, key: str) -> None:
        self._guard(lambda: self._delete(key), None)

    async def aget(self, key: str) -> bytes | None:
        return await self._aguard(lambda: self._aget(key), None)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._aguard(lambda: self._aset(key, value, self._ttl(ttl)), None)

    async def adelete(self, key: str) -> None:
        await self._aguard(lambda: self._adelete(key), None)

    # -- cross-process single flight (RedisCache; the others take no locks)
    #: Seconds to wait for another process's answer before calling anyway (0: no cross-process lock).
    lock_wait = 0.0
    #: Seconds a lock lives if its holder dies before releasing it.
    lock_ttl = 0.0

    def get_or_lock(self, key: str, token: str | None) -> tuple[bytes | None, LockResult]:
        """The value of ``key``; on a miss with a ``token``, try to take ``key``'s lock with it.

        Returns (value, "no_lock") on a hit or when no lock was asked or can be taken,
        (None, "locked") when this caller now holds the lock, (None, "held") when another does.
        """
        return self.get(key), NO_LOCK

    async def aget_or_lock(self, key: str, token: str | None) -> tuple[bytes | None, LockResult]:
        return await self.aget(key), NO_LOCK

    def set_and_unlock(self, key: str, value: bytes | None, ttl: float | None,
                       locked: str | None = None, token: str | None = None) -> None:
        """Store ``value`` under ``key`` (None: store nothing), then release the lock taken on
        ``locked`` with ``token``, in one round trip where the backend allows."""
        if value is not None:
            self.set(key, value, ttl)

    async def aset_and_unlock(self, key: str, value: bytes | None, ttl: float | None,
                              locked: str | None = None, token: str | None = None) -> None:
        if value is not None:
            await self.aset(key, value, ttl)

    def clear(self) -> None:
        """Remove every entry of this cache (all namespaces)."""
        self._clear()

    def close(self) -> None:
        """Release connections or handles (the cache stays usable)."""

    async def aclose(self) -> None:
        self.close()

    # -- for subclasses
    def _ttl(self, ttl: float | None) -> float | None:
        return self.ttl if ttl is None else ttl

    def _guard(self, op: Callable[[], T], default: T) -> T:
        outage = self._outage
        if outage.down_until is not None and outage.skipping():
            return default
        try:
            result = op()
        except Exception as exc:
            outage.failed(exc, self._describe)
            return default
        if outage.down_until is not None:
            outage.succeeded()
        return result

    async def _aguard(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        outage = self._outage
        if outage.down_until is not None and outage.skipping():
            return default
        try:
            result = await op()
        except Exception as exc:
            outage.failed(exc, self._describe)
            return default
        if outage.down_until is not None:
            outage.succeeded()
        return result

    def _describe(self, exc: BaseException) -> str:
        """The error for the warning: its type and a bounded message (subclasses redact more)."""
        return f"{type(exc).__name__}: {str(exc)[:200]}"

    def _get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        raise NotImplementedError

    def _delete(self, key: str) -> None:
        raise NotImplementedError

    async def _aget(self, key: str) -> bytes | None:
        return self._get(key)

    async def _aset(self, key: str, value: bytes, ttl: float | None) -> None:
        self._set(key, value, ttl)

    async def _adelete(self, key: str) -> None:
        self._delete(key)

    def _clear(self) -> None:
        raise NotImplementedError
