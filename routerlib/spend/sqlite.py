"""``SQLiteLedger``: spend in one SQLite file, shared by the threads and processes of one machine.

Durability and locking, and why:

- ``journal_mode=WAL`` lets readers run while one writer commits, and ``synchronous=NORMAL``
  (the default here) makes a commit durable against a crash of the *process* (SIGKILL, OOM
  kill, segfault): the commit is in the WAL file in the OS page cache, which the kernel writes
  out even when the process is gone. Only a power loss or kernel crash can drop the last
  commits, and never corrupts the file. Pass ``synchronous="FULL"`` to fsync every commit
  (survives power loss, costs a disk flush per record).
- Every write runs inside ``BEGIN IMMEDIATE``: it takes the database's write lock up front,
  so a reserve's read-check-write cannot interleave with another process's. Waiters queue on
  ``busy_timeout`` instead of failing.
- One connection per thread (``threading.local``): ``sqlite3`` connections must not be used
  by two threads at once. After ``fork`` a child opens its own connections.

Money is stored as decimal TEXT, never REAL (a REAL column would bring back float artefacts),
and summed with Decimal: ``dec_add`` and ``dec_sum`` are Python functions registered on each
connection, so ``SUM`` stays inside one SQL statement and stays exact. Budget checks read the
``totals`` table -- a running total per (window, bucket) updated in the transaction that
inserts the record -- and the ``reserved`` table -- outstanding reservations per bucket,
updated with every reservation change -- so a check costs a few primary-key lookups however
long the history and however many calls are in flight. ``verify()`` recomputes both from
``records`` and ``reservations``; ``rebuild_totals()`` repairs the spend totals.

Under faults, and why:

- Bounded waits. ``timeout`` (30 s) is the longest a write waits for another connection's
  write lock; a call passes the time it has left and the wait is cut to that (``PRAGMA
  busy_timeout``, set only when it changes). A lock held past it raises
  ``LedgerTimeoutError``; every other ``sqlite3`` error raises ``LedgerUnavailableError``.
  Both name the file and chain the ``sqlite3`` error.
- Off the event loop. The async twins run the same transactions on a small thread pool of
  this ledger's own (``async_workers``, 2 by default), not the loop's default executor:
  writes to one file are serialised by its lock anyway, and 50 calls waiting for a lock must
  not occupy the threads that ``aiohttp`` resolves host names on. Speed is not the reason:
  measured (best of 3, two busy cores), a reserve + settle pair takes 366 us sync, 498 us
  through these 2 threads, 594 us through ``asyncio.to_thread``; 200 concurrent pairs take
  447 us each with 2 threads, 457 with 4, 402 with 1, 541 with ``to_thread``.
- Crashed processes. Each reservation stores its process id and host (hostname plus PID
  namespace, so two containers with one hostname are told apart). The next reserve drops at
  once the holds of processes on this host that no longer exist; holds of other hosts, or of
  a process whose id was reused, lapse at their expiry: ``reserve(ttl=...)`` (the longest the
  call can still run) or ``reservation_ttl``. A killed process that its parent has not yet
  reaped (a zombie) still counts as alive until it is reaped.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Literal, TypeVar, cast

from ..exceptions import LedgerError, LedgerTimeoutError, LedgerUnavailableError
from .base import LedgerBase
from .budget import BudgetCheck, Reservation, enforce, reserved_by_bucket
from .records import DEFAULT_RESERVATION_TTL, EXACT, ZERO, Filters, SpendRecord, dec_text, record_buckets, window_ids
from .spool import DEFAULT_SPOOL_LIMIT

__all__ = [
    "SQLiteLedger",
    "host_id",
    "pid_alive",
]

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    call_id TEXT PRIMARY KEY, ts REAL NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
    user TEXT, team TEXT, cost TEXT, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_user ON records (user, ts);
CREATE INDEX IF NOT EXISTS records_team ON records (team, ts);
CREATE TABLE IF NOT EXISTS record_tags (
    tag TEXT NOT NULL, call_id TEXT NOT NULL, PRIMARY KEY (tag, call_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    call_id TEXT PRIMARY KEY, amount TEXT NOT NULL, expires REAL NOT NULL,
    user TEXT, team TEXT, tags TEXT NOT NULL, pid INTEGER, host TEXT);
CREATE INDEX IF NOT EXISTS reservations_expires ON reservations (expires);
CREATE TABLE IF NOT EXISTS reserved (bucket TEXT PRIMARY KEY, amount TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
    win TEXT NOT NULL, bucket TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (win, bucket)) WITHOUT ROWID;
"""
#: v1 -> v2: who holds each reservation (v1 rows keep NULLs there and lapse by expiry).
_MIGRATE_V2 = (
    "ALTER TABLE reservations ADD COLUMN pid INTEGER",
    "ALTER TABLE reservations ADD COLUMN host TEXT",
)
_OWNER_INDEX = "CREATE INDEX IF NOT EXISTS reservations_owner ON reservations (host, pid)"
_INSERT_RESERVATION = (
    "INSERT INTO reservations (call_id, amount, expires, user, team, tags, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_RESERVED = (
    "INSERT INTO reserved (bucket, amount) VALUES (?, ?) "
    "ON CONFLICT (bucket) DO UPDATE SET amount = dec_add(amount, excluded.amount)"
)
_SPENT = "SELECT amount FROM totals WHERE win = ? AND bucket = ?"
_INSERT_RECORD = "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_ADD_TOTAL = (
    "INSERT INTO totals (win, bucket, amount) VALUES (?, ?, ?) "
    "ON CONFLICT (win, bucket) DO UPDATE SET amount = dec_add(amount, excluded.amount)"
)


