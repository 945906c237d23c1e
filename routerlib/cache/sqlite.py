"""``SQLiteCache``: answers in one SQLite file, shared by the threads and processes of a machine.

Why it is built this way:

- ``journal_mode=WAL``: readers never wait for a writer, so a hit is one indexed read even
  while another process stores. ``synchronous=NORMAL``: a cache entry lost to a power cut is
  only a miss, so no fsync per write.
- A *short* busy timeout (``busy_timeout``, 0.1 s by default) bounds how long a write waits
  for another process's lock; past it the write is skipped (``CacheBackend``'s outage guard:
  one warning, then the call goes on). A ledger must wait for its lock; a cache need not.
- One connection per thread (``threading.local``); after ``fork`` a child opens its own.
- Async calls never touch SQLite on the event loop: each operation runs on a small thread pool
  of this cache's own (so a busy default executor cannot delay it), with a bounded wait.
- Expiry is wall-clock time (entries outlive the process). Expired rows are skipped on read
  and purged every ``_PURGE_EVERY`` writes; with ``max_entries``, the oldest rows beyond it go
  at the same time. The table name carries the format version, so a file written by an
  incompatible routerlib is ignored, never misread.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..exceptions import ConfigurationError
from .base import CacheBackend, config_seconds, config_size
from .keys import FORMAT_VERSION

__all__ = ["SQLiteCache"]

T = TypeVar("T")
_TABLE = f"routerlib_cache_v{FORMAT_VERSION}"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
    f"created REAL NOT NULL, expires REAL)",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_expires ON {_TABLE} (expires)",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_created ON {_TABLE} (created)",
)
_GET = f"SELECT value, expires FROM {_TABLE} WHERE key = ? AND length(value) <= ?"
_SET = f"INSERT OR REPLACE INTO {_TABLE} (key, value, created, expires) VALUES (?, ?, ?, ?)"
_PURGE_EVERY = 256


def _create_private(path: str) -> None:
    """Create the cache file readable by its owner only (0600), if it does not exist yet.

    Cached answers are the users' prompts' answers: sqlite3 would create the file 0644 (after the
    umask), readable by every account of a shared host. SQLite gives the ``-wal`` and ``-shm`` files
    the database file's own mode, so they follow. A file that already exists is the user's: its
    mode is left alone. ``O_EXCL`` makes a race with another process harmless (one creates it).
    """
    if path in ("", ":memory:") or path.startswith("file:"):
        return  # an in-memory database or a URI: no file of ours to create here
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return  # it exists (keep its mode), or cannot be created: sqlite3 reports that itself
    os.close(fd)


class _Handle:
    __slots__ = ("conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()


class SQLiteCache(CacheBackend):
    """A cache of answers in the SQLite file at ``path`` (created if missing).

    ``busy_timeout``: seconds a write waits for another process's lock before it is skipped.
    ``max_entries``: keep at most this many rows (oldest first out; checked every few hundred
    writes, so it can be exceeded briefly). ``max_value_bytes``: larger answers are not stored.
    """

    kind = "SQLiteCache"

    def __init__(self, path: str | os.PathLike[str], *, ttl: float | None = None, namespace: str = "default",
                 per_user: bool = False, busy_timeout: float = 0.1, max_entries: int | None = None,
                 max_value_bytes: int = 8 * 1024 * 1024, retry_interval: float = 5.0) -> None:
        super().__init__(ttl=ttl, namespace=namespace, per_user=per_user, retry_interval=retry_interval)
        self.busy_timeout = config_seconds("busy_timeout", busy_timeout, low=0.0, strict=False)
        self.max_entries = None if max_entries is None else config_size("max_entries", max_entries)
        self.max_value_bytes = config_size("max_value_bytes", max_value_bytes)
        self.path = os.fspath(path)
        self._local = threading.local()
        self._handles: list[_Handle] = []
        self._handles_lock = threading.Lock()
        self._writes = 0
        self._executor: ThreadPoolExecutor | None = None
        try:
            self._conn()  # a bad path fails here, at configuration time, not during a call
        except sqlite3.Error as exc:
            raise ConfigurationError(f"SQLiteCache({self.path!r}): cannot open the cache file: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and handle.pid == os.getpid():
            return handle.conn
        _create_private(self.path)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        handle = _Handle(conn)
        self._local.handle = handle
        with self._handles_lock:
            self._handles.append(handle)
        return conn

    # -- the operations (sync; async runs them on this cache's threads)
    def _get(self, key: str) -> bytes | None:
        row = self._conn().execute(_GET, (key, self.max_value_bytes)).fetchone()
        if row is None:
            return None
        value, expires = row
        if expires is not None and expires <= time.time():
            return None
        return bytes(value)

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        if len(value) > self.max_value_bytes:
            return
        now = time.time()
        conn = self._conn()
        conn.execute(_SET, (key, value, now, None if ttl is None else now + ttl))
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            self._purge(conn, now)

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute(f"DELETE FROM {_TABLE} WHERE expires IS NOT NULL AND expires <= ?", (now,))
        if self.max_entries is not None:
            conn.execute(f"DELETE FROM {_TABLE} WHERE key IN (SELECT key FROM {_TABLE} ORDER BY created "
                         f"LIMIT max(0, (SELECT count(*) FROM {_TABLE}) - ?))", (self.max_entries,))

    def purge(self) -> None:
        """Delete expired rows, and the oldest beyond ``max_entries``, now."""
        self._purge(self._conn(), time.time())

    def _delete(self, key: str) -> None:
        self._conn().execute(f"DELETE FROM {_TABLE} WHERE key = ?", (key,))

    def _clear(self) -> None:
        self._conn().execute(f"DELETE FROM {_TABLE}")

    def __len__(self) -> int:
        return int(self._conn().execute(f"SELECT count(*) FROM {_TABLE}").fetchone()[0])

    async def _aget(self, key: str) -> bytes | None:
        return await self._off_loop(self._get, key)

    async def _aset(self, key: str, value: bytes, ttl: float | None) -> None:
        await self._off_loop(lambda: self._set(key, value, ttl))

    async def _adelete(self, key: str) -> None:
        await self._off_loop(self._delete, key)

    async def _off_loop(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on this cache's threads; give up waiting after the busy timeout plus a margin.

        ``asyncio.wait``, not ``wait_for``: on Python 3.11 and older wait_for swallows the caller's
        cancellation when the operation finishes in the same loop turn, and the cancelled call
        would go on (to send upstream, say) as if nothing had happened."""
        executor = self._executor
        if executor is None:
            executor = self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="routerlib-sqlite-cache")
        future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        done, _ = await asyncio.wait((future,), timeout=self.busy_timeout + 1.0)
        if not done:
            future.cancel()
            raise TimeoutError(f"the SQLite operation took over {self.busy_timeout + 1.0:g} s")
        return future.result()

    def close(self) -> None:
        with self._handles_lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            if handle.pid == os.getpid():
                handle.conn.close()
        self._local = threading.local()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
