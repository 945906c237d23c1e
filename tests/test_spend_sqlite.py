"""Tests for SQLiteLedger on real files: pragmas and schema, several processes on one file,
a SIGKILLed writer, threads, and the running totals' self-check."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from spend_helpers import LagMeter, sqlite_write_lock

from routerlib.exceptions import BudgetExceededError, LedgerTimeoutError, LedgerUnavailableError
from routerlib.spend import Budget, SpendRecord
from routerlib.spend.sqlite import SQLiteLedger

REPO = Path(__file__).resolve().parents[1]
T0 = 1_717_200_000.0
LIMIT = Decimal("1.00")
USER_LIMIT = Decimal("0.60")


def rec(call_id: str, cost: str | Decimal | None, ts: float = T0, **kw: object) -> SpendRecord:
    value = None if cost is None else Decimal(cost)
    return SpendRecord(call_id=call_id, timestamp=ts, model="m", provider="p", cost=value, **kw)  # type: ignore[arg-type]


def test_file_uses_wal_and_has_the_documented_schema(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "s.db")
    conn = led._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"records", "record_tags", "reservations", "totals"} <= tables
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"records_ts", "records_user", "records_team"} <= indexes
    led.close()
    with pytest.raises(RuntimeError, match="closed"):
        led.record(rec("late", "1"))
    full = SQLiteLedger(tmp_path / "s.db", synchronous="FULL")
    assert full._conn().execute("PRAGMA synchronous").fetchone()[0] == 2
    full.close()
    with pytest.raises(ValueError, match="'OFF'"):
        SQLiteLedger(tmp_path / "s.db", synchronous="OFF")  # type: ignore[arg-type]


def test_money_is_exact_text_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SQLiteLedger(path) as led:
        led.record(rec("a", "0.1", user="u"))
        led.record(rec("b", "0.2", user="u", tags=("x",)))
        led.record(rec("c", "0.000000000000000000000001"))
        led.reserve("held", Decimal("0.5"), user="u", now=T0)
    with SQLiteLedger(path) as led:
        assert led.total(user="u") == Decimal("0.3")  # not 0.30000000000000004
        assert led.total(user="u", since=T0) == Decimal("0.3")
        assert led.total() == Decimal("0.300000000000000000000001")
        assert led.reserved(now=T0) == {"global": Decimal("0.5"), "user:u": Decimal("0.5")}
        assert led.verify()
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT typeof(cost), cost FROM records WHERE call_id = 'c'").fetchone() == (
        "text",
        "0.000000000000000000000001",
    )
    raw.close()


def test_verify_detects_tampering_and_rebuild_repairs_it(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "s.db")
    for i in range(5):
        led.record(rec(f"c{i}", "0.01", ts=T0 + 86400 * i, user="u", tags=("t",)))
    assert led.verify()
    raw = sqlite3.connect(tmp_path / "s.db")
    raw.execute("UPDATE totals SET amount = '7' WHERE win = 'total' AND bucket = 'global'")
    raw.commit()
    raw.close()
    assert not led.verify()
    led.rebuild_totals()
    assert led.verify() and led.total() == Decimal("0.05")
    led.reserve("held", Decimal("0.5"), user="u", now=T0)
    raw = sqlite3.connect(tmp_path / "s.db")
    raw.execute("UPDATE reserved SET amount = '0.25' WHERE bucket = 'user:u'")
    raw.commit()
    raw.close()
    assert not led.verify()
    led.rebuild_totals()
    assert led.verify() and led.reserved(now=T0) == {"global": Decimal("0.5"), "user:u": Decimal("0.5")}
    led.close()


def test_threads_share_one_ledger(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "s.db")
    budgets = [Budget(LIMIT, "global")]
    refused = 0
    lock = threading.Lock()

    def call(i: int) -> None:
        nonlocal refused
        try:
            led.reserve(f"c{i}", Decimal("0.01"), budgets=budgets)
        except BudgetExceededError:
            with lock:
                refused += 1
            return
        led.settle(f"c{i}", rec(f"c{i}", "0.008", ts=time.time(), tags=(f"t{i % 3}",)))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(160)))
    assert refused > 0 and led.total() <= LIMIT
    assert led.total() == sum((r.cost or Decimal(0) for r in led.records()), Decimal(0))
    assert led.verify()
    led.close()


# -- several processes on one file ---------------------------------------------------------------


def _process_worker(path: str, worker: int, calls: int, start: Any, results: Any) -> None:
    """Run in a spawned process: reserve -> settle (or release) ``calls`` times on one file."""
    led = SQLiteLedger(path)
    budgets = [Budget(LIMIT, "global"), Budget(USER_LIMIT, "user", "day")]
    settled = refused = 0
    start.wait()  # every process is up: now they really contend
    for i in range(calls):
        call_id, user = f"w{worker}-{i}", f"u{(worker + i) % 2}"
        try:
            led.reserve(call_id, Decimal("0.01"), user=user, budgets=budgets)
        except BudgetExceededError:
            refused += 1
            continue
        time.sleep(0.001)  # the provider call: other processes reserve meanwhile
        if i % 7 == 3:
            led.release(call_id)  # a failed call: nothing spent
            continue
        cost = Decimal("0.006") + Decimal("0.001") * (i % 5)  # at most what was reserved
        led.settle(call_id, rec(call_id, cost, ts=time.time(), user=user, metadata={"worker": worker}))
        settled += 1
    led.close()
    results.put((settled, refused))


def test_four_processes_never_overspend(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")  # not created yet: the workers race to create it
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_process_worker, args=(path, w, 50, start, results)) for w in range(4)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
        assert proc.exitcode == 0
    settled = sum(s for s, _ in outcomes)
    assert sum(r for _, r in outcomes) > 0, "the budget must allow fewer than 200 calls"
    led = SQLiteLedger(path)
    records = led.records()
    assert len(records) == settled
    assert led.total() <= LIMIT
    assert led.total(user="u0") <= USER_LIMIT and led.total(user="u1") <= USER_LIMIT
    assert led.total() == sum((r.cost or Decimal(0) for r in records), Decimal(0))
    assert led.reserved() == {}
    assert led.verify()
    led.close()


# -- a writer killed with SIGKILL ----------------------------------------------------------------

_CRASH_CHILD = """
import sys, time
from decimal import Decimal
from routerlib.spend import Budget, SpendRecord
from routerlib.spend.sqlite import SQLiteLedger

