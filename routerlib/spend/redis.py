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
limits *down*, so rounding never lets a call through. Records keep their exact decimal text.

Durability is the server's (``appendonly yes``). For Redis Cluster, put the prefix in a hash
tag (``prefix="{routerlib}:"``) so all keys share a slot. Sync and async share state exactly:
the async twins (``areserve``, ...) run the same Lua scripts through ``redis.asyncio``, one
async client per event loop; await ``aclose()`` in a loop before it closes.

Under faults, and why:

- Bounded time. ``timeout`` (5 s) caps every operation; a call passes the time it has left
  and the script's connect, send and reply are bounded by that instead. redis-py 5 has no
  socket timeout by default and redis-py 8 retries a timed-out command up to 10 times, so
  neither default is used: the sync scripts run on connections of this ledger's own, made
  with the call's bound as their connect timeout and waited on with ``can_read(time left)``;
  the async ones under ``_aio.bounded`` (a wait_for that never swallows a cancel). No retries:
  a failed settle is spooled (see ``spool``), and a failed reserve refuses the call.
- Typed errors. Timeouts raise ``LedgerTimeoutError``; refused or dropped connections, a
  server loading, read-only or out of memory raise ``LedgerUnavailableError``; anything else
  from redis raises ``LedgerError``. Each chains redis's error and names the server by its URL
  with user, password and query removed; the password is scrubbed from redis's own message.
- Retries are safe. Every script is idempotent per call id (reserve replaces, write is
  HSETNX, release drops), so a settle that timed out after Redis applied it, and is written
  again from the spool, counts once.
- Crashed processes. A reservation lapses at its expiry: ``reserve(ttl=...)`` (the longest
  the call can still run) or ``reservation_ttl``. There is no process-liveness check: a
  Redis ledger is shared across hosts, where a process id means nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from .._aio import bounded
from ..exceptions import LedgerError, LedgerTimeoutError, LedgerUnavailableError
from .base import FilterArgs, LedgerBase
from .budget import BudgetCheck, Reservation, budget_error
from .records import DEFAULT_RESERVATION_TTL, ZERO, Filters, SpendRecord, iter_newest, record_buckets, window_ids
from .spool import DEFAULT_SPOOL_LIMIT

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "RedisLedger",
    "from_pico",
    "redact_url",
    "to_pico",
]

_T = TypeVar("_T")
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


#: Server replies that mean "not now" rather than "wrong": the store is unavailable.
_UNAVAILABLE_REPLIES = ("LOADING", "BUSY", "READONLY", "MASTERDOWN", "MISCONF", "OOM", "NOAUTH", "NOPERM",
                        "CLUSTERDOWN", "TRYAGAIN")
#: Idle connections kept for the sync scripts.
_IDLE_MAX = 16