def _dec_add(a: str, b: str) -> str:
    """SQL ``dec_add(text, text)``: exact Decimal addition; a zero result is always "0"."""
    total = EXACT.add(Decimal(a), Decimal(b))
    return dec_text(total) if total else "0"


class _DecSum:
    """SQL aggregate ``dec_sum(text)``: exact Decimal sum, NULLs skipped, "0" for no rows."""

    def __init__(self) -> None:
        self.total = ZERO

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total = EXACT.add(self.total, Decimal(value))

    def finalize(self) -> str:
        return dec_text(self.total)


def _amount(conn: sqlite3.Connection, sql: str, *params: object) -> Decimal:
    """The decimal TEXT of a one-row lookup, 0 when there is no row."""
    row = conn.execute(sql, params).fetchone()
    return ZERO if row is None else Decimal(row[0])


def _adjust(conn: sqlite3.Connection, buckets: Iterable[str], delta: Decimal) -> None:
    """Add ``delta`` to per-bucket reserved counters; counters that reach zero are deleted."""
    buckets = list(buckets)
    conn.executemany(_ADD_RESERVED, [(bucket, dec_text(delta)) for bucket in buckets])
    if delta < 0:
        marks = ", ".join("?" * len(buckets))
        conn.execute(f"DELETE FROM reserved WHERE bucket IN ({marks}) AND (amount = '0' OR amount LIKE '-%')", buckets)


def _reservation(amount: str, expires: float, user: str | None, team: str | None, tags: str) -> Reservation:
    return Reservation(Decimal(amount), expires, frozenset(record_buckets(user, team, json.loads(tags))))


_T = TypeVar("_T")
_host: str | None = None


def host_id() -> str:
    """This machine as reservations record it: hostname, plus the PID namespace on Linux.

    The namespace matters because two containers may share a hostname (``--network host``)
    while their process ids mean different processes.
    """
    global _host
    if _host is None:
        try:
            namespace = os.readlink("/proc/self/ns/pid")
        except OSError:
            namespace = ""
        _host = f"{socket.gethostname()}/{namespace}" if namespace else socket.gethostname()
    return _host


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (True when it cannot be told)."""
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


class _ClosedError(LedgerUnavailableError, RuntimeError):
    """The ledger was closed (a RuntimeError too, as it was before ledgers had typed errors)."""


class _Handle:
    """Holds one thread's connection; weakly tracked so close() can reach every live one."""

    __slots__ = ("__weakref__", "busy_ms", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection, busy_ms: int) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.busy_ms = busy_ms


