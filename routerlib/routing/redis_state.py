"""``RedisHealth``: routing state shared by every process and host that reaches one Redis.

What is shared: each deployment's breaker (open/closed, open-until, consecutive failures,
the failure-rate window, openings), its calls in flight, its rolling rpm/tpm usage with
reservations, and its latency averages. The rules are ``breaker.py``'s and ``health.py``'s,
run in Lua (``_lua.py``) so that every decision is atomic against every other client: never
a read-modify-write of a whole dict (LiteLLM loses concurrent latency updates that way).

Cost per attempt: one round trip to pick (``CHOOSE`` checks the strategy's first choices in
order and reserves on the first that can take the call, and returns the group's fresh state
for the next pick's strategy), one to report the outcome (``REPORT``). Async calls use
``redis.asyncio`` and never block the event loop; their report is sent as a task.
A cooldown set by one process is seen by every other at its next pick: the pick itself
reads the breaker in Redis.

When Redis cannot be reached (refused, reset, or slower than ``timeout``), routing goes on
from the local state (a ``MemoryHealth`` kept beside), with one warning per outage; Redis is
tried again every ``retry_interval`` seconds and, once back, the deployments this process
opened meanwhile are opened there too. Nothing waits on Redis longer than ``timeout`` or the
call's time left.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any

from .._aio import bounded
from . import _lua
from .breaker import BreakerConfig
from .health import PEAK_EWMA_DECAY, DeploymentHealth, MemoryHealth, Outcome, Picked, Refused
from .members import Member, Mix, Pool
from .strategies import ranked

if TYPE_CHECKING:
    from .strategies import Strategy

__all__ = [
    "RedisHealth",
]

logger = logging.getLogger("routerlib")

#: Snapshot rows refreshed per pick at most (a larger pool refreshes its ranked candidates).
SNAPSHOT_MAX = 64
#: Connections of the async pool per event loop.
ASYNC_CONNECTIONS = 64
#: How long a breaker's state outlives its last report.
STATE_TTL_MS = 3_600_000


@dataclass(slots=True)
class _Pending:
    member: Member
    lease: str
    trial: bool
    second: int
    tokens: int
    #: True when the pick was made locally (Redis was away): report it locally too.
    local: bool
    ttft: float = -1.0


class _Snapshot:
    """The last state Redis returned, per member index (the strategies' ``Snapshot``)."""

    def __init__(self, n: int) -> None:
        self.at = [0.0] * n  # local monotonic time of each row
        self.reopen = [0.0] * n
        self.flight = [0] * n
        self.used = [(0, 0)] * n
        self.shares = [0.0] * n  # share of its rpm/tpm limits each member has used
        self.lat: list[float | None] = [None] * n
        self.ttft: list[float | None] = [None] * n
        self.out: list[float | None] = [None] * n

    def update(self, members: Sequence[Member], rows: Sequence[Sequence[Any]]) -> None:
        now = time.monotonic()
        for member, row in zip(members, rows, strict=False):
            i = member.index
            self.at[i] = now
            self.reopen[i] = int(row[0]) / 1000.0
            self.flight[i] = int(row[1])
            self.used[i] = requests, tokens = int(row[2]), int(row[3])
            self.shares[i] = max(requests / member.rpm if member.rpm else 0.0,
                                 tokens / member.tpm if member.tpm else 0.0)
            self.lat[i] = _decayed(row[4], row[5])
            self.ttft[i] = _decayed(row[6], row[7])
            self.out[i] = float(row[8]) if row[8] not in (b"", "") else None

    def in_flight(self, index: int) -> int:
        return self.flight[index]

    def in_flights(self, pool: Pool) -> Sequence[int]:
        return pool.gather(self.flight)

    def latency(self, index: int, stream: bool) -> float | None:
        return self.ttft[index] if stream else self.lat[index]

    def usage(self, index: int) -> tuple[int, int]:
        return self.used[index]

    def usage_shares(self, pool: Pool) -> Sequence[float]:
        return pool.gather(self.shares)

    def reopens_in(self, index: int) -> float:
        return max(self.reopen[index] - (time.monotonic() - self.at[index]), 0.0)

    def mean_output(self, index: int) -> float | None:
        return self.out[index]


def _decayed(value: Any, age_ms: Any) -> float | None:
    if value in (b"", "", None):
        return None
    return float(value) * math.exp(-max(float(age_ms or 0), 0.0) / 1000.0 / PEAK_EWMA_DECAY)


class RedisHealth:
    """Routing state in Redis (see the module docstring). ``Router(redis_url=...)`` makes one."""

    #: Ranked candidates sent per pick: enough that a refused first choice costs no second trip.
    batch = 3

    def __init__(self, url: str, *, prefix: str = "routerlib:route:", timeout: float = 0.5,
                 retry_interval: float = 1.0) -> None:
        try:
            import redis  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("Router(redis_url=...) needs the redis package: pip install 'routerlib[redis]'") from None
        self._url = url
        self._prefix = prefix
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._token = os.urandom(6).hex()
        self._leases = itertools.count()
        self._pending: dict[str, _Pending] = {}
        self._client: Any = None
        self._aclients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._down_until = 0.0
        self._outage = False
        self.local = MemoryHealth()
        #: Round trips made to Redis (for benchmarks and tests).
        self.round_trips = 0

    # -- setup
    def bind(self, members: Sequence[Member], config: BreakerConfig, clock: Callable[[], float]) -> None:
        self._members = members
        self._by_id = {m.id: m for m in members}
        self._config = config
        self.local.bind(members, config, clock)
        self._snap = _Snapshot(len(members))
        self._config_args = [config.allowed_fails, repr(config.failure_rate), config.min_calls,
                             int(config.window * 1000), int(config.cooldown_time * 1000),
                             int(config.max_cooldown * 1000), config.reset_after, STATE_TTL_MS]

    def _keys(self, member: Member) -> tuple[str, str, str, str]:
        p, ident = self._prefix, member.id
        return f"{p}h:{ident}", f"{p}f:{ident}", f"{p}t:{ident}", f"{p}u:{ident}"

    def _sync(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # No client-side retries: one attempt per decision, and an outage is handled here.
            client = redis.Redis.from_url(self._url, socket_timeout=self._timeout,
                                          socket_connect_timeout=self._timeout, retry=Retry(NoBackoff(), 0))
            self._scripts = {name: client.register_script(getattr(_lua, name))
                             for name in ("CHOOSE", "REPORT", "RELEASE", "OPEN", "HEALTH")}
            self._client = client
        return self._client

    def _async(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        found = self._aclients.get(loop)
        if found is None:
            import redis.asyncio as aredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # A blocking pool: past its size a pick waits for a connection (bounded by its wait_for)
            # instead of opening one per call in flight; no client-side retries (see _sync).
            pool = aredis.BlockingConnectionPool.from_url(
                self._url, max_connections=ASYNC_CONNECTIONS, timeout=None, retry=Retry(NoBackoff(), 0),
                socket_timeout=self._timeout, socket_connect_timeout=self._timeout)
            client = aredis.Redis(connection_pool=pool)
            scripts = {name: client.register_script(getattr(_lua, name))
                       for name in ("CHOOSE", "REPORT", "RELEASE", "HEALTH")}
            found = self._aclients[loop] = (client, scripts)
        return found

    # -- outages
    def _available(self) -> bool:
        return not self._outage or time.monotonic() >= self._down_until

    def _failed(self, error: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry_interval
        if not self._outage:
            self._outage = True
            logger.warning("routerlib Router: Redis unreachable (%s: %s); routing from this process's own state "
                           "until it returns", type(error).__name__, error)

    def _recovered(self) -> None:
        if self._outage:
            self._outage = False
            logger.warning("routerlib Router: Redis is back; routing state is shared again")
            self._share_local_openings()

    def _share_local_openings(self) -> None:
        """Open in Redis what this process opened while Redis was away (sync callers only)."""
        try:
            asyncio.get_running_loop()
            return  # never block a loop; the next outage-free report catches up instead
        except RuntimeError:
            pass
        for member, state in zip(self._members, self.local.health().values(), strict=True):
            if state.open_until is not None and state.open_until > time.time():
                ms = int((state.open_until - time.time()) * 1000)
                h, _, t, _ = self._keys(member)
                try:
                    self._scripts["OPEN"](keys=[h, t], args=[ms, state.cause, state.openings])
                except _errors():
                    return

    # -- picking
    def _args(self, call_id: str, cands: list[tuple[Member, str]], snap: Sequence[Member],
              need: Callable[[Member], int], force: bool, lease: float) -> tuple[list[str], list[Any], str]:
        lease_id = f"{self._token}:{next(self._leases)}"
        keys: list[str] = []
        args: list[Any] = [len(cands), len(snap), 1 if force else 0, lease_id, int(lease * 1000),
                           self._config.half_open_trials]
        for member, _ in cands:
            keys.extend(self._keys(member))
            args += [member.max_parallel or 0, member.rpm or 0, member.tpm or 0,
                     need(member) if member.tpm is not None else 0]
        for member in snap:
            h, f, _, u = self._keys(member)
            keys += [h, f, u]
        return keys, args, lease_id

    def _take(self, call_id: str, reply: Any, cands: list[tuple[Member, str]], snap: Sequence[Member],
              lease_id: str, args: list[Any], refused: list[tuple[Member, str]], call: object | None) -> Picked | None:
        chosen, trial, second, reasons, rows = reply
        self._snap.update(snap, rows)
        for (member, _), reason in zip(cands, reasons, strict=False):
            refused.append((member, reason.decode() if isinstance(reason, bytes) else str(reason)))
        if not chosen:
            return None
        member, why = cands[int(chosen) - 1]
        tokens = int(args[6 + 4 * (int(chosen) - 1) + 3])
        self._pending[call_id] = _Pending(member, lease_id, bool(trial), int(second), tokens, local=False)
        return Picked(member, why, bool(trial), tuple(refused))

    def choose(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
               need: Callable[[Member], int], *, force: bool = False, lease: float = 600.0,
               call: object | None = None) -> Picked | Refused:
        self.release(call_id)
        if not self._available():
            return self._choose_locally(call_id, pool, strategy, mix, rng, need, force, lease, call)
        snap = pool.members if len(pool) <= SNAPSHOT_MAX else ()
        refused: list[tuple[Member, str]] = []
        while pool.members:
            cands = ranked(strategy, pool, self._snap, mix, rng, self.batch)
            keys, args, lease_id = self._args(call_id, cands, snap or [m for m, _ in cands], need, force, lease)
            try:
                self._sync()
                self.round_trips += 1
                reply = self._scripts["CHOOSE"](keys=keys, args=args)
            except _errors() as error:
                self._failed(error)
                return self._choose_locally(call_id, pool, strategy, mix, rng, need, force, lease, call)
            self._recovered()
            picked = self._take(call_id, reply, cands, snap or [m for m, _ in cands], lease_id, args, refused,
                                call)
            if picked is not None:
                return picked
            pool = Pool([m for m in pool.members if all(m is not c for c, _ in cands)])
        return Refused(tuple(refused))

    async def achoose(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
                      need: Callable[[Member], int], *, force: bool = False, lease: float = 600.0,
                      call: object | None = None) -> Picked | Refused:
        await self._arelease(call_id)
        if not self._available():
            return self._choose_locally(call_id, pool, strategy, mix, rng, need, force, lease, call)
        snap = pool.members if len(pool) <= SNAPSHOT_MAX else ()
        refused: list[tuple[Member, str]] = []
        while pool.members:
            cands = ranked(strategy, pool, self._snap, mix, rng, self.batch)
            keys, args, lease_id = self._args(call_id, cands, snap or [m for m, _ in cands], need, force, lease)
            try:
                _, scripts = self._async()
                self.round_trips += 1
                reply = await bounded(scripts["CHOOSE"](keys=keys, args=args), self._timeout)
            except _errors() as error:
                self._failed(error)
                return self._choose_locally(call_id, pool, strategy, mix, rng, need, force, lease, call)
            self._recovered()
            picked = self._take(call_id, reply, cands, snap or [m for m, _ in cands], lease_id, args, refused,
                                call)
            if picked is not None:
                return picked
            pool = Pool([m for m in pool.members if all(m is not c for c, _ in cands)])
        return Refused(tuple(refused))

    def _choose_locally(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
                        need: Callable[[Member], int], force: bool, lease: float,
                        call: object | None) -> Picked | Refused:
        result = self.local.choose(call_id, pool, strategy, mix, rng, need, force=force, lease=lease, call=call)
        if isinstance(result, Picked):
            self._pending[call_id] = _Pending(result.member, "", result.trial, 0, 0, local=True)
        return result

    # -- reporting
    def report(self, call_id: str, deployment_id: str, outcome: Outcome) -> None:
        pending = self._pending.get(call_id)
        if pending is None or pending.member.id != deployment_id:
            return
        del self._pending[call_id]
        if pending.local:
            self.local.report(call_id, deployment_id, outcome)
            return
        keys, args = self._report_args(pending, outcome)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(self._areport(keys, args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if not self._available():
            return
        try:
            self.round_trips += 1
            self._sync()
            self._scripts["REPORT"](keys=keys, args=args)
        except _errors() as error:
            self._failed(error)
            return
        self._recovered()

    async def _areport(self, keys: list[str], args: list[Any]) -> None:
        if not self._available():
            return
        try:
            _, scripts = self._async()
            self.round_trips += 1
            await bounded(scripts["REPORT"](keys=keys, args=args), self._timeout)
        except _errors() as error:
            self._failed(error)

    def _report_args(self, pending: _Pending, outcome: Outcome) -> tuple[list[str], list[Any]]:
        completion = outcome.completion_tokens or 0
        lat = outcome.latency / completion if outcome.verdict == "ok" and completion else -1.0
        delta = outcome.tokens - pending.tokens if outcome.tokens is not None else 0
        retry = int(outcome.retry_after * 1000) if outcome.retry_after is not None else -1
        args: list[Any] = [pending.lease, 1 if pending.trial else 0, outcome.verdict, retry, outcome.detail,
                           pending.second, delta, repr(lat), completion or -1, repr(pending.ttft),
                           *self._config_args]
        return list(self._keys(pending.member)), args

    def first_token(self, call_id: str, deployment_id: str, seconds: float) -> None:
        pending = self._pending.get(call_id)
        if pending is not None and pending.member.id == deployment_id:
            pending.ttft = seconds  # sent with the attempt's report: no round trip of its own
        self.local.first_token(call_id, deployment_id, seconds)

    def release(self, call_id: str) -> None:
        pending = self._pending.pop(call_id, None)
        if pending is None:
            return
        if pending.local:
            self.local.release(call_id)
            return
        if not self._available():
            return  # the lease expires by itself
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(self._arelease_pending(pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        _, f, t, u = self._keys(pending.member)
        try:
            self.round_trips += 1
            self._sync()
            self._scripts["RELEASE"](keys=[f, t, u], args=[pending.lease, pending.second, pending.tokens])
        except _errors() as error:
            self._failed(error)

    async def _arelease(self, call_id: str) -> None:
        pending = self._pending.pop(call_id, None)
        if pending is None:
            return
        if pending.local:
            self.local.release(call_id)
            return
        await self._arelease_pending(pending)

    async def _arelease_pending(self, pending: _Pending) -> None:
        _, f, t, u = self._keys(pending.member)
        try:
            _, scripts = self._async()
            self.round_trips += 1
            await bounded(scripts["RELEASE"](keys=[f, t, u], args=[pending.lease, pending.second, pending.tokens]),
                          self._timeout)
        except _errors() as error:
            self._failed(error)

    # -- reading
    def admits(self, member: Member) -> bool:
        i = member.index
        if self._snap.reopens_in(i) > 0:
            return False
        return member.max_parallel is None or self._snap.flight[i] < member.max_parallel

    def reopening(self, members: Sequence[Member]) -> float | None:
        waits = [self._snap.reopens_in(m.index) for m in members]
        soonest = min((w for w in waits if w > 0), default=None)
        return None if soonest is None else time.time() + soonest

    def health(self) -> dict[str, DeploymentHealth]:
        """The shared state, read in one round trip (the local state while Redis is away)."""
        if not self._available():
            return self.local.health()
        try:
            self._sync()
            rows = self._scripts["HEALTH"](keys=self._health_keys(), args=[int(self._config.window * 1000)])
        except _errors() as error:
            self._failed(error)
            return self.local.health()
        self._recovered()
        return self._healths(rows)

    async def ahealth(self) -> dict[str, DeploymentHealth]:
        """``health`` for async code: the round trip never blocks the event loop."""
        if not self._available():
            return self.local.health()
        try:
            _, scripts = self._async()
            rows = await bounded(scripts["HEALTH"](keys=self._health_keys(), args=[int(self._config.window * 1000)]),
                                 self._timeout)
        except _errors() as error:
            self._failed(error)
            return self.local.health()
        self._recovered()
        return self._healths(rows)

    def _health_keys(self) -> list[str]:
        keys: list[str] = []
        for member in self._members:
            h, f, _, u = self._keys(member)
            keys += [h, f, u]
        return keys

    def _healths(self, rows: Sequence[Sequence[Any]]) -> dict[str, DeploymentHealth]:
        return {m.id: _health(m, row) for m, row in zip(self._members, rows, strict=True)}


def _health(member: Member, row: Sequence[Any]) -> DeploymentHealth:
    until_rel, raw_until = int(row[9]), int(row[10])
    state = "closed" if raw_until == 0 else ("open" if until_rel > 0 else "half_open")
    calls, fails = int(row[14]), int(row[15])
    cause = row[13].decode() if isinstance(row[13], bytes) else str(row[13])
    return DeploymentHealth(
        id=member.id, group=member.group, state=state,  # type: ignore[arg-type]
        failure_rate=fails / calls if calls else 0.0, calls_in_window=calls, consecutive_failures=int(row[11]),
        in_flight=int(row[1]), latency=_decayed(row[4], row[5]), ttft=_decayed(row[6], row[7]),
        rpm_used=int(row[2]), tpm_used=int(row[3]), rpm_limit=member.rpm, tpm_limit=member.tpm,
        open_until=time.time() + until_rel / 1000.0 if raw_until else None, cause=cause, openings=int(row[12]))


def _errors() -> tuple[type[BaseException], ...]:
    """What means "Redis is not there right now": routing goes on locally."""
    import redis

    return (redis.RedisError, OSError, asyncio.TimeoutError)
