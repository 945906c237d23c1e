"""Spend records, budgets and the ``Ledger`` protocol that every backend implements.

One call's life in the ledger::

    reserve(call_id, worst_case, budgets=...)    every applicable budget, all at once:
         │                                        spent in window + reserved + amount <= limit
         │                                        or BudgetExceededError and nothing reserved
         ▼
    provider call ──failed──► release(call_id)    drop the reservation (idempotent)
         │
         └──answered──► settle(call_id, record)   drop the reservation and write the record,
                                                  in one atomic step

Budgets are checked against *buckets*: "global", "user:<name>", "team:<name>", "tag:<name>".
Every backend keeps a running total per (window, bucket) -- window ids "day:YYYY-MM-DD",
"month:YYYY-MM" and "total", all in UTC -- updated in the same atomic step that writes the
record, so a budget check reads a few numbers instead of scanning history. ``verify()``
recomputes those totals from the records to prove they agree.

Reservations expire (``reservation_ttl``, 15 minutes by default) so that a process that
crashed between reserve and settle cannot hold budget forever. The price of that liveness:
a call whose reservation expired before it settled is still recorded (records are never
lost), so such a late call can take a bucket past its limit.

Shared logic lives here once: value validation, bucket and window arithmetic, the budget
check, record filters, aggregates, and (via ``export``) JSONL/CSV export.
"""

from __future__ import annotations

import decimal
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    TypeVar,
    get_args,
    runtime_checkable,
)

from ..exceptions import BudgetExceededError

if TYPE_CHECKING:
    import os

    from ..types import Cost, Usage

__all__ = [
    "Budget",
    "BudgetCheck",
    "Filters",
    "Ledger",
    "LedgerBase",
    "Reservation",
    "Scope",
    "SpendRecord",
    "Window",
    "record_buckets",
    "window_ids",
]

Scope = Literal["user", "team", "tag", "global"]
Window = Literal["day", "month", "total"]
SCOPES: tuple[str, ...] = get_args(Scope)
WINDOWS: tuple[str, ...] = get_args(Window)
#: Default reservation lifetime: long enough for a slow stream, short enough to free a crashed call's budget.
DEFAULT_RESERVATION_TTL = 15 * 60.0
#: Sums of money never round in practice at this precision (the default context rounds at 28 digits).
EXACT = decimal.Context(prec=100)
ZERO = Decimal(0)

_TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_creation_tokens", "reasoning_tokens")
_COST_BUCKETS = ("input", "cached_input", "cache_creation", "output", "reasoning", "audio", "time")


