"""``RedisLedger``: spend shared by every process and host that reaches one Redis server.

Keys (``P`` is the prefix, "routerlib:" by default)::

    P records                    hash   call_id -> SpendRecord JSON        (the source of truth)
    P by_ts                      zset   call_id scored by timestamp         (since-queries, order)
    P res / P res_exp            hash / zset of reservations and their expiry times
    P reserved:<bucket>          string outstanding reservations, integer pico-USD
    P spent:<window>:<bucket>    string running total, integer pico-USD; window "day:YYYY-MM-DD",
                                        "month:YYYY-MM" or "total"

Every state change is one Lua script (registered once, run with EVALSHA), so reserve's
check-and-hold, settle's drop-and-write and record's write-once (HSETNX) are atomic against
every other client. Budget checks read a handful of counters: O(1) however long the history.

Money in counters is an integer number of pico-dollars (USD * 10**12) as decimal text:
exact, unlike INCRBYFLOAT, and fine enough for every per-token price in today's model maps
(they go down to about 1e-9 USD per token). The scripts add and compare counters exactly as
two 9-digit halves, because Lua numbers are doubles (exact only to 2**53, about $9,007 in
pico-dollars) -- and not with INCRBY, whose signed 64 bits would cap a bucket at about
$9.2 million, failing half-way through a script that Redis does not roll back. Counters hold
up to $10**12. Amounts finer than a pico-dollar are rounded *up* (reservations, spend) and
limits *down*, so rounding never lets a call through.
Records keep their exact decimal text; ``total()`` with filters sums those.

Durability is the server's: run Redis with ``appendonly yes`` to keep records across restarts.
For Redis Cluster, put the prefix in a hash tag (``prefix="{routerlib}:"``) so all keys share a slot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from ..exceptions import BudgetExceededError
from .base import LedgerBase
from .budget import BudgetCheck, Reservation, budget_error
from .records import DEFAULT_RESERVATION_TTL, ZERO, Filters, SpendRecord, iter_newest, record_buckets, window_ids

__all__ = ["RedisLedger"]

_PICO = 12
#: Counters are added in Lua as two exact doubles (digits above and below 10**9), exact up to here.
_COUNTER_MAX = 10**24
_CHUNK = 1000

_PRELUDE = """
local P = ARGV[1]
local RES, RES_EXP = KEYS[3], KEYS[4]

-- Non-negative integer text as two exact doubles: the digits above and below 10^9.
local function split(s)
  if not s or string.sub(s, 1, 1) == '-' then return 0, 0 end
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end

local function join(hi, lo)
  if hi > 0 then return string.format('%.0f%09.0f', hi, lo) end
  return string.format('%.0f', lo)
end

local function plus(a, b)
  local ah, al = split(a)
  local bh, bl = split(b)
  local lo = al + bl
  return join(ah + bh + math.floor(lo / 1e9), lo % 1e9)
end

local function minus(a, b)
  local ah, al = split(a)
  local bh, bl = split(b)
  local hi, lo = ah - bh, al - bl
  if lo < 0 then lo = lo + 1e9; hi = hi - 1 end
  if hi < 0 then return '0' end
  return join(hi, lo)
end

local function fits(a, b, c, limit)
  local ah, al = split(a)
  local bh, bl = split(b)
  local ch, cl = split(c)
  local lh, ll = split(limit)
  local lo = al + bl + cl
  local hi = ah + bh + ch + math.floor(lo / 1e9)
  lo = lo % 1e9
  return hi < lh or (hi == lh and lo <= ll)
end

local function add_to(key, amount)
  redis.call('SET', key, plus(redis.call('GET', key) or '0', amount))
end

local function take_from(key, amount)
  local left = minus(redis.call('GET', key) or '0', amount)
  if left == '0' then redis.call('DEL', key) else redis.call('SET', key, left) end
end

