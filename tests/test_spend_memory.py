"""Tests for MemoryLedger: thread safety, and a property test that budgets hold under any
sequence of reserve / settle / release."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerlib.exceptions import BudgetExceededError
from routerlib.spend import Budget, Ledger, MemoryLedger, SpendRecord

T0 = 1_717_200_000.0


def rec(call_id: str, cost: Decimal, **kw: object) -> SpendRecord:
    return SpendRecord(call_id=call_id, timestamp=T0, model="m", provider="p", cost=cost, **kw)  # type: ignore[arg-type]


def test_is_a_ledger_with_sane_defaults() -> None:
    led = MemoryLedger()
    assert isinstance(led, Ledger)
    assert led.reservation_ttl == 900.0
    with MemoryLedger(reservation_ttl=5) as other:
        assert other.reservation_ttl == 5.0


def test_reservation_ttl_is_validated() -> None:
    for bad in (0, -1, True, "60"):
        try:
            MemoryLedger(reservation_ttl=bad)  # type: ignore[arg-type]
        except ValueError as exc:
            assert "reservation_ttl" in str(exc)
        else:  # pragma: no cover
            raise AssertionError(f"accepted {bad!r}")


def test_reserved_reports_live_holds_per_bucket() -> None:
    led = MemoryLedger(reservation_ttl=10)
    led.reserve("a", Decimal("0.2"), user="u", tags=("x",), now=T0)
    led.reserve("b", Decimal("0.3"), user="v", now=T0 + 5)
    assert led.reserved(now=T0 + 1) == {
        "global": Decimal("0.5"),
        "user:u": Decimal("0.2"),
        "tag:x": Decimal("0.2"),
        "user:v": Decimal("0.3"),
    }
    assert led.reserved(now=T0 + 10) == {"global": Decimal("0.3"), "user:v": Decimal("0.3")}


def test_concurrent_threads_never_overspend() -> None:
    led = MemoryLedger()
    budgets = [Budget("1.00", "global"), Budget("0.60", "user")]
    outcomes: list[bool] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        user = f"u{i % 2}"
        try:
            led.reserve(f"c{i}", Decimal("0.01"), user=user, budgets=budgets)
        except BudgetExceededError:
            ok = False
        else:
            led.settle(f"c{i}", rec(f"c{i}", Decimal("0.006") + Decimal("0.001") * (i % 5), user=user))
            ok = True
        with lock:
            outcomes.append(ok)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(call, range(200)))
    assert len(outcomes) == 200 and 0 < outcomes.count(True) < 200
    assert led.total() <= Decimal("1.00")
    assert led.total(user="u0") <= Decimal("0.60") and led.total(user="u1") <= Decimal("0.60")
    assert led.total() == sum((r.cost or Decimal(0) for r in led.records()), Decimal(0))
    assert len(led.records()) == outcomes.count(True)
    assert led.verify()


# One operation: (kind, call index, amount in tenths of a cent, fraction of the hold actually spent).
OPS = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "settle", "release", "record0"]),
        st.integers(0, 11),
        st.integers(0, 400),
        st.integers(0, 10),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_spend_never_exceeds_a_limit(ops: list[tuple[str, int, int, int]]) -> None:
    """Whatever the interleaving, spent (and spent + held) stays within every budget.

    Calls settle at most what they reserved (the contract: reserve the worst case); "record0"
    writes an unpriced record outside any reservation, which must not disturb the budgets.
    """
    led = MemoryLedger()
    limits = {"global": Decimal("1.000"), "user": Decimal("0.600"), "tag": Decimal("0.450")}
    budgets = [Budget(limits["global"], "global"), Budget(limits["user"], "user", "day"), Budget(limits["tag"], "tag")]
    held: dict[str, Decimal] = {}
    done: set[str] = set()
    for step, (kind, index, milli, tenths) in enumerate(ops):
        call_id, user, tags = f"c{index}", f"u{index % 3}", (f"t{index % 2}",)
        if kind == "reserve" and call_id not in done:
            amount = Decimal(milli) / 1000
            try:
                led.reserve(call_id, amount, user=user, tags=tags, budgets=budgets, now=T0)
                held[call_id] = amount
            except BudgetExceededError as err:
                assert err.requested is not None and err.spent + err.reserved + err.requested > err.limit
        elif kind == "settle" and call_id in held:
            cost = held.pop(call_id) * tenths / 10
            led.settle(call_id, rec(call_id, cost, user=user, tags=tags))
            done.add(call_id)
        elif kind == "release":
            held.pop(call_id, None)
            led.release(call_id)
        elif kind == "record0":
            led.record(SpendRecord(call_id=f"free{step}", timestamp=T0, model="m", provider="p", user=user))
        reserved = led.reserved(now=T0)
        assert led.total() + reserved.get("global", Decimal(0)) <= limits["global"]
        for i in range(3):
            bucket = f"user:u{i}"
            assert led.total(user=f"u{i}") + reserved.get(bucket, Decimal(0)) <= limits["user"]
        for i in range(2):
            assert led.total(tag=f"t{i}") + reserved.get(f"tag:t{i}", Decimal(0)) <= limits["tag"]
    assert led.verify()


def test_since_takes_epoch_seconds_a_datetime_or_a_date() -> None:
    import datetime

    from routerlib.spend import MemoryLedger, SpendRecord

    ledger = MemoryLedger()
    noon = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
    ledger.record(SpendRecord(call_id="a", timestamp=noon.timestamp(), model="m", provider="p",
                              cost=Decimal("1")))
    assert ledger.total(since=noon.timestamp()) == Decimal("1")
    assert ledger.total(since=noon.replace(tzinfo=None)) == Decimal("1")  # naive = UTC
    assert ledger.total(since=datetime.date(2026, 11, 25)) == Decimal("1")
    assert ledger.total(since=datetime.date(2026, 11, 26)) == Decimal("0")
    with pytest.raises(TypeError, match="since='yesterday'"):
        ledger.total(since="yesterday")  # type: ignore[arg-type]
