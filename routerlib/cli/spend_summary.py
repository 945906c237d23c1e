"""Spend totals grouped by period and by who or what: the numbers behind ``routerlib spend``.

One pass over record dicts (``routerlib.spend.report``) fills any number of groupings at once,
so the HTML report's several views cost one read of the ledger. Money is summed as ``Decimal``
in a 100-digit context: a total is the exact sum of the recorded costs, to the last digit.

Grouping keys: the UTC ``day`` ("2026-11-25"), ISO ``week`` ("2026-W48", Monday to Sunday) and
``month`` ("2026-11") of the call; its ``user``, ``team``, ``model`` ("provider/model"),
``provider``, and ``tag``. A call with several tags counts once under each of them (so the tag
rows can add up to more than the total); a call without a user, team or tag is under "(none)".

What the counts mean, given that the ledger holds one record per *answered* call (a call that
failed on every deployment releases its reservation and writes nothing):

- ``calls``: answered calls; ``attempts``: the requests they took in all;
- ``retried_calls``: calls that needed more than one attempt;
- ``failed_attempts``: attempts that failed before the answer (retries and fallbacks alike);
- ``unpriced_calls``: calls with no known price (their cost is not in ``cost``: it is unknown,
  not zero); ``estimated_calls``: calls whose usage routerlib estimated.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import product
from typing import Any

from ..spend.records import EXACT, ZERO
from ._output import money

__all__ = ["DIMENSIONS", "KEYS", "NONE", "PERIODS", "TOKEN_FIELDS", "Aggregator", "Totals", "group_values",
           "period_key", "sort_groups"]

PERIODS = ("day", "week", "month")
DIMENSIONS = ("user", "team", "tag", "model", "provider")
KEYS = PERIODS + DIMENSIONS
NONE = "(none)"
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_creation_tokens", "reasoning_tokens")


@dataclass(slots=True)
class Totals:
    """The sums of one group of records."""

    calls: int = 0
    attempts: int = 0
    retried_calls: int = 0
    unpriced_calls: int = 0
    estimated_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = ZERO
    #: Cost per pricing bucket ("input", "cached_input", "output", ...), from each record's breakdown.
    cost_by_bucket: dict[str, Decimal] = field(default_factory=dict)

    def add(self, row: Mapping[str, Any]) -> None:
        attempts = int(row.get("attempts") or 1)
        self.calls += 1
        self.attempts += attempts
        self.retried_calls += attempts > 1
        self.estimated_calls += bool(row.get("estimated"))
        self.prompt_tokens += int(row.get("prompt_tokens") or 0)
        self.completion_tokens += int(row.get("completion_tokens") or 0)
        self.cached_tokens += int(row.get("cached_tokens") or 0)
        self.cache_creation_tokens += int(row.get("cache_creation_tokens") or 0)
        self.reasoning_tokens += int(row.get("reasoning_tokens") or 0)
        cost = row.get("cost")
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost = EXACT.add(self.cost, Decimal(cost))
        for bucket, amount in (row.get("cost_breakdown") or {}).items():
            self.cost_by_bucket[bucket] = EXACT.add(self.cost_by_bucket.get(bucket, ZERO), Decimal(amount))

    @property
    def failed_attempts(self) -> int:
        return self.attempts - self.calls

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: counts as integers, money as exact decimal text."""
        return {
            "calls": self.calls,
            "attempts": self.attempts,
            "retried_calls": self.retried_calls,
            "failed_attempts": self.failed_attempts,
            "unpriced_calls": self.unpriced_calls,
            "estimated_calls": self.estimated_calls,
            **{name: getattr(self, name) for name in TOKEN_FIELDS},
            "cost": money(self.cost),
            "cost_by_bucket": {k: money(v) for k, v in sorted(self.cost_by_bucket.items())},
        }




def period_key(ts: float, period: str) -> str:
    """The UTC day, ISO week or month label of an epoch timestamp."""
    t = time.gmtime(ts)
    if period == "day":
        return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
    if period == "month":
        return f"{t.tm_year:04d}-{t.tm_mon:02d}"
    if period == "week":
        import datetime as dt

        year, week, _ = dt.date(t.tm_year, t.tm_mon, t.tm_mday).isocalendar()
        return f"{year:04d}-W{week:02d}"
    raise ValueError(f"unknown period {period!r}; use one of {PERIODS}")


def group_values(row: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """The group(s) a record falls in for ``key``: one, except for ``tag`` (one per tag)."""
    if key in PERIODS:
        return (period_key(row["timestamp"], key),)
    if key == "tag":
        return tuple(row.get("tags") or ()) or (NONE,)
    if key == "model":
        return (f"{row['provider']}/{row['model']}" if row.get("provider") else row["model"],)
    if key in ("user", "team", "provider"):
        return (row.get(key) or NONE,)
    raise ValueError(f"unknown grouping {key!r}; use one of {KEYS}")


class Aggregator:
    """Totals overall and for each grouping (a tuple of ``KEYS``), filled by ``add``-ing records."""

    def __init__(self, *groupings: tuple[str, ...]) -> None:
        for grouping in groupings:
            for key in grouping:
                if key not in KEYS:
                    raise ValueError(f"unknown grouping {key!r}; use one of {KEYS}")
        self.groupings = groupings
        self.overall = Totals()
        self.groups: list[dict[tuple[str, ...], Totals]] = [{} for _ in groupings]
        self.first: float | None = None
        self.last: float | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        ts = row["timestamp"]
        self.first = ts if self.first is None else min(self.first, ts)
        self.last = ts if self.last is None else max(self.last, ts)
        self.overall.add(row)
        for grouping, groups in zip(self.groupings, self.groups, strict=True):
            for combo in product(*(group_values(row, key) for key in grouping)):
                totals = groups.get(combo)
                if totals is None:
                    totals = groups[combo] = Totals()
                totals.add(row)

    def add_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.add(row)


def sort_groups(groups: Mapping[tuple[str, ...], Totals], keys: tuple[str, ...]
                ) -> list[tuple[tuple[str, ...], Totals]]:
    """Periods in time order; within a period, the dearest group first, then by name."""
    periods = [i for i, key in enumerate(keys) if key in PERIODS]

    def order(item: tuple[tuple[str, ...], Totals]) -> tuple[Any, ...]:
        combo, totals = item
        return (tuple(combo[i] for i in periods), -totals.cost, combo)

    return sorted(groups.items(), key=order)
