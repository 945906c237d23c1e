"""Tests for routerlib.spend.calling: ledgers of the first protocol still work from sync and async
code, and a worker-thread job is ordered with what its cancelled caller does next."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from routerlib.spend import MemoryLedger, SpendRecord
from routerlib.spend.base import Ledger, run_async, run_sync
from routerlib.spend.calling import check_timeout, in_thread


class FirstProtocolLedger:
    """A user's ledger written against the first Ledger protocol: no timeout, no ttl, no async twins."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, int]] = []

    def reserve(self, call_id: str, amount: Decimal, *, user: str | None = None, team: str | None = None,
                tags: Any = (), budgets: Any = (), now: float | None = None) -> None:
        self.calls.append(("reserve", call_id, threading.get_ident()))

    def settle(self, call_id: str, rec: SpendRecord) -> bool:
        self.calls.append(("settle", call_id, threading.get_ident()))
        return True

    def release(self, call_id: str) -> None:
        self.calls.append(("release", call_id, threading.get_ident()))

    def record(self, rec: SpendRecord) -> bool:
        return True


def rec(call_id: str) -> SpendRecord:
    return SpendRecord(call_id=call_id, timestamp=1.0, model="m", provider="p", cost=Decimal("0.1"))


def test_run_sync_leaves_out_the_keywords_an_older_ledger_lacks() -> None:
    ledger = FirstProtocolLedger()
    run_sync(ledger, "reserve", "c", Decimal(1), user="u", ttl=5, timeout=1)  # type: ignore[arg-type]
    assert run_sync(ledger, "settle", "c", rec("c"), timeout=1) is True  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        run_sync(ledger, "release", "c", colour="red")  # type: ignore[arg-type]  # only the newer keywords go
    assert [c[:2] for c in ledger.calls] == [("reserve", "c"), ("settle", "c")]


async def test_run_async_runs_an_older_ledger_in_a_thread() -> None:
    ledger = FirstProtocolLedger()
    await run_async(ledger, "reserve", "c", Decimal(1), ttl=5, timeout=1)  # type: ignore[arg-type]
    await run_async(ledger, "release", "c", timeout=1)  # type: ignore[arg-type]
    assert [c[:2] for c in ledger.calls] == [("reserve", "c"), ("release", "c")]
    assert all(ident != threading.get_ident() for *_, ident in ledger.calls)  # off the loop's thread


async def test_run_async_awaits_the_twin_when_there_is_one() -> None:
    ledger = MemoryLedger()
    assert isinstance(ledger, Ledger)
    await run_async(ledger, "reserve", "c", Decimal(1), ttl=5, timeout=1)
    assert await run_async(ledger, "settle", "c", rec("c"), timeout=1) is True
    assert ledger.total() == Decimal("0.1") and ledger.reserved() == {}


async def test_a_cancelled_job_that_is_running_is_waited_for() -> None:
    """A cancelled areserve must not commit after the caller's release: the caller waits for it."""
    started, proceed, order = threading.Event(), threading.Event(), []

    def job() -> str:
        started.set()
        proceed.wait(10)
        order.append("job done")
        return "x"

    task = asyncio.ensure_future(in_thread(job))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the running job
    proceed.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    order.append("caller goes on")
    assert order == ["job done", "caller goes on"]


async def test_a_cancelled_job_still_queued_never_runs() -> None:
    pool = ThreadPoolExecutor(1)
    gate, ran = threading.Event(), []
    blocker = asyncio.ensure_future(in_thread(lambda: gate.wait(10), pool))
    queued = asyncio.ensure_future(in_thread(lambda: ran.append("queued"), pool))
    await asyncio.sleep(0.05)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    gate.set()
    await blocker
    await asyncio.get_running_loop().run_in_executor(pool, lambda: None)  # the queue has drained
    assert ran == []
    pool.shutdown()


def test_check_timeout() -> None:
    assert check_timeout(None) is None and check_timeout(float("inf")) is None
    assert check_timeout(2) == 2.0 and check_timeout(-1) == -1.0
    for bad in ("1", True, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            check_timeout(bad)  # type: ignore[arg-type]
