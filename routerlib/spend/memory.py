"""``MemoryLedger``: the default ledger, one per client, held in process memory.

One ``threading.Lock`` guards all state, so a reservation's check-and-hold and a settle's
drop-and-write are each atomic among the client's threads (the LiteLLM failure mode this
avoids: two concurrent requests each reading "under budget" and both going ahead).
Per-bucket counters of spend and of outstanding reservations keep every operation O(1) in
the number of records and of calls in flight; a heap of expiry times finds expired holds.
Nothing survives the process: use ``SQLiteLedger`` or ``RedisLedger`` to keep spend.

The async twins (``areserve``, ``asettle``, ...) run inline on the event loop: each is a few
microseconds of dict work under a lock that is never held across I/O, cheaper than the
hand-off to a thread would be (measured, a reserve + settle pair including the record's
construction: 34 us inline, as sync, against 187 us through ``asyncio.to_thread``).
``timeout`` is accepted and has nothing to bound; this ledger never fails, so nothing is
ever spooled.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Unpack

from .base import FilterArgs, LedgerBase
from .budget import BudgetCheck, Reservation, adjust, enforce, reserved_by_bucket
from .records import (
    DEFAULT_RESERVATION_TTL,
    EXACT,
    ZERO,
    Filters,
    SpendRecord,
    aggregate,
    iter_newest,
    record_buckets,
    window_ids,
)

__all__ = ["MemoryLedger"]


class MemoryLedger(LedgerBase):
    """An in-process ledger: thread-safe, exact (Decimal throughout), forgotten at exit."""

    def __init__(self, *, reservation_ttl: float = DEFAULT_RESERVATION_TTL) -> None:
        super().__init__(reservation_ttl=reservation_ttl)
        self._lock = threading.Lock()
        self._records: dict[str, SpendRecord] = {}
        #: Running totals keyed "<window id>|<bucket>", as in ``records.aggregate``.
        self._totals: dict[str, Decimal] = {}
        self._reservations: dict[str, Reservation] = {}
        #: Outstanding reserved amount per bucket (the sum of ``_reservations``).
        self._reserved: dict[str, Decimal] = {}
        #: (expires, call_id), possibly stale: an entry counts only if the reservation still has that expiry.
        self._expiry: list[tuple[float, str]] = []

    # -- state changes; the caller holds the lock ---------------------------------------------

    def _write(self, rec: SpendRecord) -> bool:
        """Store a record and add it to the running totals."""
        if rec.call_id in self._records:
            return False
        self._records[rec.call_id] = rec
        if rec.cost:
            for window in window_ids(rec.timestamp):
                for bucket in rec.buckets:
                    key = f"{window}|{bucket}"
                    self._totals[key] = EXACT.add(self._totals.get(key, ZERO), rec.cost)
        return True

    def _drop(self, call_id: str) -> None:
        held = self._reservations.pop(call_id, None)
        if held is not None:
            adjust(self._reserved, held.buckets, -held.amount)

    def _prune(self, now: float) -> None:
        """Drop reservations that expired at or before ``now``."""
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires, call_id = heapq.heappop(heap)
            held = self._reservations.get(call_id)
            if held is not None and held.expires == expires:
                self._drop(call_id)
        if len(heap) > 2 * len(self._reservations) + 64:  # settled calls leave stale entries behind
            self._expiry = [(r.expires, k) for k, r in self._reservations.items()]
            heapq.heapify(self._expiry)

    # -- the Ledger API -----------------------------------------------------------------------

    def _write_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        with self._lock:
            if settles:
                self._drop(rec.call_id)
            return self._write(rec)

    def _reserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        with self._lock:
            self._prune(when)
            previous = self._reservations.get(call_id)

            def spent_of(check: BudgetCheck) -> Decimal:
                return self._totals.get(f"{check.window_id}|{check.bucket}", ZERO)

            def reserved_of(bucket: str) -> Decimal:
                held = self._reserved.get(bucket, ZERO)
                return EXACT.subtract(held, previous.share(bucket)) if previous is not None else held

            enforce(checks, value, spent_of, reserved_of)
            self._drop(call_id)
            hold = Reservation(value, expires, frozenset(record_buckets(user, team, tags)))
            self._reservations[call_id] = hold
            adjust(self._reserved, hold.buckets, value)
            heapq.heappush(self._expiry, (hold.expires, call_id))

    def _release(self, call_id: str, timeout: float | None) -> None:
        with self._lock:
            self._drop(call_id)

    def _close(self) -> None:
        """Nothing to release; the records stay readable."""

    # -- async twins: inline (see the module docstring) -----------------------------------------

    async def _awrite_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        return self._write_record(rec, settles, timeout)

    async def _areserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        self._reserve(call_id, value, checks, user, team, tags, when, expires, timeout)

    async def _arelease(self, call_id: str, timeout: float | None) -> None:
        self._release(call_id, timeout)

    async def atotal(self, **filters: Unpack[FilterArgs]) -> Decimal:
        return self.total(**filters)

    # -- reads --------------------------------------------------------------------------------

    def _iter(self, filters: Filters, newest: int | None) -> Iterable[SpendRecord]:
        with self._lock:
            snapshot = list(self._records.values())
        matching = sorted((r for r in snapshot if filters.matches(r)), key=lambda r: (r.timestamp, r.call_id))
        return iter_newest(matching, newest)

    def _bucket_total(self, bucket: str) -> Decimal:
        with self._lock:
            return self._totals.get(f"total|{bucket}", ZERO)

    def verify(self) -> bool:
        """See ``LedgerBase.verify``; everything is read under one acquisition of the lock."""
        with self._lock:
            totals_ok = {k: v for k, v in self._totals.items() if v} == aggregate(self._records.values())
            return totals_ok and self._reserved == reserved_by_bucket(self._reservations.values())

    def _stored_aggregates(self) -> dict[str, Decimal]:
        with self._lock:
            return {k: v for k, v in self._totals.items() if v}

    def _all_reservations(self) -> list[Reservation]:
        with self._lock:
            return list(self._reservations.values())

    def _stored_reservations(self) -> tuple[dict[str, Decimal], list[Reservation]]:
        with self._lock:
            return dict(self._reserved), list(self._reservations.values())
