"""Tests for routerlib.spend.spool and how a ledger uses it: a failed write keeps its record,
the next good write (or flush_pending, or close) writes it, and the spool is bounded."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from routerlib.exceptions import LedgerUnavailableError
from routerlib.spend import Budget, MemoryLedger, SpendRecord
from routerlib.spend.spool import Spool


def rec(call_id: str, cost: str = "0.1") -> SpendRecord:
    return SpendRecord(call_id=call_id, timestamp=1_717_200_000.0, model="m", provider="p", cost=Decimal(cost))


class FlakyLedger(MemoryLedger):
    """A MemoryLedger whose store can be switched off, failing as a Redis or SQLite ledger would."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.writes = 0

    def _write_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        if self.down:
            raise LedgerUnavailableError("store down", where="flaky", operation="settle")
        self.writes += 1
        return super()._write_record(rec, settles, timeout)


def test_spool_is_ordered_bounded_and_deduplicated(caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(limit=2)
    assert spool.add(rec("a"), False) and spool.add(rec("b"), True)
    assert spool.add(rec("a"), True)  # already there: kept once, and it now settles
    with caplog.at_level(logging.ERROR, logger="routerlib.spend"):
        assert not spool.add(rec("c"), False)
    assert spool.dropped == 1 and "call c dropped" in caplog.text
    assert [r.call_id for r in spool.records()] == ["a", "b"]
    first = spool.take(1)
    assert first == [(rec("a"), True)] and len(spool) == 1
    spool.put_back(first)
    assert [r.call_id for r in spool.records()] == ["a", "b"]  # back at the front
    with pytest.raises(ValueError, match="spool_limit"):
        Spool(limit=-1)


def test_a_failed_settle_keeps_the_record_and_the_hold() -> None:
    ledger = FlakyLedger()
    ledger.reserve("a", Decimal("0.5"), budgets=[Budget(1, "global")])
    ledger.down = True
    with pytest.raises(LedgerUnavailableError):
        ledger.settle("a", rec("a", "0.25"))
    assert ledger.pending() == [rec("a", "0.25")]
    assert ledger.reserved() == {"global": Decimal("0.5")}  # still held: the budget stays conservative
    ledger.down = False
    assert ledger.record(rec("b")) is True
    assert ledger.pending() == [] and ledger.reserved() == {} and ledger.total() == Decimal("0.35")


def test_the_next_good_write_flushes_one_batch() -> None:
    ledger = FlakyLedger()
    ledger.down = True
    for i in range(100):
        with pytest.raises(LedgerUnavailableError):
            ledger.record(rec(f"c{i}"))
    ledger.down = False
    ledger.record(rec("next"))
    assert len(ledger.pending()) == 100 - 64  # a batch per write keeps each call's extra work bounded
    assert ledger.flush_pending() == 36 and ledger.pending() == []
    assert ledger.total() == Decimal("10.1") and ledger.verify()


def test_flush_pending_stops_at_the_first_failure_and_keeps_the_rest() -> None:
    ledger = FlakyLedger()
    ledger.down = True
    for name in ("a", "b"):
        with pytest.raises(LedgerUnavailableError):
            ledger.record(rec(name))
    with pytest.raises(LedgerUnavailableError):
        ledger.flush_pending()
    assert [r.call_id for r in ledger.pending()] == ["a", "b"]


async def test_async_writes_spool_and_flush_too() -> None:
    ledger = FlakyLedger()
    ledger.down = True
    with pytest.raises(LedgerUnavailableError):
        await ledger.asettle("a", rec("a"))
    ledger.down = False
    assert await ledger.arecord(rec("b")) is True
    assert ledger.pending() == [] and ledger.total() == Decimal("0.2")
    ledger.down = True
    with pytest.raises(LedgerUnavailableError):
        await ledger.arecord(rec("c"))
    ledger.down = False
    assert await ledger.aflush_pending() == 1


def test_close_tries_once_and_logs_what_is_left(caplog: pytest.LogCaptureFixture) -> None:
    ledger = FlakyLedger()
    ledger.down = True
    with pytest.raises(LedgerUnavailableError):
        ledger.record(rec("a"))
    with caplog.at_level(logging.WARNING, logger="routerlib.spend"):
        ledger.close()
    assert "1 spend records unwritten" in caplog.text
    ledger.down = False
    ledger.close()
    assert ledger.pending() == [] and ledger.total() == Decimal("0.1")


def test_a_full_spool_counts_what_it_dropped() -> None:
    ledger = FlakyLedger()
    ledger._spool.limit = 1
    ledger.down = True
    for name in ("a", "b"):
        with pytest.raises(LedgerUnavailableError):
            ledger.record(rec(name))
    assert [r.call_id for r in ledger.pending()] == ["a"] and ledger.pending_dropped == 1
