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

Reservations expire so that a process that crashed between reserve and settle cannot hold
budget forever: after ``reserve(..., ttl=seconds)`` -- the core passes the longest the call can
still run -- or after ``reservation_ttl`` (15 minutes by default) when no ttl is given.
``SQLiteLedger`` also reclaims at once the holds of a process that is gone (same host). The
price of that liveness: a call whose reservation expired before it settled is still recorded
(records are never lost), so such a late call can take a bucket past its limit.

Sync and async: every method a call makes has an async twin (``areserve``, ``asettle``,
``arelease``, ``arecord``; ``atotal`` too). ``MemoryLedger`` runs them inline (a few
microseconds under a lock), ``RedisLedger`` on ``redis.asyncio``, ``SQLiteLedger`` on a small
thread pool of its own; none blocks the event loop. A ledger of your own that implements only
the sync ``Ledger`` protocol still works: ``run_async(ledger, "reserve", ...)`` calls the
async twin when there is one, else the sync method in a worker thread.

Under faults (see docs/security.md, "Spend under faults")::

    every call-path method takes timeout=seconds left   -> never blocks longer; LedgerTimeoutError
    the store is down, locked, refuses                  -> LedgerError (Unavailable / Timeout)
    settle / record fails                               -> the record is spooled (``pending()``)
                                                           and written on the next good write
    release fails                                       -> LedgerError only, never anything else

Shared logic is written once for every backend: ``records`` (SpendRecord, filters, exact
money, aggregates), ``budget`` (Budget, windows, the check and its error), ``export`` (JSONL,
CSV), ``spool`` (records waiting for the store) and ``LedgerBase`` here (argument checks,
time limits, the spool, the async twins, queries, exports, ``verify``).
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Protocol, TypedDict, TypeVar, runtime_checkable

from ..exceptions import LedgerError, LedgerTimeoutError
from .budget import Budget, BudgetCheck, Reservation, Scope, Window, plan_checks, reserved_by_bucket
from .calling import check_timeout, in_thread, run_async, run_sync
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
from .spool import DEFAULT_SPOOL_LIMIT, Spool

if TYPE_CHECKING:
    import os

    from typing_extensions import Unpack

__all__ = [
    "AsyncLedger",
    "Budget",
    "FilterArgs",
    "Filters",
    "Ledger",
    "LedgerBase",
    "Scope",
    "SpendRecord",
    "Window",
    "in_thread",
    "run_async",
    "run_sync",
]