led = SQLiteLedger(sys.argv[1])
budgets = [Budget(1000000, "global")]
i = 0
while True:
    call_id = f"k{i}"
    rec = SpendRecord(call_id=call_id, timestamp=time.time(), model="m", provider="p",
                      user=f"u{i % 3}", tags=("crash",), cost=Decimal("0.001") * (i % 7 + 1))
    if i % 2:
        led.reserve(call_id, Decimal("0.01"), user=rec.user, tags=rec.tags, budgets=budgets)
        led.settle(call_id, rec)
    else:
        led.record(rec)
    sys.stdout.write(call_id + "\\n")  # only after the commit returned
    sys.stdout.flush()
    i += 1
"""


def test_sigkill_loses_no_committed_record(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASH_CHILD, str(path)], stdout=subprocess.PIPE, env=env, text=True
    )
    assert child.stdout is not None
    reported: list[str] = []
    try:
        while len(reported) < 400:
            line = child.stdout.readline()
            assert line, f"child stopped early with {child.wait()}"
            reported.append(line.strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    reported.extend(line.strip() for line in child.stdout.read().splitlines())  # committed before the kill
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    led = SQLiteLedger(path)
    stored = {r.call_id for r in led.records()}
    assert set(reported) <= stored, sorted(set(reported) - stored)[:5]
    records = led.records()
    assert led.total() == sum((r.cost or Decimal(0) for r in records), Decimal(0))
    assert led.total(tag="crash") == led.total()
    assert led.verify()
    assert led.record(rec("after", "1"))  # the file is still writable
    led.close()


def test_total_with_filters_that_match_nothing_is_zero(tmp_path: Path) -> None:
    import time as _time

    from routerlib.spend import SQLiteLedger

    ledger = SQLiteLedger(tmp_path / "empty-filter.db")
    assert ledger.total(since=_time.time() + 1000) == Decimal(0)
    assert ledger.total(model="no-such-model") == Decimal(0)


# -- async twins, time bounds and typed errors -----------------------------------------------------


async def test_a_held_write_lock_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """Another process holds the write lock for 1.5 s: 50 async calls wait for it off the loop."""
    path = str(tmp_path / "s.db")
    led = SQLiteLedger(path)
    budgets = [Budget("1", "global")]
    hold = 1.5
    with sqlite_write_lock(path, hold):
        # The meter sees a blocking call: the sync twin on the loop stalls it for its whole wait.
        with LagMeter() as control:
            await asyncio.sleep(0.02)
            with pytest.raises(LedgerTimeoutError):
                led.reserve("blocked", Decimal("0.01"), budgets=budgets, timeout=0.3)
            await asyncio.sleep(0.02)
        assert control.worst >= 0.25

        async def call(i: int) -> None:
            await led.areserve(f"c{i}", Decimal("0.02"), budgets=budgets, timeout=30)
            await led.asettle(f"c{i}", rec(f"c{i}", "0.01", time.time()))

        with LagMeter() as meter:
            await asyncio.gather(*(call(i) for i in range(50)))
    assert meter.worst < hold / 10, meter.worst
    assert led.total() == Decimal("0.50") and led.reserved() == {} and led.verify()
    led.close()


async def test_a_held_write_lock_times_out_typed_naming_the_path(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    led = SQLiteLedger(path)  # the ceiling: 30 s
    with sqlite_write_lock(path, 3):
        started = time.monotonic()
        with pytest.raises(LedgerTimeoutError, match="write lock") as info:
            led.reserve("c", Decimal("0.01"), timeout=0.3)
        with pytest.raises(LedgerTimeoutError) as ainfo:
            await led.areserve("c", Decimal("0.01"), timeout=0.3)
        with pytest.raises(LedgerTimeoutError):
            await led.arelease("c", timeout=0.2)
        assert time.monotonic() - started < 30 / 10  # the call's bound, not the ceiling
        assert 250 < led._conn().execute("PRAGMA busy_timeout").fetchone()[0] <= 300  # cut to the call's bound
    for err in (info.value, ainfo.value):
        assert path in str(err) and err.where == f"SQLiteLedger({path!r})" and err.operation == "reserve"
        assert isinstance(err.__cause__, sqlite3.OperationalError)
    led.reserve("c", Decimal("0.01"))  # no bound given: back to the ceiling
    assert led._conn().execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    with pytest.raises(LedgerTimeoutError):
        led.reserve("d", Decimal("0.01"), timeout=0)  # no time left: the file is not even touched
    led.close()


async def test_a_settle_under_a_held_lock_is_spooled_then_written(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    led = SQLiteLedger(path)
    budgets = [Budget("1", "global")]
    led.reserve("a", Decimal("0.5"), budgets=budgets)
    await led.areserve("b", Decimal("0.5"), budgets=budgets)
    with sqlite_write_lock(path, 1):
        with pytest.raises(LedgerTimeoutError):
            led.settle("a", rec("a", "0.25", time.time()), timeout=0.1)
        with pytest.raises(LedgerTimeoutError):
            await led.asettle("b", rec("b", "0.25", time.time()), timeout=0.1)
        assert [r.call_id for r in led.pending()] == ["a", "b"]
    assert led.reserved() == {"global": Decimal("1.0")}  # held until the records land
    assert led.record(rec("c", "0.125", time.time())) is True
    assert led.pending() == [] and led.reserved() == {}
    assert led.total() == Decimal("0.625") and led.verify()
    led.close()


def test_errors_name_the_path_and_are_typed(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "s.db"
    with pytest.raises(LedgerUnavailableError, match="no-such-dir") as info:
        SQLiteLedger(missing)
    assert isinstance(info.value.__cause__, sqlite3.Error) and info.value.operation == "open"
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerUnavailableError, match=r"junk\.db"):
        SQLiteLedger(junk)
    led = SQLiteLedger(tmp_path / "s.db")
    led.close()
    with pytest.raises(LedgerUnavailableError, match="closed"):
        led.release("c")  # a release on a closed ledger raises a LedgerError, nothing else
    newer = tmp_path / "newer.db"
    raw = sqlite3.connect(newer)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(LedgerUnavailableError, match="v99"):
        SQLiteLedger(newer)


def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    raw = sqlite3.connect(path)
    raw.executescript(
        """
        CREATE TABLE reservations (call_id TEXT PRIMARY KEY, amount TEXT NOT NULL, expires REAL NOT NULL,
                                   user TEXT, team TEXT, tags TEXT NOT NULL);
        INSERT INTO reservations VALUES ('old', '0.5', 1e12, NULL, NULL, '[]');
        CREATE TABLE reserved (bucket TEXT PRIMARY KEY, amount TEXT NOT NULL) WITHOUT ROWID;
        INSERT INTO reserved VALUES ('global', '0.5');
        PRAGMA user_version = 1;
        """
    )
    raw.close()
    led = SQLiteLedger(path)
    assert led._conn().execute("PRAGMA user_version").fetchone()[0] == 2
    assert led.reserved() == {"global": Decimal("0.5")}  # a v1 hold has no owner: it lapses at expiry
    led.reserve("new", Decimal("0.25"))
    assert led.reserved() == {"global": Decimal("0.75")} and led.verify()
    led.close()


# -- a process killed while it holds a reservation ---------------------------------------------------

_HOLDER = """
import sys
from decimal import Decimal
from routerlib.spend import Budget
from routerlib.spend.sqlite import SQLiteLedger