local function drop(id)
  redis.call('ZREM', RES_EXP, id)
  local raw = redis.call('HGET', RES, id)
  if not raw then return end
  redis.call('HDEL', RES, id)
  local r = cjson.decode(raw)
  for _, b in ipairs(r.b) do take_from(P .. 'reserved:' .. b, r.a) end
end
"""

# ARGV: prefix, call_id, amount, now, expires, buckets JSON, checks JSON [[spent key suffix, bucket, limit]]
_RESERVE = """
local id, amount = ARGV[2], ARGV[3]
for _, old in ipairs(redis.call('ZRANGEBYSCORE', RES_EXP, '-inf', ARGV[4])) do drop(old) end
local prev_amount, prev_buckets = '0', {}
local prev = redis.call('HGET', RES, id)
if prev then
  local r = cjson.decode(prev)
  prev_amount = r.a
  for _, b in ipairs(r.b) do prev_buckets[b] = true end
end
for i, c in ipairs(cjson.decode(ARGV[7])) do
  local spent = redis.call('GET', P .. 'spent:' .. c[1]) or '0'
  local reserved = redis.call('GET', P .. 'reserved:' .. c[2]) or '0'
  if prev_buckets[c[2]] then reserved = minus(reserved, prev_amount) end
  if not fits(spent, reserved, amount, c[3]) then return {i, spent, reserved} end
end
drop(id)
local buckets = cjson.decode(ARGV[6])
for _, b in ipairs(buckets) do add_to(P .. 'reserved:' .. b, amount) end
redis.call('HSET', RES, id, cjson.encode({a = amount, b = buckets, e = ARGV[5]}))
redis.call('ZADD', RES_EXP, ARGV[5], id)
return {0}
"""

# ARGV: prefix, call_id, drop reservation "1"/"0", record JSON, timestamp, cost (pico), spent key suffixes...
_WRITE = """
if ARGV[3] == '1' then drop(ARGV[2]) end
if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[4]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
if ARGV[6] ~= '0' then
  for i = 7, #ARGV do add_to(P .. 'spent:' .. ARGV[i], ARGV[6]) end