_T = TypeVar("_T")
_log = logging.getLogger("routerlib.spend")
#: Spooled records written back per successful write (the rest wait for the next one).
_FLUSH_BATCH = 64


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
    """Where spend is recorded and budgets are enforced. Implementations must be thread-safe.

    ``timeout`` (seconds the call has left, None for no bound) caps how long a method may
    block; past it a store-backed ledger raises ``LedgerTimeoutError``. ``ttl`` is how long a
    reservation may outlive a crash of its process. A ledger written before these keywords
    existed still works through ``run_sync`` / ``run_async``, which leave out the keywords a
    method does not take.
    """

    def record(self, rec: SpendRecord, *, timeout: float | None = None) -> bool:
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
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Hold ``amount`` against every applicable budget atomically, or raise BudgetExceededError."""
        ...

    def settle(self, call_id: str, rec: SpendRecord, *, timeout: float | None = None) -> bool:
        """Drop the call's reservation and write its record, atomically."""
        ...

    def release(self, call_id: str, *, timeout: float | None = None) -> None:
        """Drop the call's reservation (no-op if there is none)."""
        ...

    def total(self, **filters: Unpack[FilterArgs]) -> Decimal: ...

    def records(self, *, limit: int | None = None, **filters: Unpack[FilterArgs]) -> list[SpendRecord]: ...

    def totals_by_day(self, **filters: Unpack[FilterArgs]) -> dict[str, Decimal]: ...

    def export_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Unpack[FilterArgs]) -> int: ...

    def export_csv(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Unpack[FilterArgs]) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncLedger(Ledger, Protocol):
    """A ``Ledger`` with async twins of the methods a call makes; none blocks the event loop."""

    async def arecord(self, rec: SpendRecord, *, timeout: float | None = None) -> bool: ...

    async def areserve(
        self,
        call_id: str,
        amount: Decimal,
        *,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        budgets: Sequence[Budget] = (),
        now: float | None = None,
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> None: ...

    async def asettle(self, call_id: str, rec: SpendRecord, *, timeout: float | None = None) -> bool: ...

    async def arelease(self, call_id: str, *, timeout: float | None = None) -> None: ...

    async def atotal(self, **filters: Unpack[FilterArgs]) -> Decimal: ...


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


_L = TypeVar("_L", bound="LedgerBase")


class LedgerBase(ABC):
    """What every backend shares: argument checks, time limits, the spool, the async twins,
    queries over ``_iter``, exports and ``verify``.

    A backend implements storage -- ``_write_record``, ``_reserve``, ``_release``, ``_close``,
    ``_iter``, ``_bucket_total``, ``_all_reservations``, ``_stored_aggregates``,
    ``_stored_reservations`` -- and may override ``_sum`` with something faster than a scan, and
    the async storage twins (``_awrite_record``, ``_areserve``, ``_arelease``) when it has a
    better way than a worker thread. Storage methods raise ``LedgerError`` for store failures.
    """

    def __init__(self, *, reservation_ttl: float = DEFAULT_RESERVATION_TTL, spool_limit: int = DEFAULT_SPOOL_LIMIT
                 ) -> None:
        self.reservation_ttl = self._check_ttl(reservation_ttl, "reservation_ttl")
        self._spool = Spool(spool_limit)

    @staticmethod
    def _check_ttl(ttl: object, what: str) -> float:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
            raise ValueError(f"{what} must be seconds > 0; got {ttl!r}")
        return float(ttl)

    def _describe(self) -> str:
        """How errors name this ledger (never with a credential)."""
        return type(self).__name__

    def _timeout_error(self, operation: str, timeout: float | None) -> LedgerTimeoutError:
        return LedgerTimeoutError(
            f"{self._describe()}: {operation} ran out of time (the call had {timeout or 0:.3g} s left)",
            where=self._describe(), operation=operation)

    def _time_left(self, deadline: float | None, operation: str) -> float | None:
        """Seconds left before ``deadline`` (None: unbounded); LedgerTimeoutError when none are."""
        left = _left(deadline)
        if left is not None and left <= 0:
            raise self._timeout_error(operation, 0)
        return left

    # -- storage, implemented by each backend ----------------------------------------------

    @abstractmethod
    def _write_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        """Write ``rec`` once per call id; with ``settles``, drop the call's reservation in the same step."""

    @abstractmethod
    def _reserve(
        self, call_id: str, amount: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        """``reserve()`` once its arguments are checked: hold ``amount`` until ``expires`` if every check
        passes, atomically."""

    @abstractmethod
    def _release(self, call_id: str, timeout: float | None) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

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

    def _executor(self) -> Executor | None:
        """Where the default async twins run the sync storage methods (None: the loop's default)."""
        return None

    async def _blocking(self, operation: str, fn: Callable[[float | None], _T], timeout: float | None) -> _T:
        """Run ``fn(time left)`` in a worker thread; time spent queued counts against ``timeout``."""
        deadline = _deadline(timeout)
        return await in_thread(lambda: fn(self._time_left(deadline, operation)), self._executor())

    async def _awrite_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        return await self._blocking("settle" if settles else "record",
                                    lambda left: self._write_record(rec, settles, left), timeout)

    async def _areserve(
        self, call_id: str, amount: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        def run(left: float | None) -> None:
            self._reserve(call_id, amount, checks, user, team, tags, when, expires, left)

        await self._blocking("reserve", run, timeout)

    async def _arelease(self, call_id: str, timeout: float | None) -> None:
        await self._blocking("release", lambda left: self._release(call_id, left), timeout)

    # -- the call path, sync ------------------------------------------------------------------

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

    def _reserve_args(
        self, call_id: str, amount: Decimal, user: str | None, team: str | None, tags: Sequence[str],
        budgets: Sequence[Budget], now: float | None, ttl: float | None,
    ) -> tuple[Decimal, list[BudgetCheck], tuple[str, ...], float, float]:
        check_name(call_id, "call_id", optional=False)
        for budget in budgets:
            if not isinstance(budget, Budget):
                raise TypeError(f"budgets must hold Budget values; got {budget!r}")
        value = to_decimal(amount, "amount")
        names = normalise_tags(tags)
        when = time.time() if now is None else float(now)
        hold = self.reservation_ttl if ttl is None else self._check_ttl(ttl, "ttl")
        return value, plan_checks(budgets, user, team, names, when), names, when, when + hold

    def record(self, rec: SpendRecord, *, timeout: float | None = None) -> bool:
        """Store a record; True if new, False if this call_id was already recorded (counted once).

        If the store fails, the record is spooled (see ``pending()``) and the LedgerError raised.
        """
        return self._keep(rec, False, timeout)

    def settle(self, call_id: str, rec: SpendRecord, *, timeout: float | None = None) -> bool:
        """Drop the call's reservation and write its record, in one atomic step.

        A record marked ``estimated`` counts like any other: settling a call that timed out after
        its request was sent with ``SpendRecord.worst_case(...)`` keeps its worst case as spend.
        If the store fails, the record is spooled (see ``pending()``) and the LedgerError raised.
        """
        self._settle_args(call_id, rec)
        return self._keep(rec, True, timeout)

    def _keep(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        deadline = _deadline(check_timeout(timeout))
        try:
            new = self._write_record(rec, settles, self._time_left(deadline, "settle" if settles else "record"))
        except LedgerError:
            self._spool.add(rec, settles)
            raise
        if self._spool:
            self._flush_quietly(deadline)
        return new

    def release(self, call_id: str, *, timeout: float | None = None) -> None:
        """Drop the call's reservation (no-op if there is none). Store failures raise LedgerError only."""
        check_name(call_id, "call_id", optional=False)
        deadline = _deadline(check_timeout(timeout))
        self._release(call_id, self._time_left(deadline, "release"))

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
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Check every applicable budget and hold ``amount``, or raise and hold nothing.

        Reserving again under the same ``call_id`` replaces the earlier hold (which does not
        count against the new one), so a retried reserve never double-books. The hold lapses
        ``ttl`` seconds from now (the longest the call can still run), or after
        ``reservation_ttl`` when no ttl is given.
        """
        value, checks, names, when, expires = self._reserve_args(call_id, amount, user, team, tags, budgets, now, ttl)
        deadline = _deadline(check_timeout(timeout))
        self._reserve(call_id, value, checks, user, team, names, when, expires, self._time_left(deadline, "reserve"))

    # -- the call path, async -----------------------------------------------------------------

    async def arecord(self, rec: SpendRecord, *, timeout: float | None = None) -> bool:
        """``record`` without blocking the event loop."""
        return await self._akeep(rec, False, timeout)

    async def asettle(self, call_id: str, rec: SpendRecord, *, timeout: float | None = None) -> bool:
        """``settle`` without blocking the event loop."""
        self._settle_args(call_id, rec)
        return await self._akeep(rec, True, timeout)

    async def _akeep(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        deadline = _deadline(check_timeout(timeout))
        try:
            new = await self._awrite_record(rec, settles, self._time_left(deadline, "settle" if settles else "record"))
        except LedgerError:
            self._spool.add(rec, settles)
            raise
        if self._spool:
            try:
                await self.aflush_pending(timeout=_left(deadline), limit=_FLUSH_BATCH)
            except LedgerError:
                pass  # still pending; the next good write tries again
            except Exception:  # pragma: no cover - as in _flush_quietly
                _log.exception("%s: writing spooled spend records failed", self._describe())
        return new

    async def arelease(self, call_id: str, *, timeout: float | None = None) -> None:
        """``release`` without blocking the event loop."""
        check_name(call_id, "call_id", optional=False)
        deadline = _deadline(check_timeout(timeout))
        await self._arelease(call_id, self._time_left(deadline, "release"))

    async def areserve(
        self,
        call_id: str,
        amount: Decimal,
        *,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        budgets: Sequence[Budget] = (),
        now: float | None = None,
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """``reserve`` without blocking the event loop."""
        value, checks, names, when, expires = self._reserve_args(call_id, amount, user, team, tags, budgets, now, ttl)
        deadline = _deadline(check_timeout(timeout))
        left = self._time_left(deadline, "reserve")
        await self._areserve(call_id, value, checks, user, team, names, when, expires, left)

    async def atotal(self, **filters: Unpack[FilterArgs]) -> Decimal:
        """``total`` without blocking the event loop."""
        return await self._blocking("total", lambda _left: self.total(**filters), None)

    # -- the spool ----------------------------------------------------------------------------

    def pending(self) -> list[SpendRecord]:
        """Records whose write failed and that wait for the store, oldest first (see ``spool``)."""
        return self._spool.records()

    @property
    def pending_dropped(self) -> int:
        """Records lost because the spool was full (each was logged)."""
        return self._spool.dropped

    def flush_pending(self, *, timeout: float | None = None, limit: int | None = None) -> int:
        """Write spooled records now (all, or ``limit`` of them); returns how many were written.

        Stops at the first store failure and raises its LedgerError; what was not written stays
        pending. Runs by itself, a batch at a time, after every successful write.
        """
        deadline = _deadline(check_timeout(timeout))
        written = 0
        while limit is None or written < limit:
            batch = self._spool.take(_FLUSH_BATCH if limit is None else min(_FLUSH_BATCH, limit - written))
            if not batch:
                break
            for i, (rec, settles) in enumerate(batch):
                try:
                    self._write_record(rec, settles, self._time_left(deadline, "flush_pending"))
                except BaseException:
                    self._spool.put_back(batch[i:])
                    raise
                written += 1
        return written

    async def aflush_pending(self, *, timeout: float | None = None, limit: int | None = None) -> int:
        """``flush_pending`` without blocking the event loop."""
        deadline = _deadline(check_timeout(timeout))
        written = 0
        while limit is None or written < limit:
            batch = self._spool.take(_FLUSH_BATCH if limit is None else min(_FLUSH_BATCH, limit - written))
            if not batch:
                break
            for i, (rec, settles) in enumerate(batch):
                try:
                    await self._awrite_record(rec, settles, self._time_left(deadline, "flush_pending"))
                except BaseException:
                    self._spool.put_back(batch[i:])
                    raise
                written += 1
        return written

    def _flush_quietly(self, deadline: float | None) -> None:
        """Write back a batch of spooled records after a good write; a failure never reaches the caller."""
        try:
            self.flush_pending(timeout=_left(deadline), limit=_FLUSH_BATCH)
        except LedgerError:
            pass  # still pending; the next good write tries again
        except Exception:  # pragma: no cover - no known way: spooled records were valid when first written
            _log.exception("%s: writing spooled spend records failed", self._describe())

    def close(self) -> None:
        """Try once to write what is pending (logged if that fails), then release the store."""
        if self._spool:
            try:
                self.flush_pending()
            except (LedgerError, RuntimeError) as exc:
                _log.warning("%s closed with %d spend records unwritten: %s", self._describe(), len(self._spool), exc)
        self._close()

    async def aclose(self) -> None:
        """``close`` for async code: a ledger with async connections closes this loop's too."""
        self.close()

    # -- reads --------------------------------------------------------------------------------

    def reserved(self, *, now: float | None = None) -> dict[str, Decimal]:
        """Outstanding (unexpired) reserved amount per bucket: for tests and dashboards."""
        when = time.time() if now is None else now
        return reserved_by_bucket(r for r in self._all_reservations() if r.expires > when)

    def total(self, **filters: Unpack[FilterArgs]) -> Decimal:
        """Spend of the matching records in USD (records without a known cost count 0; estimated
        records count like any other)."""
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
