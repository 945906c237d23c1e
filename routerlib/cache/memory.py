"""``MemoryCache``: answers kept in this process, LRU-bounded in entries and in bytes.

Entries are the encoded bytes (``routerlib.cache.entry``), not response objects: their size
is known exactly, so the byte bound is a real bound, and every hit decodes a fresh response
that no other caller shares. An ``OrderedDict`` in recency order, behind one lock (reads
move an entry to the end, so they write too): every operation is O(1) and holds the lock
for a few dictionary operations, never across I/O. Expired entries are dropped when read,
and evicted first as the least recently used ones when room is needed.

The async methods run inline: nothing here blocks long enough to need a thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from .base import CacheBackend

__all__ = ["MemoryCache"]

#: Bytes counted per entry besides its key and value (dict slot, tuple, bytes headers): a
#: cache of tiny entries must not exceed its byte bound by its bookkeeping.
ENTRY_OVERHEAD = 200


class MemoryCache(CacheBackend):
    """An in-process LRU cache of answers.

    ``max_entries`` and ``max_bytes`` bound it (the least recently used entries go first);
    an answer larger than ``max_bytes`` is not stored. ``ttl``, ``namespace`` and
    ``per_user``: see ``CacheBackend``.
    """

    kind = "MemoryCache"

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024, *, ttl: float | None = None,
                 namespace: str = "default", per_user: bool = False) -> None:
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: must be an integer >= 1")
        super().__init__(ttl=ttl, namespace=namespace, per_user=per_user)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[bytes, float | None, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The bytes held, as counted against ``max_bytes``."""
        return self._bytes

    # The public operations skip the outage guard: a dict cannot be down.
    def get(self, key: str) -> bytes | None:
        return self._get(key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._set(key, value, self._ttl(ttl))

    def delete(self, key: str) -> None:
        self._delete(key)

    async def aget(self, key: str) -> bytes | None:
        return self._get(key)

    async def aset(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._set(key, value, self._ttl(ttl))

    async def adelete(self, key: str) -> None:
        self._delete(key)

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return None
            value, expires, _ = item
            if expires is not None and time.monotonic() >= expires:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        size = len(key) + len(value) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (value, expires, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        """Remove ``key`` (the lock is held)."""
        _, _, size = self._entries.pop(key)
        self._bytes -= size

    def _delete(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._drop(key)

    def _clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
