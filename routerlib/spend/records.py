"""Spend records and the small exact-money helpers every backend shares.

A ``SpendRecord`` is what one call cost; ``Filters`` selects records for totals and exports;
``aggregate`` recomputes the running totals (per window and bucket) that backends keep, so
``verify()`` can compare. Money is ``Decimal`` throughout and crosses storage as plain
decimal text: a float would bring back artefacts such as 0.1 + 0.2 = 0.30000000000000004.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import Cost, Usage

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "EXACT",
    "ZERO",
    "Filters",
    "SpendRecord",
    "aggregate",
    "check_name",
    "dec_sum",
    "dec_text",
    "iter_newest",
    "normalise_tags",
    "record_buckets",
    "to_decimal",
    "utc_day",
    "window_ids",
]

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


def check_name(value: object, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string{' or None' if optional else ''}; got {value!r}")
    if not value:
        raise ValueError(f"{what} must be a non-empty string{' or None' if optional else ''}; got {value!r}")


def _check_count(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an int >= 0; got {value!r}")


def normalise_tags(tags: object) -> tuple[str, ...]:
    """Tags as a tuple without duplicates (a duplicate would count the call twice in one bucket)."""
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise TypeError(f"tags must be a sequence of strings; got {tags!r}")
    result = tuple(dict.fromkeys(tags))
    for tag in result:
        check_name(tag, "each tag", optional=False)
    return result


def _jsonable(value: object) -> Any:
    """A JSON-safe copy of ``value``: containers recursed, finite numbers kept, anything else as text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendRecord:
    """What one routerlib call cost: written once per call, keyed (and deduplicated) by ``call_id``.

    ``cost`` is the total in USD, None when no price was known (stored, counted as 0 in totals);
    a call answered from the response cache has ``cache_hit`` True, ``cost`` 0 and ``saved`` the
    cost the answer had when it was fetched (None if that was unknown);
    ``cost_breakdown`` maps a pricing bucket ("input", "output", ...) to decimal text.
    ``metadata`` holds JSON extras: values JSON cannot hold (a datetime, NaN, an object) are kept
    as their ``str()``, so that writing a record can never fail on them and every backend stores
    the same thing. Mappings are copied on construction; treat them as read-only.
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
    cache_hit: bool = False
    saved: Decimal | None = None

    def __post_init__(self) -> None:
        check_name(self.call_id, "call_id", optional=False)
        if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, (int, float)):
            raise TypeError(f"timestamp must be epoch seconds (float); got {self.timestamp!r}")
        if not math.isfinite(self.timestamp):
            raise ValueError(f"timestamp must be finite; got {self.timestamp!r}")
        for name in ("model", "provider"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string; got {getattr(self, name)!r}")
        check_name(self.user, "user")
        check_name(self.team, "team")
        for name in (*_TOKEN_FIELDS, "attempts"):
            _check_count(getattr(self, name), name)
        if isinstance(self.latency, bool) or not isinstance(self.latency, (int, float)) or not self.latency >= 0:
            raise ValueError(f"latency must be seconds >= 0; got {self.latency!r}")
        cost = None if self.cost is None else to_decimal(self.cost, "cost")
        saved = None if self.saved is None else to_decimal(self.saved, "saved")
        breakdown = {str(k): dec_text(to_decimal(v, f"cost_breakdown[{k!r}]")) for k, v in self.cost_breakdown.items()}
        setattr_ = object.__setattr__
        setattr_(self, "timestamp", float(self.timestamp))
        setattr_(self, "latency", float(self.latency))
        setattr_(self, "tags", normalise_tags(self.tags))
        setattr_(self, "cost", cost)
        setattr_(self, "saved", saved)
        setattr_(self, "cache_hit", bool(self.cache_hit))
        setattr_(self, "cost_breakdown", breakdown)
        if not isinstance(self.metadata, Mapping):
            raise TypeError(f"metadata must be a mapping; got {self.metadata!r}")
        setattr_(self, "metadata", {str(k): _jsonable(v) for k, v in self.metadata.items()})
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
            "cache_hit": self.cache_hit,
            "saved": None if self.saved is None else dec_text(self.saved),
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
            cache_hit=bool(data.get("cache_hit", False)),
            saved=None if data.get("saved") is None else Decimal(data["saved"]),
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
        tokens: dict[str, Any] = {name: getattr(usage, name) if usage is not None else 0 for name in _TOKEN_FIELDS}
        return cls(
            call_id=call_id,
            timestamp=time.time() if timestamp is None else timestamp,
            model=model,
            provider=provider,
            user=user,
            team=team,
            tags=tuple(tags),
            **tokens,
            cost=None if cost is None else cost.total,
            cost_breakdown=breakdown,
            attempts=attempts,
            latency=latency,
            estimated=bool((usage is not None and usage.estimated) or (cost is not None and cost.estimated)),
            metadata=metadata or {},
        )


    @classmethod
    def worst_case(
        cls,
        call_id: str,
        *,
        model: str,
        provider: str,
        amount: Decimal,
        reason: str,
        user: str | None = None,
        team: str | None = None,
        tags: Sequence[str] = (),
        attempts: int = 1,
        latency: float = 0.0,
        timestamp: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SpendRecord:
        """The record of a call the provider may have billed although no answer (or no usage) came back.

        A call that timed out or was cancelled after its request was fully sent may still be
        billed; under a budget its reserved worst case is kept as spend, marked ``estimated``,
        with ``reason`` (e.g. "timeout", "cancelled") in ``metadata["estimated_reason"]``:
        a budget caps what can be billed. ``ledger.settle(call_id, SpendRecord.worst_case(...))``
        replaces the reservation with it; totals count it like any other record.
        """
        return cls(
            call_id=call_id,
            timestamp=time.time() if timestamp is None else timestamp,
            model=model,
            provider=provider,
            user=user,
            team=team,
            tags=tuple(tags),
            cost=amount,
            attempts=attempts,
            latency=latency,
            estimated=True,
            metadata={**(metadata or {}), "estimated_reason": reason},
        )


def _record_from_dict(data: Mapping[str, Any]) -> SpendRecord:
    return SpendRecord.from_dict(data)


@dataclass(frozen=True, slots=True)
class Filters:
    """The record filters shared by total(), records(), totals_by_day() and the exports."""

    user: str | None = None
    team: str | None = None
    tag: str | None = None
    #: The model as recorded ("gpt-4o-mini") or as called ("openai/gpt-4o-mini").
    model: str | None = None
    #: Epoch seconds; a ``datetime`` (naive ones are read as UTC, like every window here) or a
    #: ``date`` (its UTC midnight) is converted.
    since: float | None = None

    def __post_init__(self) -> None:
        for name in ("user", "team", "tag", "model"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}={value!r}: must be a string")
        object.__setattr__(self, "since", _epoch(self.since))

    def matches(self, rec: SpendRecord) -> bool:
        return (
            (self.user is None or rec.user == self.user)
            and (self.team is None or rec.team == self.team)
            and (self.tag is None or self.tag in rec.tags)
            and (self.model is None or self.model in (rec.model, f"{rec.provider}/{rec.model}"))
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


def _epoch(since: object) -> float | None:
    if since is None:
        return None
    if isinstance(since, datetime.datetime):
        aware = since if since.tzinfo is not None else since.replace(tzinfo=datetime.timezone.utc)
        return aware.timestamp()
    if isinstance(since, datetime.date):
        return calendar.timegm(since.timetuple())
    if isinstance(since, int | float) and not isinstance(since, bool):
        return float(since)
    raise TypeError(f"since={since!r}: give epoch seconds, a datetime or a date")


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


def iter_newest(records: Iterable[SpendRecord], newest: int | None) -> list[SpendRecord]:
    """The last ``newest`` items of an oldest-first iterable (all of them when None)."""
    if newest is None:
        return list(records)
    from collections import deque

    return list(deque(records, maxlen=newest)) if newest else []
