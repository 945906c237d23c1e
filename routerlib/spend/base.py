"""Spend records, budgets and the ``Ledger`` protocol that every backend implements.

One call's life in the ledger::

    reserve(call_id, worst_case, budgets=...)    every applicable budget, all at once:
         │                                        spent in window + reserved + amount <= limit
         │                                        or BudgetExceededError and nothing reserved
         ▼
    provider call ──failed──► release(call_id)    drop the reservation (idempotent)
         │
         └──answered──► settle(call_id, record)   drop the reservation and write the record,
                                                  in one atomic step

Budgets are checked against *buckets*: "global", "user:<name>", "team:<name>", "tag:<name>".
Every backend keeps a running total per (window, bucket) -- window ids "day:YYYY-MM-DD",
"month:YYYY-MM" and "total", all in UTC -- updated in the same atomic step that writes the
record, so a budget check reads a few numbers instead of scanning history. ``verify()``
recomputes those totals from the records to prove they agree.

Reservations expire (``reservation_ttl``, 15 minutes by default) so that a process that
crashed between reserve and settle cannot hold budget forever. The price of that liveness:
a call whose reservation expired before it settled is still recorded (records are never
lost), so such a late call can take a bucket past its limit.

Shared logic is written once for every backend: ``records`` (SpendRecord, filters, exact
money, aggregates), ``budget`` (Budget, windows, the check and its error), ``export`` (JSONL,
CSV) and ``LedgerBase`` here (argument checks, queries, exports, ``verify``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Protocol, TypedDict, TypeVar, runtime_checkable

from .budget import Budget, BudgetCheck, Reservation, Scope, Window, plan_checks, reserved_by_bucket
from .records import (
    DEFAULT_RESERVATION_TTL,
    EXACT,
    ZERO,
    Filters,
    SpendRecord,
    aggregate,
    check_name,
    dec_sum,
    normalise_tags,
    to_decimal,
    utc_day,
)

if TYPE_CHECKING:
    import os

    from typing_extensions import Unpack

__all__ = ["Budget", "FilterArgs", "Filters", "Ledger", "LedgerBase", "Scope", "SpendRecord", "Window"]


class FilterArgs(TypedDict, total=False):
    """The keyword filters of ``total``, ``records``, ``totals_by_day`` and the exports (see ``Filters``).

    Each is optional; None (or leaving it out) matches every record.
    """

    user: str | None
    team: str | None
    tag: str | None
    model: str | None
    since: float | None


@runtime_checkable
class Ledger(Protocol):
    """Where spend is recorded and budgets are enforced. Implementations must be thread-safe."""

    def record(self, rec: SpendRecord) -> bool:
        """Store a record; True if new, False if this call_id was already recorded (counted once)."""
        ...

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
        """Hold ``amount`` against every applicable budget atomically, or raise BudgetExceededError."""
        ...

    def settle(self, call_id: str, rec: SpendRecord) -> bool:
        """Drop the call's reservation and write its record, atomically."""
        ...

    def release(self, call_id: str) -> None:
        """Drop the call's reservation (no-op if there is none)."""
        ...

    def total(self, **filters: Unpack[FilterArgs]) -> Decimal: ...

    def records(self, *, limit: int | None = None, **filters: Unpack[FilterArgs]) -> list[SpendRecord]: ...

    def totals_by_day(self, **filters: Unpack[FilterArgs]) -> dict[str, Decimal]: ...

    def export_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Unpack[FilterArgs]) -> int: ...

    def export_csv(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Unpack[FilterArgs]) -> int: ...

    def close(self) -> None: ...


_L = TypeVar("_L", bound="LedgerBase")


