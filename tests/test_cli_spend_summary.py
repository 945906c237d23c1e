"""Spend totals: exact sums per group, ISO weeks, one row per tag, and the order rows are shown in."""

from __future__ import annotations

import calendar
from decimal import Decimal

import pytest
from cli_helpers import make_records

from routerlib.cli.spend_summary import NONE, Aggregator, Totals, group_values, period_key, sort_groups
from routerlib.spend import MemoryLedger

RECORDS = make_records(400, unpriced_every=11)
ROWS = [r.to_dict() for r in RECORDS]


def test_totals_are_the_ledgers_exact_totals() -> None:
    ledger = MemoryLedger()
    for rec in RECORDS:
        ledger.record(rec)
    agg = Aggregator(("day",), ("user",), ("model",))
    agg.add_all(ROWS)
    assert agg.overall.cost == ledger.total()
    assert {combo[0]: t.cost for combo, t in agg.groups[0].items()} == ledger.totals_by_day()
    for (user,), totals in agg.groups[1].items():
        assert totals.cost == ledger.total(user=user)
    for (model,), totals in agg.groups[2].items():
        assert totals.cost == ledger.total(model=model)
        assert totals.calls == len(ledger.records(model=model))


def test_sums_are_exact_where_floats_are_not() -> None:
    agg = Aggregator()
    for i, cost in enumerate(("0.1", "0.2", "0.000000000000000000000000000001")):
        agg.add({"call_id": str(i), "timestamp": 0.0, "model": "m", "provider": "p", "cost": cost})
    assert 0.1 + 0.2 != 0.3
    assert agg.overall.to_dict()["cost"] == "0.300000000000000000000000000001"  # 31 digits: past float and 28


def test_counts_and_tokens() -> None:
    agg = Aggregator()
    agg.add_all(ROWS)
    t = agg.overall
    assert t.calls == 400 and t.attempts == sum(r.attempts for r in RECORDS)
    assert t.retried_calls == sum(r.attempts > 1 for r in RECORDS)
    assert t.failed_attempts == sum(r.attempts - 1 for r in RECORDS) > 0
    assert t.unpriced_calls == sum(r.cost is None for r in RECORDS) == 36
    assert t.prompt_tokens == sum(r.prompt_tokens for r in RECORDS)
    assert t.reasoning_tokens == sum(r.reasoning_tokens for r in RECORDS) > 0
    buckets = {b: sum((Decimal(r.cost_breakdown.get(b, "0")) for r in RECORDS), Decimal(0))
               for b in ("input", "cached_input", "output")}
    assert t.cost_by_bucket == buckets and sum(buckets.values()) == t.cost
    data = t.to_dict()
    assert Decimal(data["cost"]) == t.cost and data["failed_attempts"] == t.failed_attempts


def test_a_call_with_several_tags_counts_under_each() -> None:
    agg = Aggregator(("tag",))
    agg.add_all(ROWS)
    groups = {combo[0]: t for combo, t in agg.groups[0].items()}
    assert set(groups) == {"beta", "batch", "chat", NONE}
    assert groups[NONE].calls == sum(not r.tags for r in RECORDS)
    assert sum(t.calls for t in groups.values()) == sum(max(len(r.tags), 1) for r in RECORDS) > 400


@pytest.mark.parametrize(("when", "day", "week", "month"), [
    ((2025, 12, 29, 0, 0, 0), "2025-12-29", "2026-W01", "2025-12"),   # ISO week 1 of 2026 starts in 2025
    ((2027, 1, 1, 23, 59, 59), "2027-01-01", "2026-W53", "2027-01"),  # and 2026 has 53 weeks
    ((2026, 11, 25, 12, 0, 0), "2026-11-25", "2026-W48", "2026-11"),
])
def test_periods_are_utc_and_iso_weeks(when: tuple[int, ...], day: str, week: str, month: str) -> None:
    ts = float(calendar.timegm(when))
    assert (period_key(ts, "day"), period_key(ts, "week"), period_key(ts, "month")) == (day, week, month)


def test_group_values() -> None:
    row = {"timestamp": 0.0, "model": "m", "provider": "p", "user": None, "team": "t", "tags": ["a", "b"]}
    assert group_values(row, "model") == ("p/m",) and group_values(row, "user") == (NONE,)
    assert group_values(row, "tag") == ("a", "b") and group_values(row, "provider") == ("p",)
    with pytest.raises(ValueError, match="unknown grouping"):
        Aggregator(("colour",))


def test_rows_are_in_time_order_then_dearest_first() -> None:
    agg = Aggregator(("day", "model"))
    agg.add_all(ROWS)
    ordered = sort_groups(agg.groups[0], ("day", "model"))
    days = [combo[0] for combo, _ in ordered]
    assert days == sorted(days)
    for day in set(days):
        costs = [t.cost for combo, t in ordered if combo[0] == day]
        assert costs == sorted(costs, reverse=True)


def test_empty() -> None:
    agg = Aggregator(("day",))
    assert agg.groups == [{}] and agg.overall == Totals() and agg.overall.to_dict()["cost"] == "0"
