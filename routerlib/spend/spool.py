"""The spool: records a ledger's store could not take, kept in process memory to write later.

Why it exists: by the time a call settles, the provider has answered and billed. If Redis is
down or the SQLite file is locked at that moment, throwing the record away would lose spend
that really happened (and the answer with it, if the error propagated). So a failed
``settle``/``record`` puts its record here and raises its ``LedgerError``; the core returns the
answer and reports the bookkeeping failure beside it. The ledger writes spooled records back
on its next successful write (a batch at a time), on ``flush_pending()``, and on ``close()``.

Why this shape:

- In memory, per ledger object, not a file: a second durable store would need its own locking,
  fsync and recovery, and it would fail in the same situations as the first (a full disk, a
  read-only mount). What is spooled is lost if the process dies before the store comes back;
  ``pending()`` lets an application persist it (``write_jsonl(path, ledger.pending())``).
- Keyed by ``call_id``: writing a record is idempotent per call id in every backend, so a
  record written twice (a timed-out write that did reach the store, then the retry) counts once.
- Bounded (``limit`` records, 10,000 by default; about 1 KB each): when full, the newest record
  is dropped, logged with its call id and counted in ``dropped``.
- The reservation of a spooled settle is *not* dropped (the store is unreachable): it keeps
  holding the worst case until the record is written or the reservation lapses, so a budget
  stays conservative while records wait.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from .records import SpendRecord

__all__ = ["DEFAULT_SPOOL_LIMIT", "Spool"]

#: How many records one ledger keeps while its store cannot take them.
DEFAULT_SPOOL_LIMIT = 10_000

_log = logging.getLogger("routerlib.spend")


class Spool:
    """Thread-safe, bounded, insertion-ordered records waiting to be written.

    Each entry is ``(record, settles)``: ``settles`` says whether writing it must also drop the
    call's reservation (a spooled ``settle``) or not (a spooled ``record``).
    """

    __slots__ = ("_items", "_lock", "dropped", "limit")

    def __init__(self, limit: int = DEFAULT_SPOOL_LIMIT) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"spool_limit must be an int >= 0; got {limit!r}")
        self.limit = limit
        self._items: OrderedDict[str, tuple[SpendRecord, bool]] = OrderedDict()
        self._lock = threading.Lock()
        #: Records refused because the spool was full (each was logged).
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def add(self, rec: SpendRecord, settles: bool) -> bool:
        """Keep ``rec`` for later; False (and logged) when the spool is full."""
        with self._lock:
            if rec.call_id in self._items:
                settles = settles or self._items[rec.call_id][1]
            elif len(self._items) >= self.limit:
                self.dropped += 1
                _log.error("spend spool full (%d records): record of call %s dropped", self.limit, rec.call_id)
                return False
            self._items[rec.call_id] = (rec, settles)
            return True

    def take(self, count: int) -> list[tuple[SpendRecord, bool]]:
        """Remove and return up to ``count`` of the oldest entries (the caller writes them)."""
        with self._lock:
            batch: list[tuple[SpendRecord, bool]] = []
            while self._items and len(batch) < count:
                batch.append(self._items.popitem(last=False)[1])
            return batch

    def put_back(self, entries: list[tuple[SpendRecord, bool]]) -> None:
        """Return entries that could not be written, at the front and in their order."""
        with self._lock:
            for rec, settles in reversed(entries):
                if rec.call_id not in self._items:
                    self._items[rec.call_id] = (rec, settles)
                    self._items.move_to_end(rec.call_id, last=False)

    def records(self) -> list[SpendRecord]:
        """A snapshot of the waiting records, oldest first."""
        with self._lock:
            return [rec for rec, _ in self._items.values()]