end
return 1
"""

_RELEASE = """
drop(ARGV[2])
return 1
"""


def to_pico(amount: Decimal, *, up: bool) -> int:
    """USD as integer pico-dollars, rounded up (amounts held or spent) or down (limits)."""
    return int(amount.scaleb(_PICO).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR))


def from_pico(value: str | int | None) -> Decimal:
    """Integer pico-dollars as USD, without trailing zeros ("0.25", not "0.250000000000")."""
    if value is None or not int(value):
        return ZERO
    amount = Decimal(int(value)).scaleb(-_PICO).normalize()
    exponent = amount.as_tuple().exponent
    return amount.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else amount


def _counter_amount(amount: Decimal) -> int:
    pico = to_pico(amount, up=True)
    if pico > _COUNTER_MAX:
        raise ValueError(f"${amount} exceeds what a Redis ledger counter holds ($10**12)")
    return pico


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisLedger(LedgerBase):
    """A ledger in Redis: atomic Lua scripts, exact integer counters, O(1) budget checks."""

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "routerlib:",
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
    ) -> None:
        super().__init__(reservation_ttl=reservation_ttl)
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("RedisLedger needs the redis package: pip install routerlib[redis]") from None
        self.prefix = prefix
        self._redis: Any = redis.Redis.from_url(url, decode_responses=True)
        self._keys = [prefix + name for name in ("records", "by_ts", "res", "res_exp")]
        self._reserve_script: Any = self._redis.register_script(_PRELUDE + _RESERVE)
        self._write_script: Any = self._redis.register_script(_PRELUDE + _WRITE)
        self._release_script: Any = self._redis.register_script(_PRELUDE + _RELEASE)

    def close(self) -> None:
        self._redis.close()

    # -- writes ------------------------------------------------------------------------------

    def _write(self, rec: SpendRecord, *, drop: bool) -> bool:
        cost = _counter_amount(rec.cost) if rec.cost else 0
        suffixes = [f"{w}:{b}" for w in window_ids(rec.timestamp) for b in rec.buckets]
        args = [self.prefix, rec.call_id, "1" if drop else "0", rec.to_json(), repr(rec.timestamp), str(cost)]
        return bool(self._write_script(keys=self._keys, args=[*args, *suffixes]))

    def record(self, rec: SpendRecord) -> bool:
        return self._write(rec, drop=False)

    def settle(self, call_id: str, rec: SpendRecord) -> bool:
        self._settle_args(call_id, rec)
        return self._write(rec, drop=True)

    def release(self, call_id: str) -> None:
        self._release_script(keys=self._keys, args=[self.prefix, call_id])

    def _reserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck],
        user: str | None, team: str | None, tags: tuple[str, ...], when: float
    ) -> None:
        """Check and hold in one Lua script."""
        plan = [[f"{c.window_id}:{c.bucket}", c.bucket, str(to_pico(c.budget.limit, up=False))] for c in checks]
        args = [
            self.prefix,
            call_id,
            str(_counter_amount(value)),
            repr(when),
            repr(when + self.reservation_ttl),
            json.dumps(record_buckets(user, team, tags)),
            json.dumps(plan),
        ]
        result = self._reserve_script(keys=self._keys, args=args)
        if int(result[0]):
            raise self._error(checks[int(result[0]) - 1], result[1], result[2], value)

    @staticmethod
    def _error(check: BudgetCheck, spent: str, reserved: str, value: Decimal) -> BudgetExceededError:
        return budget_error(check, from_pico(spent), from_pico(reserved), value)

    def _all_reservations(self) -> list[Reservation]:
        entries = [json.loads(raw) for raw in self._redis.hvals(self._keys[2])]
        return [Reservation(from_pico(e["a"]), float(e["e"]), frozenset(e["b"])) for e in entries]

    def _counters(self, kind: str) -> dict[str, Decimal]:
        """Every ``P<kind>:<suffix>`` counter as {suffix: USD}, zeros left out."""
        head = f"{self.prefix}{kind}:"
        keys = list(self._redis.scan_iter(match=_glob_escape(head) + "*", count=1000))
        values = self._redis.mget(keys) if keys else []
        amounts = {key[len(head) :]: from_pico(value) for key, value in zip(keys, values, strict=True)}
        return {suffix: amount for suffix, amount in amounts.items() if amount}

    def _stored_reservations(self) -> tuple[dict[str, Decimal], list[Reservation]]:
        return self._counters("reserved"), self._all_reservations()

    # -- reads -------------------------------------------------------------------------------

    def _scan_records(self, since: float | None) -> Iterator[SpendRecord]:
        ids: list[str] = self._redis.zrangebyscore(self._keys[1], "-inf" if since is None else repr(since), "+inf")
        for start in range(0, len(ids), _CHUNK):
            for raw in self._redis.hmget(self._keys[0], ids[start : start + _CHUNK]):
                if raw is not None:
                    yield SpendRecord.from_json(raw)

    def _iter(self, filters: Filters, newest: int | None) -> Iterable[SpendRecord]:
        return iter_newest((r for r in self._scan_records(filters.since) if filters.matches(r)), newest)

    def _bucket_total(self, bucket: str) -> Decimal:
        return from_pico(self._redis.get(f"{self.prefix}spent:total:{bucket}"))

    def verify(self) -> bool:
        """See ``LedgerBase.verify``. Records and counters are read in several round trips, so
        run it while no call is writing to this prefix (a concurrent write can show as a mismatch)."""
        return super().verify()

    def _aggregate_amount(self, cost: Decimal) -> Decimal:
        return from_pico(to_pico(cost, up=True))

    def _stored_aggregates(self) -> dict[str, Decimal]:
        result: dict[str, Decimal] = {}
        for suffix, amount in self._counters("spent").items():
            if suffix.startswith("total:"):
                window, bucket = "total", suffix[len("total:") :]
            else:
                kind, period, bucket = suffix.split(":", 2)
                window = f"{kind}:{period}"
            result[f"{window}|{bucket}"] = amount
        return result
