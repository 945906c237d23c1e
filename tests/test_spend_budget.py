"""Tests for budgets: the Budget value, UTC windows, and reserve/settle/release semantics on
every backend (memory, SQLite, Redis)."""

from __future__ import annotations

import calendar
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routerlib.exceptions import BudgetExceededError
from routerlib.spend import Budget, MemoryLedger, SpendRecord
from routerlib.spend.base import LedgerBase


def utc(*parts: int) -> float:
    return float(calendar.timegm((*parts, 0, 0, 0)[:6]))


T0 = utc(2024, 3, 15, 12)


def rec(call_id: str, cost: str, ts: float = T0, **kw: Any) -> SpendRecord:
    return SpendRecord(call_id=call_id, timestamp=ts, model="m", provider="p", cost=Decimal(cost), **kw)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerBase]:
    led: LedgerBase
    if request.param == "memory":
        led = MemoryLedger(reservation_ttl=60)
    elif request.param == "sqlite":
        from routerlib.spend import SQLiteLedger

        led = SQLiteLedger(tmp_path / "spend.db", reservation_ttl=60)
    else:
        from routerlib.spend import RedisLedger

        url = request.getfixturevalue("redis_url")
        led = RedisLedger(url, prefix=f"t{uuid.uuid4().hex}:", reservation_ttl=60)
    yield led
    led.close()


# -- the Budget value ---------------------------------------------------------------------------