def to_decimal(value: object, what: str) -> Decimal:
    """A finite, non-negative Decimal from Decimal, int, str or float (floats go through ``str()``).

    ``str()`` first because ``Decimal(0.1)`` is 0.1000000000000000055511151231257827...: the
    float artefact we keep money free of.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str, float)):
        raise TypeError(f"{what} must be a Decimal, int, str or float; got {value!r}")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what} must be a finite amount >= 0; got {value!r}")
    return number + 0  # folds -0 into 0


def dec_text(value: Decimal) -> str:
    """Plain decimal text ("0.0000375", never "3.75E-5"): exact, and readable in a spreadsheet."""
    return format(value, "f")


def dec_sum(values: Iterable[Decimal]) -> Decimal:
    """Exact sum (see ``EXACT``)."""
    total = ZERO
    for value in values:
        total = EXACT.add(total, value)
    return total


def utc_day(ts: float) -> str:
    """The UTC calendar day of an epoch timestamp, "YYYY-MM-DD"."""
    t = time.gmtime(ts)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


def window_ids(ts: float) -> tuple[str, str, str]:
    """The ids of the day, month and total windows an epoch timestamp falls in (UTC)."""
    t = time.gmtime(ts)
    return (f"day:{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}", f"month:{t.tm_year:04d}-{t.tm_mon:02d}", "total")


def record_buckets(user: str | None, team: str | None, tags: Iterable[str]) -> tuple[str, ...]:
    """Every bucket a call counts toward: global, its user, its team and each of its tags."""
    buckets = ["global"]
    if user:
        buckets.append(f"user:{user}")
    if team:
        buckets.append(f"team:{team}")
    buckets.extend(f"tag:{tag}" for tag in dict.fromkeys(tags))
    return tuple(buckets)


def _check_name(value: object, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string{' or None' if optional else ''}; got {value!r}")
    if not value:
        raise ValueError(f"{what} must be a non-empty string{' or None' if optional else ''}; got {value!r}")


def _check_count(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an int >= 0; got {value!r}")


def _normalise_tags(tags: object) -> tuple[str, ...]:
    """Tags as a tuple without duplicates (a duplicate would count the call twice in one bucket)."""
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise TypeError(f"tags must be a sequence of strings; got {tags!r}")
    result = tuple(dict.fromkeys(tags))
    for tag in result:
        _check_name(tag, "each tag", optional=False)
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendRecord:
    """What one routerlib call cost: written once per call, keyed (and deduplicated) by ``call_id``.

    ``cost`` is the total in USD, None when no price was known (stored, counted as 0 in totals);
    ``cost_breakdown`` maps a pricing bucket ("input", "output", ...) to decimal text.
    ``metadata`` holds JSON-able extras. Mappings are copied on construction; treat them as read-only.
    """

    call_id: str
    timestamp: float
    model: str
    provider: str
    user: str | None = None
    team: str | None = None
    tags: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal | None = None
    cost_breakdown: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 1
    latency: float = 0.0
    estimated: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.call_id, "call_id", optional=False)
        if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, (int, float)):
            raise TypeError(f"timestamp must be epoch seconds (float); got {self.timestamp!r}")
        if not math.isfinite(self.timestamp):
            raise ValueError(f"timestamp must be finite; got {self.timestamp!r}")
        for name in ("model", "provider"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string; got {getattr(self, name)!r}")
        _check_name(self.user, "user")
        _check_name(self.team, "team")
        for name in (*_TOKEN_FIELDS, "attempts"):
            _check_count(getattr(self, name), name)
        if isinstance(self.latency, bool) or not isinstance(self.latency, (int, float)) or not self.latency >= 0:
            raise ValueError(f"latency must be seconds >= 0; got {self.latency!r}")
        cost = None if self.cost is None else to_decimal(self.cost, "cost")
        breakdown = {str(k): dec_text(to_decimal(v, f"cost_breakdown[{k!r}]")) for k, v in self.cost_breakdown.items()}
        setattr_ = object.__setattr__
        setattr_(self, "timestamp", float(self.timestamp))
        setattr_(self, "latency", float(self.latency))
        setattr_(self, "tags", _normalise_tags(self.tags))
        setattr_(self, "cost", cost)
        setattr_(self, "cost_breakdown", breakdown)
        setattr_(self, "metadata", dict(self.metadata))
        setattr_(self, "estimated", bool(self.estimated))

    def __hash__(self) -> int:
        # Equal records share a call_id, so this is a valid hash even with mapping fields.
        return hash(self.call_id)

    @property
    def buckets(self) -> tuple[str, ...]:
        """The budget buckets this record counts toward."""
        return record_buckets(self.user, self.team, self.tags)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (Decimals as text); the inverse of ``from_dict``."""
        return {
            "call_id": self.call_id,
            "timestamp": self.timestamp,
            "model": self.model,
            "provider": self.provider,
            "user": self.user,
            "team": self.team,
            "tags": list(self.tags),
            **{name: getattr(self, name) for name in _TOKEN_FIELDS},
            "cost": None if self.cost is None else dec_text(self.cost),
            "cost_breakdown": dict(self.cost_breakdown),
            "attempts": self.attempts,
            "latency": self.latency,
            "estimated": self.estimated,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpendRecord:
        """Rebuild a record from ``to_dict`` output; unknown keys (from a newer version) are ignored."""
        cost = data.get("cost")
        return cls(
            call_id=data["call_id"],
            timestamp=float(data["timestamp"]),
            model=data["model"],
            provider=data["provider"],
            user=data.get("user"),
            team=data.get("team"),
            tags=tuple(data.get("tags") or ()),
            **{name: int(data.get(name) or 0) for name in _TOKEN_FIELDS},
            cost=None if cost is None else Decimal(cost),
            cost_breakdown=data.get("cost_breakdown") or {},
            attempts=int(data.get("attempts", 1)),
            latency=float(data.get("latency") or 0.0),
            estimated=bool(data.get("estimated", False)),
            metadata=data.get("metadata") or {},
        )

    def to_json(self) -> str:
        """Compact JSON text; raises ValueError naming the record when metadata is not JSON-able."""
        try:
            return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"SpendRecord {self.call_id!r} cannot be written as JSON: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> SpendRecord:
        return cls.from_dict(json.loads(text))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_record_from_dict, (self.to_dict(),))

    @classmethod
    def from_usage(
        cls,
        call_id: str,
        *,
        model: str,
        provider: str,
        usage: Usage | None,
        cost: Cost | None,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        attempts: int = 1,
        latency: float = 0.0,
        timestamp: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SpendRecord:
        """Build the record of a finished call from its ``Usage`` and ``Cost`` (both may be missing)."""
        breakdown = {} if cost is None else {b: dec_text(getattr(cost, b)) for b in _COST_BUCKETS if getattr(cost, b)}
        return cls(
            call_id=call_id,
            timestamp=time.time() if timestamp is None else timestamp,
            model=model,
            provider=provider,
            user=user,
            team=team,
            tags=tuple(tags),
            **{name: getattr(usage, name) if usage is not None else 0 for name in _TOKEN_FIELDS},
            cost=None if cost is None else cost.total,
            cost_breakdown=breakdown,
            attempts=attempts,
            latency=latency,
            estimated=bool((usage is not None and usage.estimated) or (cost is not None and cost.estimated)),
            metadata=metadata or {},
        )


def _record_from_dict(data: Mapping[str, Any]) -> SpendRecord:
    return SpendRecord.from_dict(data)


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
        import calendar  # only needed here; keeps the import of this module lean

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


def reserved_by_bucket(reservations: Iterable[Reservation]) -> dict[str, Decimal]:
    """Outstanding reserved amount per bucket."""
    sums: dict[str, Decimal] = {}
    for res in reservations:
        for bucket in res.buckets:
            sums[bucket] = EXACT.add(sums.get(bucket, ZERO), res.amount)
    return sums


@dataclass(frozen=True, slots=True)
class Filters:
    """The record filters shared by total(), records(), totals_by_day() and the exports."""

    user: str | None = None
    team: str | None = None
    tag: str | None = None
    model: str | None = None
    since: float | None = None

    def matches(self, rec: SpendRecord) -> bool:
        return (
            (self.user is None or rec.user == self.user)
            and (self.team is None or rec.team == self.team)
            and (self.tag is None or self.tag in rec.tags)
            and (self.model is None or rec.model == self.model)
            and (self.since is None or rec.timestamp >= self.since)
        )

    def single_bucket(self) -> str | None:
        """The one bucket whose all-time running total answers this filter exactly, if any."""
        if self.model is not None or self.since is not None:
            return None
        given = [(s, v) for s, v in (("user", self.user), ("team", self.team), ("tag", self.tag)) if v is not None]
        if not given:
            return "global"
        return f"{given[0][0]}:{given[0][1]}" if len(given) == 1 else None


def aggregate(records: Iterable[SpendRecord], amount: Callable[[Decimal], Decimal] = lambda d: d) -> dict[str, Decimal]:
    """Running totals recomputed from records, keyed "<window id>|<bucket>" (zero totals omitted)."""
    sums: dict[str, Decimal] = {}
    for rec in records:
        if not rec.cost:
            continue
        value = amount(rec.cost)
        for window in window_ids(rec.timestamp):
            for bucket in rec.buckets:
                key = f"{window}|{bucket}"
                sums[key] = EXACT.add(sums.get(key, ZERO), value)
    return {k: v for k, v in sums.items() if v}


@runtime_checkable
class Ledger(Protocol):
    """Where spend is recorded and budgets are enforced. Implementations must be thread-safe."""

    def record(self, rec: SpendRecord) -> bool:
        """Store a record; True if new, False if this call_id was already recorded (counted once)."""
        ...

    def reserve(
        self,
        call_id: str,
        amount: Decimal,
        *,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        budgets: Sequence[Budget] = (),
        now: float | None = None,
    ) -> None:
        """Hold ``amount`` against every applicable budget atomically, or raise BudgetExceededError."""
        ...

    def settle(self, call_id: str, rec: SpendRecord) -> bool:
        """Drop the call's reservation and write its record, atomically."""
        ...

    def release(self, call_id: str) -> None:
        """Drop the call's reservation (no-op if there is none)."""
        ...

    def total(
        self,
        *,
        user: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        since: float | None = None,
    ) -> Decimal: ...

    def records(
        self,
        *,
        user: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[SpendRecord]: ...

    def totals_by_day(
        self,
        *,
        user: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        since: float | None = None,
    ) -> dict[str, Decimal]: ...

    def export_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Any) -> int: ...

    def export_csv(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Any) -> int: ...

    def close(self) -> None: ...


_L = TypeVar("_L", bound="LedgerBase")


class LedgerBase(ABC):
    """What every backend shares: argument checks, queries over ``_iter``, exports and ``verify``.

    A backend implements storage (``record``, ``reserve``, ``settle``, ``release``, ``_iter``,
    ``_stored_aggregates``) and may override ``_sum`` with something faster than a scan.
    """

    def __init__(self, *, reservation_ttl: float = DEFAULT_RESERVATION_TTL) -> None:
        ttl = reservation_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise ValueError(f"reservation_ttl must be seconds > 0; got {reservation_ttl!r}")
        self.reservation_ttl = float(reservation_ttl)

    @abstractmethod
    def record(self, rec: SpendRecord) -> bool: ...

    @abstractmethod
    def reserve(
        self,
        call_id: str,
        amount: Decimal,
        *,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        budgets: Sequence[Budget] = (),
        now: float | None = None,
    ) -> None: ...

    @abstractmethod
    def settle(self, call_id: str, rec: SpendRecord) -> bool: ...

    @abstractmethod
    def release(self, call_id: str) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _iter(self, filters: Filters, newest: int | None) -> Iterable[SpendRecord]:
        """Matching records, oldest first; only the newest ``newest`` of them when given."""

    @abstractmethod
    def _stored_aggregates(self) -> dict[str, Decimal]:
        """The backend's running totals keyed like ``aggregate()`` (zero totals omitted)."""

    def _aggregate_amount(self, cost: Decimal) -> Decimal:
        """How one record's cost enters the running totals (exact unless the backend rounds)."""
        return cost

    def _sum(self, filters: Filters) -> Decimal:
        return dec_sum(r.cost for r in self._iter(filters, None) if r.cost is not None)

    @staticmethod
    def _reserve_args(
        call_id: str, amount: object, tags: Sequence[str], budgets: Sequence[Budget], now: float | None
    ) -> tuple[Decimal, tuple[str, ...], float]:
        """Validate reserve() arguments once for every backend."""
        _check_name(call_id, "call_id", optional=False)
        for budget in budgets:
            if not isinstance(budget, Budget):
                raise TypeError(f"budgets must hold Budget values; got {budget!r}")
        return to_decimal(amount, "amount"), _normalise_tags(tags), time.time() if now is None else float(now)

    @staticmethod
    def _settle_args(call_id: str, rec: SpendRecord) -> None:
        if rec.call_id != call_id:
            raise ValueError(f"settle({call_id!r}) was given the record of call {rec.call_id!r}")

    def total(
        self,
        *,
        user: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        since: float | None = None,
    ) -> Decimal:
        """Spend of the matching records in USD (records without a known cost count 0)."""
        return self._sum(Filters(user, team, tag, model, since))

    def records(
        self,
        *,
        user: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[SpendRecord]:
        """Matching records, oldest first; with ``limit``, the newest ``limit`` of them (still oldest first)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be an int >= 0 or None; got {limit!r}")
        return list(self._iter(Filters(user, team, tag, model, since), limit))

    def totals_by_day(
        self,
        *,
        user: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        model: str | None = None,
        since: float | None = None,
    ) -> dict[str, Decimal]:
        """Spend per UTC day ("YYYY-MM-DD"), in day order; days with only unpriced calls show 0."""
        days: dict[str, Decimal] = {}
        for rec in self._iter(Filters(user, team, tag, model, since), None):
            day = utc_day(rec.timestamp)
            days[day] = EXACT.add(days.get(day, ZERO), rec.cost or ZERO)
        return dict(sorted(days.items()))

    def export_jsonl(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Any) -> int:
        """Write matching records as JSON lines; returns how many. Filters as for ``records()``."""
        from .export import write_jsonl

        return write_jsonl(path_or_file, self._iter(Filters(**filters), None))

    def export_csv(self, path_or_file: str | os.PathLike[str] | IO[str], **filters: Any) -> int:
        """Write matching records as CSV with a header row; returns how many."""
        from .export import write_csv

        return write_csv(path_or_file, self._iter(Filters(**filters), None))

    def verify(self) -> bool:
        """True when the running totals equal a recomputation from the stored records."""
        expected = aggregate(self._iter(Filters(), None), self._aggregate_amount)
        return self._stored_aggregates() == expected

    def __enter__(self: _L) -> _L:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_newest(records: Iterator[SpendRecord] | Iterable[SpendRecord], newest: int | None) -> list[SpendRecord]:
    """The last ``newest`` items of an oldest-first iterable (all of them when None)."""
    if newest is None:
        return list(records)
    from collections import deque

    return list(deque(records, maxlen=newest)) if newest else []