class SQLiteLedger(LedgerBase):
    """A ledger in one SQLite file; safe across threads and across processes on one machine.

    ``timeout`` is the longest a write waits for the file's write lock (a call's own time left
    cuts it shorter); ``async_workers`` the threads the async twins run on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        spool_limit: int = DEFAULT_SPOOL_LIMIT,
        async_workers: int = 2,
    ) -> None:
        super().__init__(reservation_ttl=reservation_ttl, spool_limit=spool_limit)
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL'; got {synchronous!r}")
        self.path = os.fspath(path)
        self._timeout = self._check_ttl(timeout, "timeout")
        if isinstance(async_workers, bool) or not isinstance(async_workers, int) or async_workers < 1:
            raise ValueError(f"async_workers must be an int >= 1; got {async_workers!r}")
        self._workers = async_workers
        self._synchronous = synchronous
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._handles_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._closed = False
        # Create the schema now, so a bad path fails here (naming it) and not on the first call.
        self._guarded("open", None, lambda: self._handle())

    def _describe(self) -> str:
        return f"SQLiteLedger({self.path!r})"

    # -- connections -------------------------------------------------------------------------

    def _handle(self) -> _Handle:
        """This thread's connection, opened on first use (and again in a forked child)."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and handle.pid == os.getpid():
            return handle
        if self._closed:
            raise _ClosedError(f"{self._describe()} is closed", where=self._describe(), operation="open")
        busy_ms = int(self._timeout * 1000)
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.create_function("dec_add", 2, _dec_add, deterministic=True)
            conn.create_aggregate("dec_sum", 1, cast("Any", _DecSum))
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        handle = _Handle(conn, busy_ms)
        self._local.handle = handle
        with self._handles_lock:
            self._handles.add(handle)
        return handle

    def _conn(self) -> sqlite3.Connection:
        return self._handle().conn

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise LedgerUnavailableError(
                f"{self._describe()} has spend schema v{version}; this routerlib reads v{SCHEMA_VERSION} and older",
                where=self._describe(), operation="open")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(reservations)")}
            for statement in _MIGRATE_V2:
                if statement.split()[-2] not in columns:
                    conn.execute(statement)
            conn.execute(_OWNER_INDEX)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _guarded(self, operation: str, timeout: float | None, fn: Callable[[], _T]) -> _T:
        """Run ``fn``; an ``sqlite3`` error becomes a LedgerError naming the file, chained."""
        try:
            return fn()
        except sqlite3.Error as exc:
            raise self._error(operation, timeout, exc) from exc

    def _error(self, operation: str, timeout: float | None, exc: sqlite3.Error) -> LedgerError:
        where = self._describe()
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            waited = self._timeout if timeout is None else min(self._timeout, timeout)
            return LedgerTimeoutError(
                f"{where}: {operation} gave up after waiting {waited:.3g} s for the write lock held by another "
                f"connection ({text})", where=where, operation=operation)
        return LedgerUnavailableError(f"{where}: {operation} failed: {type(exc).__name__}: {text}",
                                      where=where, operation=operation)

    def _write(self, operation: str, timeout: float | None, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """``body(conn)`` inside ``BEGIN IMMEDIATE``; waits for the lock at most ``timeout`` (capped)."""
        def run() -> _T:
            handle = self._handle()
            busy_ms = self._busy_ms(timeout)
            if busy_ms != handle.busy_ms:
                handle.conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
                handle.busy_ms = busy_ms
            with _Transaction(handle.conn) as conn:
                return body(conn)

        return self._guarded(operation, timeout, run)

    def _busy_ms(self, timeout: float | None) -> int:
        ceiling = self._timeout
        return int(1000 * (ceiling if timeout is None or timeout >= ceiling else timeout)) or 1

    def _executor(self) -> ThreadPoolExecutor:
        """This ledger's worker threads for the async twins (made on first use, again after fork)."""
        pool = self._pool
        if pool is None or self._pool_pid != os.getpid():
            if self._closed:
                raise _ClosedError(f"{self._describe()} is closed", where=self._describe(), operation="open")
            with self._handles_lock:
                if self._pool is None or self._pool_pid != os.getpid():
                    self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="routerlib-sqlite")
                    self._pool_pid = os.getpid()
                pool = self._pool
        return pool

    def _close(self) -> None:
        """Close every thread's connection and the worker threads; the ledger cannot be used afterwards."""
        self._closed = True
        with self._handles_lock:
            handles = list(self._handles)
            self._handles.clear()
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.shutdown(wait=False)
        for handle in handles:
            if handle.pid == os.getpid():
                handle.conn.close()
        self._local = threading.local()

    # -- writes ------------------------------------------------------------------------------

    @staticmethod
    def _insert(conn: sqlite3.Connection, rec: SpendRecord) -> bool:
        """Insert a record, its tags and its share of the running totals (inside a transaction)."""
        cost = None if rec.cost is None else dec_text(rec.cost)
        row = (rec.call_id, rec.timestamp, rec.model, rec.provider, rec.user, rec.team, cost, rec.to_json())
        if conn.execute(_INSERT_RECORD, row).rowcount != 1:
            return False
        if rec.tags:
            conn.executemany("INSERT OR IGNORE INTO record_tags VALUES (?, ?)", [(t, rec.call_id) for t in rec.tags])
        if rec.cost:
            buckets = rec.buckets
            conn.executemany(_ADD_TOTAL, [(w, b, cost) for w in window_ids(rec.timestamp) for b in buckets])
        return True

    def _write_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            if settles:
                self._drop(conn, rec.call_id)
            return self._insert(conn, rec)

        return self._write("settle" if settles else "record", timeout, body)

    def _release(self, call_id: str, timeout: float | None) -> None:
        self._write("release", timeout, lambda conn: self._drop(conn, call_id))

    def _reserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        """Check and hold inside one ``BEGIN IMMEDIATE`` transaction."""
        def body(conn: sqlite3.Connection) -> None:
            self._reclaim(conn, when)
            previous = self._held(conn, call_id)

            def spent_of(check: BudgetCheck) -> Decimal:
                return _amount(conn, _SPENT, check.window_id, check.bucket)

            def reserved_of(bucket: str) -> Decimal:
                held = _amount(conn, "SELECT amount FROM reserved WHERE bucket = ?", bucket)
                return EXACT.subtract(held, previous.share(bucket)) if previous is not None else held

            enforce(checks, value, spent_of, reserved_of)
            if previous is not None:
                self._drop(conn, call_id, previous)
            row = (call_id, dec_text(value), expires, user, team, json.dumps(list(tags)), os.getpid(), host_id())
            conn.execute(_INSERT_RESERVATION, row)
            _adjust(conn, record_buckets(user, team, tags), value)

        self._write("reserve", timeout, body)

    def _reclaim(self, conn: sqlite3.Connection, now: float) -> None:
        """Drop expired holds, and the holds of processes on this host that are gone (inside a transaction)."""
        for (expired,) in conn.execute("SELECT call_id FROM reservations WHERE expires <= ?", (now,)).fetchall():
            self._drop(conn, expired)
        host = host_id()
        owners = conn.execute("SELECT DISTINCT pid FROM reservations WHERE host = ? AND pid != ?", (host, os.getpid()))
        for (pid,) in owners.fetchall():
            if not pid_alive(pid):
                orphans = conn.execute("SELECT call_id FROM reservations WHERE host = ? AND pid = ?", (host, pid))
                for (orphan,) in orphans.fetchall():
                    self._drop(conn, orphan)

    @staticmethod
    def _held(conn: sqlite3.Connection, call_id: str) -> Reservation | None:
        sql = "SELECT amount, expires, user, team, tags FROM reservations WHERE call_id = ?"
        row = conn.execute(sql, (call_id,)).fetchone()
        return None if row is None else _reservation(*row)

    def _drop(self, conn: sqlite3.Connection, call_id: str, held: Reservation | None = None) -> None:
        """Delete a reservation and take it off the per-bucket counters (inside a transaction)."""
        held = held or self._held(conn, call_id)
        if held is not None:
            conn.execute("DELETE FROM reservations WHERE call_id = ?", (call_id,))
            _adjust(conn, held.buckets, -held.amount)

    def _all_reservations(self) -> list[Reservation]:
        def read() -> list[Reservation]:
            rows = self._conn().execute("SELECT amount, expires, user, team, tags FROM reservations").fetchall()
            return [_reservation(*row) for row in rows]

        return self._guarded("reserved", None, read)

    def _stored_reservations(self) -> tuple[dict[str, Decimal], list[Reservation]]:
        def read() -> dict[str, Decimal]:
            return {b: Decimal(a) for b, a in self._conn().execute("SELECT bucket, amount FROM reserved")}

        return self._guarded("verify", None, read), self._all_reservations()

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _where(filters: Filters) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("user", filters.user), ("team", filters.team)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if filters.model is not None:  # as recorded, or as called: "provider/model"
            clauses.append("(model = ? OR provider || '/' || model = ?)")
            params += [filters.model, filters.model]
        if filters.since is not None:
            clauses.append("ts >= ?")
            params.append(filters.since)
        if filters.tag is not None:
            clauses.append("call_id IN (SELECT call_id FROM record_tags WHERE tag = ?)")
            params.append(filters.tag)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _iter(self, filters: Filters, newest: int | None) -> Iterable[SpendRecord]:
        where, params = self._where(filters)
        if newest is None:
            sql = f"SELECT json FROM records{where} ORDER BY ts, call_id"
        else:
            sql = f"SELECT json FROM records{where} ORDER BY ts DESC, call_id DESC LIMIT ?"
            params = [*params, newest]
        rows = self._guarded("records", None, lambda: self._conn().execute(sql, params).fetchall())
        if newest is not None:
            rows.reverse()
        return [SpendRecord.from_json(row[0]) for row in rows]

    def _bucket_total(self, bucket: str) -> Decimal:
        return self._guarded("total", None, lambda: _amount(self._conn(), _SPENT, "total", bucket))

    def _sum(self, filters: Filters) -> Decimal:
        where, params = self._where(filters)
        # SQLite gives NULL for a user aggregate over no rows (finalize is not called then).
        sql = f"SELECT COALESCE(dec_sum(cost), '0') FROM records{where}"
        return Decimal(self._guarded("total", None, lambda: self._conn().execute(sql, params).fetchone()[0]))

    def _stored_aggregates(self) -> dict[str, Decimal]:
        rows = self._guarded("verify", None, lambda: self._conn().execute("SELECT win, bucket, amount FROM totals")
                             .fetchall())
        return {f"{w}|{b}": Decimal(a) for w, b, a in rows if Decimal(a)}

    def verify(self) -> bool:
        """See ``LedgerBase.verify``; reads records and totals in one snapshot (one read transaction)."""
        conn = self._guarded("verify", None, self._conn)
        self._guarded("verify", None, lambda: conn.execute("BEGIN"))
        try:
            return super().verify()
        finally:
            self._guarded("verify", None, lambda: conn.execute("COMMIT"))

    def rebuild_totals(self) -> None:
        """Recompute the running totals from ``records`` and the reserved counters from
        ``reservations`` (the repair when ``verify()`` fails, e.g. after editing the file by hand)."""
        def body(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM reserved")
            for held in reserved_by_bucket(self._all_reservations()).items():
                conn.execute("INSERT INTO reserved VALUES (?, ?)", (held[0], dec_text(held[1])))
            conn.execute("DELETE FROM totals")
            for (json_text,) in conn.execute("SELECT json FROM records").fetchall():
                rec = SpendRecord.from_json(json_text)
                if rec.cost:
                    cost = dec_text(rec.cost)
                    conn.executemany(_ADD_TOTAL, [(w, b, cost) for w in window_ids(rec.timestamp) for b in rec.buckets])

        self._write("rebuild_totals", None, body)


class _Transaction:
    """``with``: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any exception (including BudgetExceeded)."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        if self.conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            self.conn.execute("ROLLBACK")