class LedgerBase(ABC):
    """What every backend shares: argument checks, queries over ``_iter``, exports and ``verify``.

    A backend implements storage (``record``, ``_reserve``, ``settle``, ``release``, ``_iter``,
    ``_bucket_total``, ``_all_reservations``, ``_stored_aggregates``, ``_stored_reservations``)
    and may override ``_sum`` with something faster than a scan.
    """

    def __init__(self, *, reservation_ttl: float = DEFAULT_RESERVATION_TTL) -> None:
        ttl = reservation_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ValueError(f"reservation_ttl must be seconds > 0; got {reservation_ttl!r}")
        self.reservation_ttl = float(reservation_ttl)

    @abstractmethod
    def record(self, rec: SpendRecord) -> bool: ...

    @abstractmethod
    def settle(self, call_id: str, rec: SpendRecord) -> bool: ...

    @abstractmethod
    def release(self, call_id: str) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _reserve(
        self, call_id: str, amount: Decimal, checks: list[BudgetCheck],
        user: str | None, team: str | None, tags: tuple[str, ...], when: float
    ) -> None:
        """``reserve()`` once its arguments are checked: hold ``amount`` if every check passes, atomically."""

    @abstractmethod
    def _iter(self, filters: Filters, newest: int | None) -> Iterable[SpendRecord]:
        """Matching records, oldest first; only the newest ``newest`` of them when given."""

    @abstractmethod
    def _bucket_total(self, bucket: str) -> Decimal:
        """The all-time running total of one bucket (0 when it has none)."""

    @abstractmethod
    def _all_reservations(self) -> list[Reservation]:
        """Every stored reservation, expired or not."""

    @abstractmethod
    def _stored_aggregates(self) -> dict[str, Decimal]:
        """The backend's running totals keyed like ``aggregate()`` (zero totals omitted)."""

    @abstractmethod
    def _stored_reservations(self) -> tuple[dict[str, Decimal], list[Reservation]]:
        """The per-bucket reserved counters as stored, and every stored reservation."""

    def _aggregate_amount(self, cost: Decimal) -> Decimal:
        """How one record's cost enters the running totals (exact unless the backend rounds)."""
        return cost

    def _sum(self, filters: Filters) -> Decimal:
        return dec_sum(r.cost for r in self._iter(filters, None) if r.cost is not None)

    def _select(self, filters: FilterArgs) -> Iterable[SpendRecord]:
        """Every record matching the keyword filters, oldest first."""
        return self._iter(Filters(**filters), None)

    @staticmethod
    def _settle_args(call_id: str, rec: SpendRecord) -> None:
        if rec.call_id != call_id:
            raise ValueError(f"settle({call_id!r}) was given the record of call {rec.call_id!r}")

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
        check_name(call_id, "call_id", optional=False)
        for budget in budgets:
            if not isinstance(budget, Budget):
                raise TypeError(f"budgets must hold Budget values; got {budget!r}")
        value = to_decimal(amount, "amount")
        names = normalise_tags(tags)
        when = time.time() if now is None else float(now)
        self._reserve(call_id, value, plan_checks(budgets, user, team, names, when), user, team, names, when)

    def reserved(self, *, now: float | None = None) -> dict[str, Decimal]:
        """Outstanding (unexpired) reserved amount per bucket: for tests and dashboards."""
        when = time.time() if now is None else now
        return reserved_by_bucket(r for r in self._all_reservations() if r.expires > when)

    def total(self, **filters: Unpack[FilterArgs]) -> Decimal:
        """Spend of the matching records in USD (records without a known cost count 0)."""
        query = Filters(**filters)
        bucket = query.single_bucket()
        return self._sum(query) if bucket is None else self._bucket_total(bucket)

    def records(self, *, limit: int | None = None, **filters: Unpack[FilterArgs]) -> list[SpendRecord]:
        """Matching records, oldest first; with ``limit``, the newest ``limit`` of them (still oldest first)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be an int >= 0 or None; got {limit!r}")
        return list(self._iter(Filters(**filters), limit))

    def totals_by_day(self, **filters: Unpack[FilterArgs]) -> dict[str, Decimal]:
        """Spend per UTC day ("YYYY-MM-DD"), in day order; days with only unpriced calls show 0."""
        days: dict[str, Decimal] = {}
        for rec in self._select(filters):
            day = utc_day(rec.timestamp)
            days[day] = EXACT.add(days.get(day, ZERO), rec.cost or ZERO)
        return dict(sorted(days.items()))

    def export_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Unpack[FilterArgs]) -> int:
        """Write matching records as JSON lines; returns how many. Filters as for ``records()``."""
        from .export import write_jsonl

        return write_jsonl(path_or_file, self._select(filters))

    def export_csv(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Unpack[FilterArgs]) -> int:
        """Write matching records as CSV with a header row; returns how many."""
        from .export import write_csv

        return write_csv(path_or_file, self._select(filters))

    def verify(self) -> bool:
        """True when the running totals equal a recomputation from the stored records, and the
        reserved counters equal the sum of the stored reservations.

        A consistency check for tests, after a crash, or after editing the store by hand.
        """
        expected = aggregate(self._iter(Filters(), None), self._aggregate_amount)
        counters, holds = self._stored_reservations()
        return self._stored_aggregates() == expected and counters == reserved_by_bucket(holds)

    def __enter__(self: _L) -> _L:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