led = SQLiteLedger(sys.argv[1])
led.reserve("held", Decimal("0.9"), budgets=[Budget(1, "global")])
print("held", flush=True)
sys.stdin.read()
"""


def test_a_sigkilled_process_reservation_is_reclaimed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    led = SQLiteLedger(path)
    budgets = [Budget(1, "global")]
    with pytest.raises(BudgetExceededError):
        led.reserve("mine", Decimal("0.5"), budgets=budgets)  # the child is alive: its hold counts
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    led.reserve("mine", Decimal("0.5"), budgets=budgets)  # not 900 s later: at once
    assert led.reserved() == {"global": Decimal("0.5")} and led.verify()
    child.stdout.close()
    led.close()


def test_holds_of_another_host_wait_for_their_expiry(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "s.db")
    budgets = [Budget(1, "global")]
    led.reserve("remote", Decimal("0.9"), budgets=budgets, now=T0, ttl=60)
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
    raw = sqlite3.connect(tmp_path / "s.db")
    raw.execute("UPDATE reservations SET pid = ?, host = 'elsewhere'", (int(dead_pid),))
    raw.commit()
    raw.close()
    with pytest.raises(BudgetExceededError):
        led.reserve("mine", Decimal("0.5"), budgets=budgets, now=T0 + 59)  # that pid means nothing here
    led.reserve("mine", Decimal("0.5"), budgets=budgets, now=T0 + 60)
    assert led.reserved(now=T0 + 60) == {"global": Decimal("0.5")}
    led.close()


def _async_process_worker(path: str, worker: int, start: Any, results: Any) -> None:
    """In a spawned process: 30 concurrent async calls against one budget on one file."""

    async def main() -> tuple[int, int]:
        led = SQLiteLedger(path)
        budgets = [Budget(LIMIT, "global")]
        settled = refused = 0

        async def call(i: int) -> None:
            nonlocal settled, refused
            call_id = f"w{worker}-{i}"
            try:
                await led.areserve(call_id, Decimal("0.01"), budgets=budgets, timeout=30)
            except BudgetExceededError:
                refused += 1
                return
            await led.asettle(call_id, rec(call_id, "0.008", ts=time.time()), timeout=30)
            settled += 1

        await asyncio.gather(*(call(i) for i in range(40)))
        led.close()
        return settled, refused

    start.wait()
    results.put(asyncio.run(main()))


def test_async_calls_in_four_processes_never_overspend(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SQLiteLedger(path).close()
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_async_process_worker, args=(path, w, start, results)) for w in range(4)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
        assert proc.exitcode == 0
    assert sum(r for _, r in outcomes) > 0, "the budget must allow fewer than 160 calls"
    led = SQLiteLedger(path)
    assert len(led.records()) == sum(s for s, _ in outcomes)
    assert led.total() <= LIMIT and led.reserved() == {} and led.verify()
    led.close()


async def test_async_twins_on_a_closed_ledger_raise_a_ledger_error(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "s.db")
    await led.areserve("c", Decimal("0.01"))  # starts the worker threads
    led.close()
    with pytest.raises(LedgerUnavailableError, match="closed"):
        await led.arelease("c")
    assert led._pool is None
