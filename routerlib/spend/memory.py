"""``MemoryLedger``: the default ledger, one per client, held in process memory.

One ``threading.Lock`` guards all state, so a reservation's check-and-hold and a settle's
drop-and-write are each atomic among the client's threads (the LiteLLM failure mode this
avoids: two concurrent requests each reading "under budget" and both going ahead).
Nothing survives the process: use ``SQLiteLedger`` or ``RedisLedger`` to keep spend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal

from .base import LedgerBase
from .budget import Budget, BudgetCheck, Reservation, enforce, plan_checks, reserved_by_bucket
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
        #: Running totals keyed "<window id>|<bucket>", as in ``base.aggregate``.
        self._totals: dict[str, Decimal] = {}
        self._reservations: dict[str, Reservation] = {}

    def _write(self, rec: SpendRecord) -> bool:
        """Store a record and add it to the running totals; caller holds the lock."""
        if rec.call_id in self._records:
            return False
        self._records[rec.call_id] = rec
        if rec.cost:
            for window in window_ids(rec.timestamp):
                for bucket in rec.buckets:
                    key = f"{window}|{bucket}"
                    self._totals[key] = EXACT.add(self._totals.get(key, ZERO), rec.cost)
        return True

    def record(self, rec: SpendRecord) -> bool:
        with self._lock:
            return self._write(rec)

    def reserve(
        self,
        call_id: str,
        amount: Decimal,
        *,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        budgets: Sequence[Budget] = (),
        now: float | None = None,
    ) -> None:
        """Check every applicable budget and hold ``amount``, or raise and hold nothing.

        Reserving again under the same ``call_id`` replaces the earlier hold (which does not
        count against the new one), so a retried reserve never double-books.
        """
        value, tags, when = self._reserve_args(call_id, amount, tags, budgets, now)
        checks = plan_checks(budgets, user, team, tags, when)
        with self._lock:
            self._reservations = {k: r for k, r in self._reservations.items() if r.expires > when}
            reserved = reserved_by_bucket(r for k, r in self._reservations.items() if k != call_id)

            def spent_of(check: BudgetCheck) -> Decimal:
                return self._totals.get(f"{check.window_id}|{check.bucket}", ZERO)

            enforce(checks, value, spent_of, lambda bucket: reserved.get(bucket, ZERO))
            buckets = frozenset(record_buckets(user, team, tags))
            self._reservations[call_id] = Reservation(value, when + self.reservation_ttl, buckets)

    def settle(self, call_id: str, rec: SpendRecord) -> bool:
        self._settle_args(call_id, rec)
        with self._lock:
            self._reservations.pop(call_id, None)
            return self._write(rec)

    def release(self, call_id: str) -> None:
        with self._lock:
            self._reservations.pop(call_id, None)

    def reserved(self, *, now: float | None = None) -> dict[str, Decimal]:
        """Outstanding (unexpired) reserved amount per bucket: for tests and dashboards."""
        import time

        when = time.time() if now is None else now
        with self._lock:
            return reserved_by_bucket(r for r in self._reservations.values() if r.expires > when)

    def close(self) -> None:
        """Nothing to release; the records stay readable."""

    def _iter(self, filters: Filters, newest: int | None) -> Iterable[SpendRecord]:
        with self._lock:
            snapshot = list(self._records.values())
        matching = sorted((r for r in snapshot if filters.matches(r)), key=lambda r: (r.timestamp, r.call_id))
        return iter_newest(matching, newest)

    def _sum(self, filters: Filters) -> Decimal:
        bucket = filters.single_bucket()
        if bucket is not None:
            with self._lock:
                return self._totals.get(f"total|{bucket}", ZERO)
        return super()._sum(filters)

    def verify(self) -> bool:
        """See ``LedgerBase.verify``; records and totals are read under one lock acquisition."""
        with self._lock:
            expected = aggregate(self._records.values())
            return {k: v for k, v in self._totals.items() if v} == expected

    def _stored_aggregates(self) -> dict[str, Decimal]:
        with self._lock:
            return {k: v for k, v in self._totals.items() if v}
