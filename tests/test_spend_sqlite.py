"""Tests for SQLiteLedger on real files: pragmas and schema, several processes on one file,
a SIGKILLed writer, threads, and the running totals' self-check."""

from __future__ import annotations

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

from routerlib.exceptions import BudgetExceededError
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
