"""``RedisCache``: answers shared by every process and host that reaches one Redis server.

Keys (``P`` is the prefix, "routerlib:cache:" by default)::

    P <key>           string  the encoded entry (routerlib.cache.entry), with PX = the ttl
    P lock:<key>      string  a random token while one process fetches <key>'s answer

One round trip per step, each a Lua script (registered once, run with EVALSHA):

- ``get_or_lock``: the entry if there is one (a hit is one round trip and one GET on the
  server); on a miss, take the key's lock with ``SET NX PX`` in the same script. An entry larger
  than ``max_value_bytes`` or of the wrong Redis type is deleted there and then, never sent
  back: what is read is bounded.
- ``set_and_unlock``: store the answer and release the lock (only if it still holds our token,
  so a lock that expired and was taken by another process is left alone).

Cross-process single flight: a process that finds the lock held polls for the entry with a
short backoff, at most ``lock_wait`` seconds (and never past the call's own time), then calls
upstream itself. The lock lives ``lock_ttl`` seconds, so a holder that dies frees it.

Every command has a bounded wait (``timeout``, default 0.25 s, for a free pooled connection, for
connecting and for each reply) and no client-side retries. The pools are blocking pools of
``max_connections`` (64): redis-py's default pool *fails* past 100 connections, which a burst of
concurrent calls would take for an outage. So: a Redis that is down or slow costs a call at most one
timeout, then the outage guard skips it (``routerlib.cache.base``). The async methods use
``redis.asyncio`` (one client per event loop), never the blocking client on the loop.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from .base import NO_LOCK, CacheBackend, LockResult

__all__ = ["RedisCache"]

_GET_OR_LOCK = """
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'string' then
  if #v <= tonumber(ARGV[1]) then return v end
  redis.call('DEL', KEYS[1])
elseif type(v) == 'table' and v.err then
  redis.call('DEL', KEYS[1])
end
if ARGV[2] == '' then return 0 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 2
"""

_SET_AND_UNLOCK = """
if ARGV[4] == '1' then
  if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""

_LOCK_RESULTS: dict[int, LockResult] = {0: NO_LOCK, 1: "locked", 2: "held"}


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("RedisCache needs the redis package: pip install routerlib[redis]") from None
    return redis


def _ms(seconds: float | None) -> str:
    return "0" if seconds is None else str(max(1, int(seconds * 1000)))


