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
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal, cast

from .base import LedgerBase
from .budget import BudgetCheck, Reservation, enforce, reserved_by_bucket
from .records import DEFAULT_RESERVATION_TTL, EXACT, ZERO, Filters, SpendRecord, dec_text, record_buckets, window_ids

__all__ = ["SQLiteLedger"]

SCHEMA_VERSION = 1
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
    user TEXT, team TEXT, tags TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS reservations_expires ON reservations (expires);
CREATE TABLE IF NOT EXISTS reserved (bucket TEXT PRIMARY KEY, amount TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
    win TEXT NOT NULL, bucket TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (win, bucket)) WITHOUT ROWID;
"""
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


class _Handle:
    """Holds one thread's connection; weakly tracked so close() can reach every live one."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()


class SQLiteLedger(LedgerBase):
    """A ledger in one SQLite file; safe across threads and across processes on one machine."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        super().__init__(reservation_ttl=reservation_ttl)
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL'; got {synchronous!r}")
        self.path = os.fspath(path)
        self._timeout = float(timeout)
        self._synchronous = synchronous
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._handles_lock = threading.Lock()
        self._closed = False
        self._conn()  # create the schema now, so a bad path fails here and not on the first call

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again in a forked child)."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and handle.pid == os.getpid():
            return handle.conn
        if self._closed:
            raise RuntimeError(f"SQLiteLedger({self.path!r}) is closed")
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.create_function("dec_add", 2, _dec_add, deterministic=True)
        conn.create_aggregate("dec_sum", 1, cast("Any", _DecSum))
        self._ensure_schema(conn)
        handle = _Handle(conn)
        self._local.handle = handle
        with self._handles_lock:
            self._handles.add(handle)
        return conn

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has spend schema v{version}; this routerlib reads v{SCHEMA_VERSION}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write_txn(self) -> _Transaction:
        return _Transaction(self._conn())

    def close(self) -> None:
        """Close every thread's connection; the ledger cannot be used afterwards."""
        self._closed = True
        with self._handles_lock:
            handles = list(self._handles)
            self._handles.clear()
        for handle in handles:
            if handle.pid == os.getpid():
                handle.conn.close()
        self._local = threading.local()

    # -- writes ------------------------------------------------------------------------------

    @staticmethod
    def _write(conn: sqlite3.Connection, rec: SpendRecord) -> bool:
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

    def record(self, rec: SpendRecord) -> bool:
        with self._write_txn() as conn:
            return self._write(conn, rec)

    def settle(self, call_id: str, rec: SpendRecord) -> bool:
        self._settle_args(call_id, rec)
        with self._write_txn() as conn:
            self._drop(conn, call_id)
            return self._write(conn, rec)

    def release(self, call_id: str) -> None:
        with self._write_txn() as conn:
            self._drop(conn, call_id)

    def _reserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck],
        user: str | None, team: str | None, tags: tuple[str, ...], when: float
    ) -> None:
        """Check and hold inside one ``BEGIN IMMEDIATE`` transaction."""
        with self._write_txn() as conn:
            for (expired,) in conn.execute("SELECT call_id FROM reservations WHERE expires <= ?", (when,)).fetchall():
                self._drop(conn, expired)
            previous = self._held(conn, call_id)

            def spent_of(check: BudgetCheck) -> Decimal:
                return _amount(conn, _SPENT, check.window_id, check.bucket)

            def reserved_of(bucket: str) -> Decimal:
                held = _amount(conn, "SELECT amount FROM reserved WHERE bucket = ?", bucket)
                return EXACT.subtract(held, previous.share(bucket)) if previous is not None else held

            enforce(checks, value, spent_of, reserved_of)
            if previous is not None:
                self._drop(conn, call_id, previous)
            row = (call_id, dec_text(value), when + self.reservation_ttl, user, team, json.dumps(list(tags)))
            conn.execute("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?)", row)
            _adjust(conn, record_buckets(user, team, tags), value)

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
        rows = self._conn().execute("SELECT amount, expires, user, team, tags FROM reservations").fetchall()
        return [_reservation(*row) for row in rows]

    def _stored_reservations(self) -> tuple[dict[str, Decimal], list[Reservation]]:
        counters = {b: Decimal(a) for b, a in self._conn().execute("SELECT bucket, amount FROM reserved")}
        return counters, self._all_reservations()

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
            rows = self._conn().execute(f"SELECT json FROM records{where} ORDER BY ts, call_id", params).fetchall()
        else:
            sql = f"SELECT json FROM records{where} ORDER BY ts DESC, call_id DESC LIMIT ?"
            rows = self._conn().execute(sql, [*params, newest]).fetchall()[::-1]
        return [SpendRecord.from_json(row[0]) for row in rows]

    def _bucket_total(self, bucket: str) -> Decimal:
        return _amount(self._conn(), _SPENT, "total", bucket)

    def _sum(self, filters: Filters) -> Decimal:
        where, params = self._where(filters)
        # SQLite gives NULL for a user aggregate over no rows (finalize is not called then).
        row = self._conn().execute(f"SELECT COALESCE(dec_sum(cost), '0') FROM records{where}", params).fetchone()
        return Decimal(row[0])

    def _stored_aggregates(self) -> dict[str, Decimal]:
        rows = self._conn().execute("SELECT win, bucket, amount FROM totals").fetchall()
        return {f"{w}|{b}": Decimal(a) for w, b, a in rows if Decimal(a)}

    def verify(self) -> bool:
        """See ``LedgerBase.verify``; reads records and totals in one snapshot (one read transaction)."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            return super().verify()
        finally:
            conn.execute("COMMIT")

    def rebuild_totals(self) -> None:
        """Recompute the running totals from ``records`` and the reserved counters from
        ``reservations`` (the repair when ``verify()`` fails, e.g. after editing the file by hand)."""
        with self._write_txn() as conn:
            conn.execute("DELETE FROM reserved")
            for held in reserved_by_bucket(self._all_reservations()).items():
                conn.execute("INSERT INTO reserved VALUES (?, ?)", (held[0], dec_text(held[1])))
            conn.execute("DELETE FROM totals")
            for (json_text,) in conn.execute("SELECT json FROM records").fetchall():
                rec = SpendRecord.from_json(json_text)
                if rec.cost:
                    cost = dec_text(rec.cost)
                    conn.executemany(_ADD_TOTAL, [(w, b, cost) for w in window_ids(rec.timestamp) for b in rec.buckets])


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
