"""Health state: the store protocol, the in-memory store, and what ``router.health()`` returns.

A store keeps, per deployment: its breaker (``breaker.py``), the calls in flight, the rolling
60 s usage (requests and tokens, reservations included) and the peak-EWMA latencies. Picks
and reports are atomic per decision:

- ``choose`` runs the strategy over the pool and *reserves* on the member it keeps, in one
  step: a free half-open trial slot, a ``max_parallel_requests`` slot, one request and the
  request's estimated tokens in the usage window. Two concurrent callers can never both take
  the last slot or overshoot rpm/tpm (LiteLLM counts after the fact and overshoots under
  concurrency: #2994, #33032). A refused member is dropped from the pool with its reason and
  the strategy runs again on the rest.
- ``report`` (fed by the Router's observer at each attempt's end) settles the reservation to
  the real usage, frees the slots and applies the outcome to the breaker and the latencies.
- ``release`` gives back what a pick reserved when the attempt never happened.

``MemoryHealth`` holds this in the process under one lock; ``redis_state.RedisHealth`` shares
it through Redis with the same rules in Lua.

Usage windows are 61 one-second buckets with running sums: a request counts for at least
60 s (never less), so a limit holds over any 60 s interval; the sums advance in O(1)
amortised.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, NamedTuple, Protocol

from .breaker import Breaker, BreakerConfig, State, Verdict
from .members import Member, Mix, Pool

if TYPE_CHECKING:
    from .strategies import Strategy

__all__ = [
    "DeploymentHealth",
    "HealthStore",
    "MemoryHealth",
    "Outcome",
    "Picked",
    "Refused",
    "UsageWindow",
    "peak_ewma",
]

#: Decay time of the peak EWMA of latency: Finagle's default for its PeakEWMA balancer.
PEAK_EWMA_DECAY = 10.0
#: A failed attempt counts as an answer this many times slower than the average (latency-based).
FAILURE_PENALTY = 10.0
#: Weight of a new answer in the EWMA of completion tokens.
OUTPUT_ALPHA = 0.1
USAGE_BUCKETS = 61
#: After this many refused picks, the rest of the pool is checked in one pass.
LAZY_REFUSALS = 3


class Outcome(NamedTuple):
    """One attempt's end, as the health store takes it (a tuple: built once per attempt)."""

    verdict: Verdict
    latency: float = 0.0
    #: Total tokens of the answer (prompt + completion), None when unknown (an error).
    tokens: int | None = None
    completion_tokens: int | None = None
    retry_after: float | None = None
    #: "InternalServerError 500" etc., kept as the breaker's cause.
    detail: str = ""


class Picked(NamedTuple):
    member: Member
    why: str
    trial: bool
    refused: tuple[tuple[Member, str], ...] = ()


class Refused(NamedTuple):
    refused: tuple[tuple[Member, str], ...]


@dataclass(frozen=True, slots=True)
class DeploymentHealth:
    """One deployment in ``router.health()``."""

    id: str
    group: str
    state: State
    #: Failures / calls in the breaker's window (0.0 with no calls).
    failure_rate: float
    calls_in_window: int
    consecutive_failures: int
    in_flight: int
    #: Peak-EWMA seconds per output token, and time to first token of streams (None: no sample).
    latency: float | None
    ttft: float | None
    rpm_used: int
    tpm_used: int
    rpm_limit: int | None
    tpm_limit: int | None
    #: Wall-clock time (``time.time()``) the open state ends, None when closed.
    open_until: float | None
    #: Why it last opened.
    cause: str
    #: Openings in a row (the open time doubles with each).
    openings: int


class HealthStore(Protocol):
    """Where a Router keeps its routing state (``MemoryHealth``, ``RedisHealth``)."""

    #: Ranked candidates a pick checks per decision: 1 in process; a shared store sends several
    #: per round trip (and sizes the slots' leases, which an in-process store does not need).
    batch: int

    def bind(self, members: Sequence[Member], config: BreakerConfig, clock: Callable[[], float]) -> None:
        """Called once by the Router with every deployment of every group."""
        ...

    def choose(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
               need: Callable[[Member], int], *, force: bool = False, lease: float = 600.0,
               call: object | None = None) -> Picked | Refused:
        """Run ``strategy`` over ``pool`` and reserve on the member kept (``call``: the call view)."""
        ...

    async def achoose(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
                      need: Callable[[Member], int], *, force: bool = False, lease: float = 600.0,
                      call: object | None = None) -> Picked | Refused: ...

    def report(self, call_id: str, deployment_id: str, outcome: Outcome) -> None: ...

    def release(self, call_id: str) -> None: ...

    def first_token(self, call_id: str, deployment_id: str, seconds: float) -> None: ...

    def admits(self, member: Member) -> bool:
        """Whether ``member`` would take a call now, by the last known state (no reservation)."""
        ...

    def reopening(self, members: Sequence[Member]) -> float | None:
        """The wall-clock time the first of ``members`` that is open reopens (None: none is open)."""
        ...

    def health(self) -> dict[str, DeploymentHealth]: ...

    async def ahealth(self) -> dict[str, DeploymentHealth]:
        """``health`` without blocking the event loop (a shared store reads it asynchronously)."""
        ...