class RedisCache(CacheBackend):
    """A cache of answers in Redis at ``url``.

    ``timeout``: seconds to connect and to wait for each reply. ``lock_wait``: seconds to wait
    for another process fetching the same answer (0 turns cross-process single flight off).
    ``lock_ttl``: how long such a lock lives if its holder dies. ``max_value_bytes``: larger
    answers are neither stored nor read. ``max_connections``: per client (the sync one, and one per
    event loop); a burst of calls queues for a connection (at most ``timeout``) instead of failing.
    ``prefix``: put it in a hash tag (``"{rl}:cache:"``) on Redis Cluster, so a key and its lock
    share a slot.
    """

    kind = "RedisCache"

    def __init__(self, url: str = "redis://localhost:6379/0", *, ttl: float | None = None,
                 namespace: str = "default", per_user: bool = False, prefix: str = "routerlib:cache:",
                 timeout: float = 0.25, lock_wait: float = 10.0, lock_ttl: float = 30.0,
                 max_value_bytes: int = 8 * 1024 * 1024, max_connections: int = 64,
                 retry_interval: float = 5.0) -> None:
        super().__init__(ttl=ttl, namespace=namespace, per_user=per_user, retry_interval=retry_interval)
        for name, value in (("timeout", timeout), ("lock_wait", lock_wait), ("lock_ttl", lock_ttl)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name}={value!r}: must be seconds >= 0")
        if timeout <= 0 or lock_ttl <= 0:
            raise ValueError("timeout and lock_ttl must be > 0 seconds")
        redis = _import_redis()
        self.url = url
        self.prefix = prefix
        self.timeout = float(timeout)
        self.lock_wait = float(lock_wait)
        self.lock_ttl = float(lock_ttl)
        self.max_value_bytes = int(max_value_bytes)
        self.max_connections = int(max_connections)
        pool = redis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=self.timeout,
                                                     **self._options(redis.retry.Retry))
        self._redis: Any = redis.Redis(connection_pool=pool)
        self._get_or_lock: Any = self._redis.register_script(_GET_OR_LOCK)
        self._set_and_unlock: Any = self._redis.register_script(_SET_AND_UNLOCK)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any, Any]] = (
            weakref.WeakKeyDictionary())

    def _options(self, retry_class: Any) -> dict[str, Any]:
        from redis.backoff import NoBackoff

        return {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout,
                "retry": retry_class(NoBackoff(), 0), "retry_on_timeout": False, "decode_responses": False}

    def _aclient(self) -> tuple[Any, Any, Any]:
        """This event loop's client and scripts (an asyncio connection belongs to one loop)."""
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is None:
            import redis.asyncio as aredis
            from redis.asyncio.retry import Retry

            pool = aredis.BlockingConnectionPool.from_url(self.url, max_connections=self.max_connections,
                                                          timeout=self.timeout, **self._options(Retry))
            client = aredis.Redis(connection_pool=pool)
            found = (client, client.register_script(_GET_OR_LOCK), client.register_script(_SET_AND_UNLOCK))
            self._async[loop] = found
        return found

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _lock_key(self, key: str) -> str:
        return self.prefix + "lock:" + key

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {str(exc)[:200]}"
        password = _password(self.url)
        return text.replace(password, "<hidden>") if password else text

    # -- byte operations
    def _lookup_args(self, key: str, token: str | None) -> tuple[list[str], list[Any]]:
        return [self._k(key), self._lock_key(key)], [self.max_value_bytes, token or "", _ms(self.lock_ttl)]

    def _get(self, key: str) -> bytes | None:
        value = self._get_or_lock(*self._lookup_args(key, None))
        return value if isinstance(value, bytes) else None

    async def _aget(self, key: str) -> bytes | None:
        _, script, _ = self._aclient()
        value = await script(*self._lookup_args(key, None))
        return value if isinstance(value, bytes) else None

    def get_or_lock(self, key: str, token: str | None) -> tuple[bytes | None, LockResult]:
        result = self._guard(lambda: self._get_or_lock(*self._lookup_args(key, token)), 0)
        return _lookup_result(result)

    async def aget_or_lock(self, key: str, token: str | None) -> tuple[bytes | None, LockResult]:
        async def run() -> Any:
            _, script, _ = self._aclient()
            return await script(*self._lookup_args(key, token))

        return _lookup_result(await self._aguard(run, 0))

    def _store_args(self, key: str, value: bytes | None, ttl: float | None, locked: str | None,
                    token: str | None) -> tuple[list[str], list[Any]]:
        lock_key = self._lock_key(locked if locked is not None else key)
        return [self._k(key), lock_key], [value or b"", _ms(ttl), token or "", "0" if value is None else "1"]

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        if len(value) > self.max_value_bytes:
            return
        self._set_and_unlock(*self._store_args(key, value, ttl, None, None))

    async def _aset(self, key: str, value: bytes, ttl: float | None) -> None:
        if len(value) > self.max_value_bytes:
            return
        _, _, script = self._aclient()
        await script(*self._store_args(key, value, ttl, None, None))

    def set_and_unlock(self, key: str, value: bytes | None, ttl: float | None,
                       locked: str | None = None, token: str | None = None) -> None:
        if value is not None and len(value) > self.max_value_bytes:
            value = None
        if value is None and token is None:
            return
        args = self._store_args(key, value, self._ttl(ttl), locked, token)
        self._guard(lambda: self._set_and_unlock(*args), None)

    async def aset_and_unlock(self, key: str, value: bytes | None, ttl: float | None,
                              locked: str | None = None, token: str | None = None) -> None:
        if value is not None and len(value) > self.max_value_bytes:
            value = None
        if value is None and token is None:
            return
        args = self._store_args(key, value, self._ttl(ttl), locked, token)

        async def run() -> None:
            _, _, script = self._aclient()
            await script(*args)

        await self._aguard(run, None)

    def _delete(self, key: str) -> None:
        self._redis.delete(self._k(key))

    async def _adelete(self, key: str) -> None:
        client, _, _ = self._aclient()
        await client.delete(self._k(key))

    def _clear(self) -> None:
        pattern = _glob_escape(self.prefix) + "*"
        batch: list[bytes] = []
        for name in self._redis.scan_iter(match=pattern, count=500):
            batch.append(name)
            if len(batch) >= 500:
                self._redis.delete(*batch)
                batch = []
        if batch:
            self._redis.delete(*batch)

    def close(self) -> None:
        self._redis.close()

    async def aclose(self) -> None:
        found = self._async.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[0].aclose()
        self.close()


def _lookup_result(result: Any) -> tuple[bytes | None, LockResult]:
    if isinstance(result, bytes):
        return result, NO_LOCK
    return None, _LOCK_RESULTS.get(result if isinstance(result, int) else 0, NO_LOCK)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None