def test_limit_accepts_int_str_decimal_and_float_via_str() -> None:
    assert Budget(10, "global").limit == Decimal(10)
    assert Budget("0.30", "global").limit == Decimal("0.30")
    assert Budget(Decimal("1.5"), "user").limit == Decimal("1.5")
    assert Budget(0.1, "team").limit == Decimal("0.1")  # not 0.1000000000000000055511...
    b = Budget(5, "user", "day", key="alice")
    assert (b.scope, b.window, b.key) == ("user", "day", "alice")
    assert Budget(1, "tag") == Budget("1", "tag", "total") and hash(Budget(1, "tag")) == hash(Budget("1.0", "tag"))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((10, "org"), {}, ValueError, ["'org'", "'user'", "'team'", "'tag'", "'global'"]),
        ((10, "user", "week"), {}, ValueError, ["'week'", "'day'", "'month'", "'total'"]),
        ((-1, "user"), {}, ValueError, ["-1", ">= 0"]),
        (("ten", "user"), {}, ValueError, ["'ten'"]),
        ((float("nan"), "user"), {}, ValueError, ["nan"]),
        ((float("inf"), "user"), {}, ValueError, ["inf"]),
        ((True, "user"), {}, TypeError, ["True"]),
        (([1], "user"), {}, TypeError, ["[1]"]),
        ((1, "global"), {"key": "x"}, ValueError, ["global", "'x'"]),
        ((1, "user"), {"key": ""}, ValueError, ["key", "''"]),
    ],
)
def test_budget_validation_names_the_bad_value(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as info:
        Budget(*args, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_applies_to() -> None:
    assert Budget(1, "global").applies_to(None, None, ()) == ["global"]
    assert Budget(1, "user").applies_to("alice", "t", ()) == ["user:alice"]
    assert Budget(1, "user").applies_to(None, "t", ()) == []
    assert Budget(1, "user", key="bob").applies_to("alice", None, ()) == []
    assert Budget(1, "user", key="alice").applies_to("alice", None, ()) == ["user:alice"]
    assert Budget(1, "team").applies_to("alice", "t", ()) == ["team:t"]
    assert Budget(1, "tag").applies_to(None, None, ["a", "b", "a"]) == ["tag:a", "tag:b"]
    assert Budget(1, "tag", key="b").applies_to(None, None, ["a", "b"]) == ["tag:b"]


@pytest.mark.parametrize(
    ("now", "window", "start"),
    [
        (utc(2024, 3, 15, 12), "day", utc(2024, 3, 15)),
        (utc(2024, 3, 15), "day", utc(2024, 3, 15)),  # midnight belongs to the new day
        (utc(2024, 3, 15) - 0.001, "day", utc(2024, 3, 14)),
        (utc(2024, 2, 29, 23), "month", utc(2024, 2, 1)),  # leap day
        (utc(2024, 3, 1), "month", utc(2024, 3, 1)),
        (utc(2023, 12, 31, 23, 59, 59), "month", utc(2023, 12, 1)),
        (utc(2024, 1, 1), "month", utc(2024, 1, 1)),
        (utc(2024, 1, 1), "total", -math.inf),
    ],
)
def test_window_start_is_utc(now: float, window: Any, start: float) -> None:
    assert Budget(1, "global", window).window_start(now) == start


def test_window_ids() -> None:
    assert Budget(1, "global", "day").window_id(utc(2023, 12, 31, 23, 59, 59)) == "day:2023-12-31"
    assert Budget(1, "global", "month").window_id(utc(2024, 1, 1)) == "month:2024-01"
    assert Budget(1, "global").window_id(0) == "total"


# -- reserve / settle / release on every backend -------------------------------------------------


def test_reserve_counts_spent_and_reserved(ledger: LedgerBase) -> None:
    budgets = [Budget("1.00", "global")]
    ledger.record(rec("old", "0.50"))
    ledger.reserve("a", Decimal("0.30"), budgets=budgets, now=T0)
    ledger.reserve("b", Decimal("0.20"), budgets=budgets, now=T0)  # exactly at the limit is allowed
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("c", Decimal("0.000001"), budgets=budgets, now=T0)
    err = info.value
    assert (err.limit, err.spent, err.reserved, err.requested) == (
        Decimal("1.00"),
        Decimal("0.50"),
        Decimal("0.50"),
        Decimal("0.000001"),
    )
    assert (err.scope, err.key) == ("global", None)
    assert "limit $1.00" in str(err) and "spent $0.5" in str(err)


def test_reserve_is_atomic_across_budgets(ledger: LedgerBase) -> None:
    budgets = [Budget(10, "global"), Budget(1, "team", "day"), Budget("0.5", "user", key="alice")]
    ledger.reserve("a", Decimal("0.4"), user="alice", team="t", budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("b", Decimal("0.2"), user="alice", team="t", budgets=budgets, now=T0)
    assert (info.value.scope, info.value.key, info.value.reserved) == ("user", "alice", Decimal("0.4"))
    # the failed call reserved nothing, not even on the budgets it passed:
    ledger.reserve("c", Decimal("0.6"), user="bob", team="t", budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("d", Decimal("0.01"), user="bob", team="t", budgets=budgets, now=T0)
    assert (info.value.scope, info.value.key, info.value.reserved) == ("team", "t", Decimal("1.0"))


def test_first_violated_budget_is_reported(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "tag"), Budget(1, "global")]
    ledger.record(rec("x", "0.95", tags=("b",)))
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("c", Decimal("0.1"), tags=("a", "b"), budgets=budgets, now=T0)
    assert (info.value.scope, info.value.key, info.value.spent) == ("tag", "b", Decimal("0.95"))


def test_settle_replaces_the_reservation_with_the_record(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "user")]
    ledger.reserve("a", Decimal("0.9"), user="u", budgets=budgets, now=T0)
    assert ledger.settle("a", rec("a", "0.1", user="u")) is True
    ledger.reserve("b", Decimal("0.9"), user="u", budgets=budgets, now=T0)  # 0.1 spent + 0.9 fits
    assert ledger.total(user="u") == Decimal("0.1")
    assert ledger.settle("a", rec("a", "0.1", user="u")) is False  # settling twice counts once
    assert ledger.total(user="u") == Decimal("0.1")


def test_release_frees_budget_and_is_idempotent(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "global")]
    ledger.reserve("a", Decimal(1), budgets=budgets, now=T0)
    ledger.release("a")
    ledger.release("a")
    ledger.release("never-reserved")
    ledger.reserve("b", Decimal(1), budgets=budgets, now=T0)
    assert ledger.total() == 0


def test_reserving_again_replaces_the_earlier_hold(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "global")]
    ledger.reserve("a", Decimal("0.8"), budgets=budgets, now=T0)
    ledger.reserve("a", Decimal("0.9"), budgets=budgets, now=T0)  # not 0.8 + 0.9
    with pytest.raises(BudgetExceededError):
        ledger.reserve("a", Decimal("1.1"), budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError) as info:  # the failed re-reserve kept the 0.9 hold
        ledger.reserve("b", Decimal("0.2"), budgets=budgets, now=T0)
    assert info.value.reserved == Decimal("0.9")