class UsageWindow:
    """Requests and tokens over the last 60 s in one-second buckets, with running sums.

    With ``shares`` given, the window keeps ``shares[index]`` equal to the share of its limits
    it has used (the larger of requests/rpm and tokens/tpm; 0 with no limit) whenever its sums
    change, so usage-based routing reads one flat list instead of recomputing it per pick.
    """

    __slots__ = ("_index", "_per_request", "_per_token", "_req", "_shares", "_tok", "head", "requests", "tokens")

    def __init__(self, rpm: int | None = None, tpm: int | None = None,
                 shares: list[float] | None = None, index: int = 0) -> None:
        self.head = -1
        self.requests = 0
        self.tokens = 0
        self._req = [0] * USAGE_BUCKETS
        self._tok = [0] * USAGE_BUCKETS
        self._per_request = 1.0 / rpm if rpm else 0.0
        self._per_token = 1.0 / tpm if tpm else 0.0
        limited = shares is not None and (self._per_request or self._per_token)
        self._shares = shares if limited else None
        self._index = index

    def _reshare(self) -> None:
        shares = self._shares
        if shares is not None:
            by_requests, by_tokens = self.requests * self._per_request, self.tokens * self._per_token
            shares[self._index] = by_requests if by_requests > by_tokens else by_tokens

    def advance(self, now: float) -> int:
        second = int(now)
        head = self.head
        if second > head:
            if second - head >= USAGE_BUCKETS:
                self._req = [0] * USAGE_BUCKETS
                self._tok = [0] * USAGE_BUCKETS
                self.requests = self.tokens = 0
            else:
                req, tok = self._req, self._tok
                for k in range(head + 1, second + 1):
                    slot = k % USAGE_BUCKETS
                    self.requests -= req[slot]
                    self.tokens -= tok[slot]
                    req[slot] = tok[slot] = 0
            self.head = second
            self._reshare()
        return second

    def add(self, now: float, requests: int, tokens: int) -> int:
        second = self.advance(now)
        slot = second % USAGE_BUCKETS
        self._req[slot] += requests
        self._tok[slot] += tokens
        self.requests += requests
        self.tokens += tokens
        self._reshare()
        return second

    def adjust(self, second: int, requests: int, tokens: int) -> None:
        """Change what bucket ``second`` holds, if it is still in the window."""
        if second <= self.head - USAGE_BUCKETS:
            return
        slot = second % USAGE_BUCKETS
        self._req[slot] += requests
        self._tok[slot] += tokens
        self.requests += requests
        self.tokens += tokens
        self._reshare()

    def totals(self, now: float) -> tuple[int, int]:
        self.advance(now)
        return self.requests, self.tokens


def peak_ewma(value: float | None, stamp: float, sample: float, now: float) -> float:
    """Finagle's peak EWMA: jump up to a larger sample at once, decay toward smaller ones."""
    if value is None or sample > value:
        return sample
    w = math.exp(-max(now - stamp, 0.0) / PEAK_EWMA_DECAY)
    return value * w + sample * (1.0 - w)


class _Pending:
    """A pick not yet reported (or given back: see ``release``)."""

    __slots__ = ("index", "second", "tokens", "trial")

    def __init__(self, index: int, tokens: int, second: int, trial: bool) -> None:
        self.index = index
        self.tokens = tokens
        self.second = second
        self.trial = trial


#: Stores to reset in a forked child (see ``MemoryHealth._after_fork``).
_AFTER_FORK: weakref.WeakSet[MemoryHealth] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for store in list(_AFTER_FORK):
        store._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