def redact_url(url: str) -> str:
    """The URL as errors show it: scheme, host, port and path; user, password and query removed."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable redis URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _url_secrets(url: str) -> tuple[str, ...]:
    """The credentials a redis URL carries (userinfo and ``password=``/``username=`` query values)."""
    try:
        parts = urllib.parse.urlsplit(url)
        found = [parts.password, parts.username]
        query = urllib.parse.parse_qs(parts.query)
    except ValueError:
        return ()
    found += query.get("password", []) + query.get("username", [])
    secrets = {urllib.parse.unquote(s) for s in found if s} | {s for s in found if s}
    return tuple(sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True))


#: Connections one event loop's async client keeps to Redis at most; a burst of calls beyond it
#: queues for a connection rather than failing (each operation is bounded by its timeout).
ASYNC_CONNECTIONS = 64

class _SyncConnections:
    """The connections the sync scripts run on: made with a call's bound as their connect and
    handshake timeout (which redis-py's own pool cannot vary per call), kept per process."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def take(self, timeout: float) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sockets are not ours
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            if self._quiet(conn):
                return conn
            conn.disconnect()
        options = {**self._pool.connection_kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout}
        conn = self._pool.connection_class(**options)
        conn.connect()
        return conn

    @staticmethod
    def _quiet(conn: Any) -> bool:
        """An idle connection with nothing to read is usable; one that can read was closed by the
        server or is out of step."""
        import redis.exceptions as rx

        try:
            return not conn.can_read(0)
        except (rx.RedisError, OSError):
            return False

    def give_back(self, conn: Any) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < _IDLE_MAX:
                self._idle.append(conn)
                return
        conn.disconnect()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


class _Script:
    """One Lua script: its text and SHA1, run with EVALSHA (EVAL when the server lacks it)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        import hashlib

        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


class RedisLedger(LedgerBase):
    """A ledger in Redis: atomic Lua scripts, exact integer counters, O(1) budget checks.

    ``timeout`` caps every Redis operation (a call's own time left cuts it shorter).
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "routerlib:",
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        timeout: float = 5.0,
        spool_limit: int = DEFAULT_SPOOL_LIMIT,
    ) -> None:
        super().__init__(reservation_ttl=reservation_ttl, spool_limit=spool_limit)
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("RedisLedger needs the redis package: pip install routerlib[redis]") from None
        self.prefix = prefix
        self._url = url
        self._where = f"RedisLedger({redact_url(url)!r})"
        self._secrets = _url_secrets(url)
        self._timeout = self._check_ttl(timeout, "timeout")
        bounds = {"socket_timeout": self._timeout, "socket_connect_timeout": self._timeout}
        self._redis: Any = self._guarded("connect", None, lambda: redis.Redis.from_url(
            url, decode_responses=True, retry=Retry(NoBackoff(), 0), **bounds))
        self._keys = [prefix + name for name in ("records", "by_ts", "res", "res_exp")]
        self._scripts = (_Script(_PRELUDE + _RESERVE), _Script(_PRELUDE + _WRITE), _Script(_PRELUDE + _RELEASE))
        self._sync = _SyncConnections(self._redis.connection_pool)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, tuple[Any, ...]]] = (
            weakref.WeakKeyDictionary())
        self._async_lock = threading.Lock()

    def _describe(self) -> str:
        return self._where

    def _close(self) -> None:
        """Close the sync connections; async clients are dropped (``aclose()`` in a loop closes its own)."""
        self._sync.close()
        self._redis.close()
        with self._async_lock:
            self._async.clear()

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        with self._async_lock:
            entry = self._async.pop(loop, None)
        if entry is not None:
            client = entry[0]
            await (client.aclose() if hasattr(client, "aclose") else client.close())
        self.close()

    # -- errors ------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<hidden>")
        return text

    def _error(self, operation: str, exc: BaseException, timeout: float | None) -> LedgerError:
        """The typed error for a redis failure; the password is scrubbed from redis's message too."""
        text = self._scrub(str(exc))
        if text != str(exc):
            exc.args = tuple(self._scrub(a) if isinstance(a, str) else a for a in exc.args)
        where = self._where
        import redis.exceptions as rx

        if isinstance(exc, (rx.TimeoutError, TimeoutError, asyncio.TimeoutError)):
            bound = self._timeout if timeout is None else min(timeout, self._timeout)
            return LedgerTimeoutError(f"{where}: {operation}: no answer within {bound:.3g} s ({text})",
                                      where=where, operation=operation)
        unavailable = isinstance(exc, (rx.ConnectionError, OSError)) or (
            isinstance(exc, rx.ResponseError) and text.startswith(_UNAVAILABLE_REPLIES))
        cls = LedgerUnavailableError if unavailable else LedgerError
        return cls(f"{where}: {operation} failed: {type(exc).__name__}: {text}", where=where, operation=operation)

    def _guarded(self, operation: str, timeout: float | None, fn: Callable[[], _T]) -> _T:
        import redis.exceptions as rx

        try:
            return fn()
        except (rx.RedisError, OSError) as exc:
            raise self._error(operation, exc, timeout) from exc

    # -- running the scripts -----------------------------------------------------------------

    def _bound(self, timeout: float | None) -> float:
        return self._timeout if timeout is None else min(timeout, self._timeout)

    def _run(self, operation: str, which: int, args: list[str], timeout: float | None) -> Any:
        """Run a script on one of this ledger's connections, within ``timeout`` (capped)."""
        bound = self._bound(timeout)
        deadline = time.monotonic() + bound
        script = self._scripts[which]
        sync = self._sync

        def run() -> Any:
            conn = sync.take(bound)
            try:
                reply = self._round_trip(conn, ("EVALSHA", script.sha), args, deadline)
            except BaseException:
                conn.disconnect()  # a reply may still be on its way: this connection is out of step
                raise
            sync.give_back(conn)
            return reply

        return self._guarded(operation, timeout, run)

    def _round_trip(self, conn: Any, head: tuple[str, str], args: list[str], deadline: float) -> Any:
        import redis.exceptions as rx

        conn.send_command(*head, len(self._keys), *self._keys, *args)
        if not conn.can_read(max(0.0, deadline - time.monotonic())):
            raise rx.TimeoutError("no reply in time")
        try:
            return conn.read_response()
        except rx.NoScriptError:
            if head[0] == "EVAL":
                raise
            text = self._scripts[[s.sha for s in self._scripts].index(head[1])].text
            return self._round_trip(conn, ("EVAL", text), args, deadline)

    def _async_scripts(self) -> tuple[Any, ...]:
        """This event loop's async client's scripts (made on first use in the loop)."""
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            with self._async_lock:
                entry = self._async.get(loop)
                if entry is None:
                    entry = self._new_async_client()
                    self._async[loop] = entry
        return entry[1]

    def _new_async_client(self) -> tuple[Any, tuple[Any, ...]]:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # A blocking pool: past its size a call waits (within its own bound) rather than fail a burst.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            self._url, max_connections=ASYNC_CONNECTIONS, timeout=None, decode_responses=True,
            retry=Retry(NoBackoff(), 0), socket_timeout=self._timeout, socket_connect_timeout=self._timeout)
        client = redis.asyncio.Redis(connection_pool=pool)
        return client, tuple(client.register_script(s.text) for s in self._scripts)

    async def _arun(self, operation: str, which: int, args: list[str], timeout: float | None) -> Any:
        import redis.exceptions as rx

        try:
            script = self._async_scripts()[which]
            return await bounded(script(keys=self._keys, args=args), self._bound(timeout))
        except (rx.RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._error(operation, exc, timeout) from exc

    # -- writes ------------------------------------------------------------------------------

    def _write_args(self, rec: SpendRecord, settles: bool) -> list[str]:
        cost = _counter_amount(rec.cost) if rec.cost else 0
        suffixes = [f"{w}:{b}" for w in window_ids(rec.timestamp) for b in rec.buckets]
        args = [self.prefix, rec.call_id, "1" if settles else "0", rec.to_json(), repr(rec.timestamp), str(cost)]
        return [*args, *suffixes]

    def _write_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        args = self._write_args(rec, settles)
        return bool(self._run("settle" if settles else "record", 1, args, timeout))

    async def _awrite_record(self, rec: SpendRecord, settles: bool, timeout: float | None) -> bool:
        args = self._write_args(rec, settles)
        return bool(await self._arun("settle" if settles else "record", 1, args, timeout))

    def _release(self, call_id: str, timeout: float | None) -> None:
        self._run("release", 2, [self.prefix, call_id], timeout)

    async def _arelease(self, call_id: str, timeout: float | None) -> None:
        await self._arun("release", 2, [self.prefix, call_id], timeout)

    def _reserve_plan(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float
    ) -> list[str]:
        plan = [[f"{c.window_id}:{c.bucket}", c.bucket, str(to_pico(c.budget.limit, up=False))] for c in checks]
        return [
            self.prefix,
            call_id,
            str(_counter_amount(value)),
            repr(when),
            repr(expires),
            json.dumps(record_buckets(user, team, tags)),
            json.dumps(plan),
        ]

    def _reserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        """Check and hold in one Lua script."""
        args = self._reserve_plan(call_id, value, checks, user, team, tags, when, expires)
        self._refused(self._run("reserve", 0, args, timeout), checks, value)

    async def _areserve(
        self, call_id: str, value: Decimal, checks: list[BudgetCheck], user: str | None, team: str | None,
        tags: tuple[str, ...], when: float, expires: float, timeout: float | None
    ) -> None:
        args = self._reserve_plan(call_id, value, checks, user, team, tags, when, expires)
        self._refused(await self._arun("reserve", 0, args, timeout), checks, value)

    @staticmethod
    def _refused(result: list[Any], checks: list[BudgetCheck], value: Decimal) -> None:
        """Raise BudgetExceededError when the script refused the hold ({i, spent, reserved})."""
        if int(result[0]):
            check = checks[int(result[0]) - 1]
            raise budget_error(check, from_pico(result[1]), from_pico(result[2]), value)

    async def atotal(self, **filters: Unpack[FilterArgs]) -> Decimal:
        query = Filters(**filters)
        bucket = query.single_bucket()
        if bucket is None:
            return await super().atotal(**filters)
        import redis.exceptions as rx

        self._async_scripts()
        client = self._async[asyncio.get_running_loop()][0]
        try:
            value = await bounded(client.get(f"{self.prefix}spent:total:{bucket}"), self._timeout)
        except (rx.RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._error("total", exc, None) from exc
        return from_pico(value)

    def _all_reservations(self) -> list[Reservation]:
        raws = self._guarded("reserved", None, lambda: self._redis.hvals(self._keys[2]))
        entries = [json.loads(raw) for raw in raws]
        return [Reservation(from_pico(e["a"]), float(e["e"]), frozenset(e["b"])) for e in entries]

    def _counters(self, kind: str) -> dict[str, Decimal]:
        """Every ``P<kind>:<suffix>`` counter as {suffix: USD}, zeros left out."""
        head = f"{self.prefix}{kind}:"

        def read() -> tuple[list[str], list[str | None]]:
            keys = list(self._redis.scan_iter(match=_glob_escape(head) + "*", count=1000))
            return keys, (self._redis.mget(keys) if keys else [])

        keys, values = self._guarded("verify", None, read)
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
        matching = (r for r in self._scan_records(filters.since) if filters.matches(r))
        return self._guarded("records", None, lambda: iter_newest(matching, newest))

    def _bucket_total(self, bucket: str) -> Decimal:
        return from_pico(self._guarded("total", None, lambda: self._redis.get(f"{self.prefix}spent:total:{bucket}")))

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