def test_reservations_expire(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "global")]
    ledger.reserve("crashed", Decimal(1), budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError):
        ledger.reserve("b", Decimal("0.1"), budgets=budgets, now=T0 + 59.9)
    ledger.reserve("b", Decimal("0.1"), budgets=budgets, now=T0 + 60)  # ttl is 60 s in these tests
    # a late settle of the expired call is still recorded: records are never lost
    assert ledger.settle("crashed", rec("crashed", "0.5", ts=T0 + 61))
    assert ledger.total() == Decimal("0.5")


def test_day_and_month_windows_reset_at_utc_boundaries(ledger: LedgerBase) -> None:
    day, month, total = Budget(1, "user", "day"), Budget(2, "user", "month"), Budget(3, "user")
    last_second = utc(2024, 3, 31, 23, 59, 59)
    ledger.record(rec("a", "1", ts=last_second, user="u"))
    ledger.record(rec("b", "1", ts=last_second - 86400, user="u"))
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("c", Decimal("0.01"), user="u", budgets=[day], now=last_second)
    assert info.value.spent == Decimal(1)
    with pytest.raises(BudgetExceededError):
        ledger.reserve("c", Decimal("0.01"), user="u", budgets=[month], now=last_second)
    ledger.reserve("c", Decimal("1"), user="u", budgets=[day, month, total], now=utc(2024, 4, 1))
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("d", Decimal("0.01"), user="u", budgets=[day, month, total], now=utc(2024, 4, 1))
    assert (info.value.limit, info.value.spent, info.value.reserved) == (Decimal(1), Decimal(0), Decimal(1))


def test_budgets_apply_per_subject_or_to_one_key(ledger: LedgerBase) -> None:
    each_user = Budget("0.5", "user")
    only_alice = Budget("0.1", "user", key="alice")
    ledger.reserve("a1", Decimal("0.5"), user="alice", budgets=[each_user], now=T0)
    ledger.reserve("b1", Decimal("0.5"), user="bob", budgets=[each_user, only_alice], now=T0)
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("a2", Decimal("0.01"), user="alice", budgets=[only_alice], now=T0)
    assert info.value.key == "alice"
    ledger.reserve("anon", Decimal(100), budgets=[each_user, only_alice], now=T0)  # no user: no user budget


def test_zero_limit_refuses_any_cost_but_allows_free_calls(ledger: LedgerBase) -> None:
    budgets = [Budget(0, "team")]
    ledger.reserve("free", Decimal(0), team="t", budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError):
        ledger.reserve("paid", Decimal("0.000001"), team="t", budgets=budgets, now=T0)


def test_reserve_validates_its_arguments(ledger: LedgerBase) -> None:
    with pytest.raises(ValueError, match="amount"):
        ledger.reserve("a", Decimal(-1))
    with pytest.raises(TypeError, match="amount"):
        ledger.reserve("a", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amount"):
        ledger.reserve("a", "lots")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Budget"):
        ledger.reserve("a", Decimal(1), budgets=["1 USD"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="call_id"):
        ledger.reserve("", Decimal(1))


def test_unpriced_settle_frees_the_reservation(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "global")]
    ledger.reserve("a", Decimal(1), budgets=budgets, now=T0)
    unpriced = SpendRecord(call_id="a", timestamp=T0, model="m", provider="p", cost=None)
    ledger.settle("a", unpriced)
    ledger.reserve("b", Decimal(1), budgets=budgets, now=T0)
    assert ledger.records()[0].cost is None