class MemoryHealth:
    """Routing state in this process (the default). Thread-safe; async calls use it as is."""

    #: Ranked candidates sent per decision (a Redis store sends several per round trip).
    batch = 1

    def __init__(self) -> None:
        self._members: Sequence[Member] = ()
        self._pending: dict[str, _Pending] = {}
        _AFTER_FORK.add(self)

    def _after_fork(self) -> None:
        """In a forked child: the parent's calls in flight are not this process's. Their counts,
        pending picks and half-open trial slots are dropped (the breakers' history is kept), and
        the lock, which a parent thread may have held at the fork, is new."""
        self._pending = {}
        if not self._members:
            return
        self._lock = threading.Lock()
        self._flight = [0] * len(self._members)
        for breaker in self._breakers:
            breaker.trials = 0

    def bind(self, members: Sequence[Member], config: BreakerConfig, clock: Callable[[], float]) -> None:
        n = len(members)
        self._members = members
        self._by_id = {m.id: m.index for m in members}
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers = [Breaker(config) for _ in range(n)]
        self._flight = [0] * n
        self._shares = [0.0] * n
        self._usage = [UsageWindow(m.rpm, m.tpm, self._shares, m.index) for m in members]
        self._advanced = -1  # the second every usage window was last advanced to
        self._lat: list[float | None] = [None] * n
        self._lat_at = [0.0] * n
        self._ttft: list[float | None] = [None] * n
        self._ttft_at = [0.0] * n
        self._out: list[float | None] = [None] * n
        self._now = clock()

    # -- the Snapshot protocol (read under the lock, by strategies)
    def in_flight(self, index: int) -> int:
        return self._flight[index]

    def in_flights(self, pool: Pool) -> Sequence[int]:
        return pool.gather(self._flight)

    def latency(self, index: int, stream: bool) -> float | None:
        # Read through a zero sample, as Finagle's PeakEWMA does: an average nobody refreshes
        # decays, so one bad sample cannot starve a deployment forever.
        if stream:
            value, stamp = self._ttft[index], self._ttft_at[index]
        else:
            value, stamp = self._lat[index], self._lat_at[index]
        if value is None:
            return None
        return value * math.exp(-max(self._now - stamp, 0.0) / PEAK_EWMA_DECAY)

    def usage(self, index: int) -> tuple[int, int]:
        return self._usage[index].totals(self._now)

    def usage_shares(self, pool: Pool) -> Sequence[float]:
        now = self._now
        if int(now) != self._advanced:  # once a second: expire old buckets of every window
            for window in self._usage:
                window.advance(now)
            self._advanced = int(now)
        return pool.gather(self._shares)

    def reopens_in(self, index: int) -> float:
        return max(self._breakers[index].open_until - self._now, 0.0)

    def mean_output(self, index: int) -> float | None:
        return self._out[index]

    # -- decisions
    def choose(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
               need: Callable[[Member], int], *, force: bool = False, lease: float = 600.0,
               call: object | None = None) -> Picked | Refused:
        with self._lock:
            self._now = now = self._clock()
            pending = self._pending
            if call_id in pending:
                self._release_locked(call_id)
            refused: list[tuple[Member, str]] = []
            while pool.members:
                if len(refused) == LAZY_REFUSALS:
                    pool = self._filter(pool, now, force, need, refused)
                    if not pool.members:
                        break
                member, why = strategy(pool, self, mix, rng)
                i = member.index
                if not member.limited and not force and self._breakers[i].open_until == 0.0:
                    # the common case: a closed breaker and no limit to check
                    self._flight[i] += 1
                    pending[call_id] = _Pending(i, 0, self._usage[i].add(now, 1, 0), False)
                    return Picked(member, why, False, tuple(refused) if refused else ())
                reason, tokens = self._refusal(member, now, force, need)
                if reason is None:
                    trial = self._reserve(call_id, member, now, tokens, force)
                    return Picked(member, why, trial, tuple(refused))
                refused.append((member, reason))
                pool = pool.without(member)
            return Refused(tuple(refused))

    async def achoose(self, call_id: str, pool: Pool, strategy: Strategy, mix: Mix, rng: Random,
                      need: Callable[[Member], int], *, force: bool = False, lease: float = 600.0,
                      call: object | None = None) -> Picked | Refused:
        return self.choose(call_id, pool, strategy, mix, rng, need, force=force, lease=lease, call=call)

    def _filter(self, pool: Pool, now: float, force: bool, need: Callable[[Member], int],
                refused: list[tuple[Member, str]]) -> Pool:
        kept = []
        for member in pool.members:
            reason, _ = self._refusal(member, now, force, need)
            if reason is None:
                kept.append(member)
            else:
                refused.append((member, reason))
        return Pool(kept)

    def _refusal(self, member: Member, now: float, force: bool,
                 need: Callable[[Member], int]) -> tuple[str | None, int]:
        i = member.index
        breaker = self._breakers[i]
        if force:  # the all-open trial: still at most half_open_trials trial calls at once
            if breaker.trials >= breaker.config.half_open_trials:
                return f"open, {breaker.trials} trial call(s) in flight", 0
        elif not breaker.admits(now):
            return breaker.refusal(now), 0
        if member.max_parallel is not None and self._flight[i] >= member.max_parallel:
            return f"max_parallel_requests {member.max_parallel} reached", 0
        if member.rpm is None and member.tpm is None:
            return None, 0
        requests, tokens = self._usage[i].totals(now)
        if member.rpm is not None and requests + 1 > member.rpm:
            return f"rpm limit {member.rpm} reached ({requests} requests in the last 60 s)", 0
        wanted = need(member) if member.tpm is not None else 0
        if member.tpm is not None and tokens + wanted > member.tpm:
            return f"tpm limit {member.tpm}: {tokens} used + {wanted} for this request", 0
        return None, wanted

    def _reserve(self, call_id: str, member: Member, now: float, tokens: int, force: bool) -> bool:
        i = member.index
        self._flight[i] += 1
        second = self._usage[i].add(now, 1, tokens)
        breaker = self._breakers[i]
        if force:
            breaker.force_trial()
            trial = True
        else:
            trial = breaker.acquire(now)
        self._pending[call_id] = _Pending(i, tokens, second, trial)
        return trial

    def report(self, call_id: str, deployment_id: str, outcome: Outcome) -> None:
        with self._lock:
            pending = self._pending.pop(call_id, None)
            if pending is None:
                return  # not an attempt this store picked (a direct fallback)
            i = pending.index
            if self._members[i].id != deployment_id:
                self._pending[call_id] = pending
                return
            now = self._clock()
            self._flight[i] -= 1
            tokens = outcome.tokens
            if tokens is not None and tokens != pending.tokens:
                self._usage[i].adjust(pending.second, 0, tokens - pending.tokens)
            verdict = outcome.verdict
            self._breakers[i].record(verdict, now, trial=pending.trial, retry_after=outcome.retry_after,
                                     detail=outcome.detail)
            completion = outcome.completion_tokens
            if verdict == "ok" and completion:
                self._lat[i] = peak_ewma(self._lat[i], self._lat_at[i], outcome.latency / completion, now)
                self._lat_at[i] = now
                old = self._out[i]
                self._out[i] = float(completion) if old is None else old + OUTPUT_ALPHA * (completion - old)
            elif verdict == "failure":
                self._penalise(i, now)

    def _penalise(self, i: int, now: float) -> None:
        """A failed attempt answered nothing: its averages jump to FAILURE_PENALTY times their value
        (the peak EWMA takes it at once and decays back), so latency-based routing sends less to a
        deployment that keeps failing, before its breaker has to open."""
        for values, stamps in ((self._lat, self._lat_at), (self._ttft, self._ttft_at)):
            value = values[i]
            if value is not None:
                values[i] = peak_ewma(value, stamps[i], value * FAILURE_PENALTY, now)
                stamps[i] = now

    def release(self, call_id: str) -> None:
        with self._lock:
            self._release_locked(call_id)

    def _release_locked(self, call_id: str) -> None:
        pending = self._pending.pop(call_id, None)
        if pending is None:
            return
        i = pending.index
        self._flight[i] = max(self._flight[i] - 1, 0)
        self._usage[i].adjust(pending.second, -1, -pending.tokens)
        breaker = self._breakers[i]
        if pending.trial and breaker.trials:
            breaker.trials -= 1

    def first_token(self, call_id: str, deployment_id: str, seconds: float) -> None:
        i = self._by_id.get(deployment_id)
        if i is None:
            return
        with self._lock:
            now = self._clock()
            self._ttft[i] = peak_ewma(self._ttft[i], self._ttft_at[i], seconds, now)
            self._ttft_at[i] = now

    def admits(self, member: Member) -> bool:
        i = member.index
        if not self._breakers[i].admits(self._clock()):
            return False
        return member.max_parallel is None or self._flight[i] < member.max_parallel

    def reopening(self, members: Sequence[Member]) -> float | None:
        now = self._clock()
        ends = [self._breakers[m.index].open_until for m in members]
        soonest = min((end for end in ends if end > now), default=None)
        return None if soonest is None else time.time() + soonest - now

    async def ahealth(self) -> dict[str, DeploymentHealth]:
        return self.health()  # in memory: nothing to wait for

    def health(self) -> dict[str, DeploymentHealth]:
        with self._lock:
            now = self._clock()
            wall = time.time()
            out = {}
            for member in self._members:
                i = member.index
                breaker = self._breakers[i]
                calls, fails = breaker.counts(now)
                requests, tokens = self._usage[i].totals(now)
                out[member.id] = DeploymentHealth(
                    id=member.id, group=member.group, state=breaker.state(now),
                    failure_rate=fails / calls if calls else 0.0, calls_in_window=calls,
                    consecutive_failures=breaker.consecutive, in_flight=self._flight[i],
                    latency=self._lat[i], ttft=self._ttft[i], rpm_used=requests, tpm_used=tokens,
                    rpm_limit=member.rpm, tpm_limit=member.tpm,
                    open_until=wall + breaker.open_until - now if breaker.open_until else None,
                    cause=breaker.cause, openings=breaker.openings)
            return out
