"""Budgets: the ``Budget`` value, UTC windows, and the check a reservation must pass.

A budget caps spend per *bucket* ("global", "user:<name>", "team:<name>", "tag:<name>") per
window (UTC day, UTC month, or all time). A reservation passes when, for every bucket of every
applicable budget, spent in the window + outstanding reservations + the amount <= the limit.
Backends supply the two numbers; ``enforce`` makes the decision and builds the error, so the
rule and its message are written once.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from ..exceptions import BudgetExceededError
from .records import EXACT, ZERO, dec_text, to_decimal, window_ids

__all__ = [
    "SCOPES",
    "WINDOWS",
    "Budget",
    "BudgetCheck",
    "Reservation",
    "Scope",
    "Window",
    "adjust",
    "budget_error",
    "enforce",
    "plan_checks",
    "reserved_by_bucket",
]

Scope = Literal["user", "team", "tag", "global"]
Window = Literal["day", "month", "total"]
SCOPES: tuple[str, ...] = get_args(Scope)
WINDOWS: tuple[str, ...] = get_args(Window)


def _choice(value: object, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"Budget {what} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


@dataclass(frozen=True, slots=True, init=False)
class Budget:
    """A spending cap: ``limit`` USD per ``window`` (UTC day, UTC month or all time) per bucket.

    ``key=None`` applies the budget to every user (team, tag) separately -- "each user may spend
    $10 a day" -- while ``key="alice"`` applies it to that one user only. Global budgets take no key.
    """

    limit: Decimal
    scope: Scope
    window: Window
    key: str | None

    def __init__(
        self,
        limit: Decimal | str | float,
        scope: Scope,
        window: Window = "total",
        key: str | None = None,
    ) -> None:
        _choice(scope, SCOPES, "scope")
        _choice(window, WINDOWS, "window")
        if scope == "global" and key is not None:
            raise ValueError(f"a global Budget takes no key; got key={key!r}")
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"Budget key must be a non-empty string or None; got {key!r}")
        object.__setattr__(self, "limit", to_decimal(limit, "Budget limit"))
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "key", key)

    def __reduce__(self) -> tuple[Any, ...]:
        # Explicit, because frozen slotted dataclasses do not unpickle on every Python we support.
        return (Budget, (self.limit, self.scope, self.window, self.key))

    def applies_to(self, user: str | None, team: str | None, tags: Iterable[str]) -> list[str]:
        """The bucket keys this budget caps for a call by ``user``/``team`` with ``tags`` (may be empty)."""
        if self.scope == "global":
            return ["global"]
        if self.scope == "tag":
            subjects = list(dict.fromkeys(tags))
        else:
            subject = user if self.scope == "user" else team
            subjects = [subject] if subject else []
        if self.key is not None:
            subjects = [s for s in subjects if s == self.key]
        return [f"{self.scope}:{s}" for s in subjects]

    def window_start(self, now: float) -> float:
        """Epoch seconds at which the window containing ``now`` began (UTC); -inf for "total"."""
        if self.window == "total":
            return -math.inf
        t = time.gmtime(now)
        return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday if self.window == "day" else 1, 0, 0, 0)))

    def window_id(self, now: float) -> str:
        """The id of the window containing ``now``: "day:YYYY-MM-DD", "month:YYYY-MM" or "total"."""
        return window_ids(now)[WINDOWS.index(self.window)]


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """One (budget, bucket, window) pair a reservation must satisfy."""

    budget: Budget
    bucket: str
    window_id: str

    @property
    def subject(self) -> str | None:
        """The user, team or tag name the bucket belongs to (None for the global bucket)."""
        return None if self.bucket == "global" else self.bucket.split(":", 1)[1]


def plan_checks(
    budgets: Sequence[Budget], user: str | None, team: str | None, tags: Iterable[str], now: float
) -> list[BudgetCheck]:
    """Every check a reservation must pass, in budget order (the first failure is reported)."""
    tags = tuple(tags)
    return [
        BudgetCheck(budget, bucket, budget.window_id(now))
        for budget in budgets
        for bucket in budget.applies_to(user, team, tags)
    ]


def budget_error(check: BudgetCheck, spent: Decimal, reserved: Decimal, requested: Decimal) -> BudgetExceededError:
    """The error for a failed check, with every number needed to understand it."""
    budget = check.budget
    who = "global budget" if check.subject is None else f"{budget.scope} budget for {check.subject!r}"
    per = {"day": "per UTC day", "month": "per UTC month", "total": "in total"}[budget.window]
    return BudgetExceededError(
        f"{who} exceeded: limit ${dec_text(budget.limit)} {per}, spent ${dec_text(spent)}, "
        f"reserved ${dec_text(reserved)}, requested ${dec_text(requested)}",
        limit=budget.limit,
        spent=spent,
        reserved=reserved,
        requested=requested,
        scope=budget.scope,
        key=check.subject,
    )


def enforce(
    checks: Sequence[BudgetCheck],
    amount: Decimal,
    spent_of: Callable[[BudgetCheck], Decimal],
    reserved_of: Callable[[str], Decimal],
) -> None:
    """Raise for the first check where spent + reserved + amount exceeds the limit."""
    for check in checks:
        spent, reserved = spent_of(check), reserved_of(check.bucket)
        if EXACT.add(EXACT.add(spent, reserved), amount) > check.budget.limit:
            raise budget_error(check, spent, reserved, amount)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget held for an in-flight call until it settles, is released or expires."""

    amount: Decimal
    expires: float
    buckets: frozenset[str]

    def share(self, bucket: str) -> Decimal:
        """What this reservation holds in ``bucket`` (its amount, or 0 when it does not count there)."""
        return self.amount if bucket in self.buckets else ZERO


def adjust(counters: dict[str, Decimal], buckets: Iterable[str], delta: Decimal) -> None:
    """Add ``delta`` to per-bucket reserved counters, dropping counters that reach zero."""
    for bucket in buckets:
        value = EXACT.add(counters.get(bucket, ZERO), delta)
        if value > 0:
            counters[bucket] = value
        else:
            counters.pop(bucket, None)


def reserved_by_bucket(reservations: Iterable[Reservation]) -> dict[str, Decimal]:
    """Outstanding reserved amount per bucket, recomputed from the reservations themselves."""
    sums: dict[str, Decimal] = {}
    for res in reservations:
        adjust(sums, res.buckets, res.amount)
    return sums
