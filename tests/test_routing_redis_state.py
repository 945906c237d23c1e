"""routing.redis_state against a real redis-server: atomic picks, shared breakers, leases, outages.

Two ``RedisHealth`` objects on one server stand for two processes (the multi-process tests are
in tests/integration/test_router_redis.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from random import Random
from typing import Any

import pytest
import redis
from routing_helpers import member, members

from routerlib.routing.breaker import BreakerConfig
from routerlib.routing.health import MemoryHealth, Outcome, Picked, Refused
from routerlib.routing.members import Member, Mix, Pool
from routerlib.routing.redis_state import RedisHealth
from routerlib.routing.strategies import least_busy, simple_shuffle, soonest_to_reopen

MIX = Mix(stream=False, prompt_tokens=lambda d: 10, max_output=20)


def shared(url: str, ms: list[Member], prefix: str, **config: Any) -> RedisHealth:
    store = RedisHealth(url, prefix=prefix)
    store.bind(ms, BreakerConfig(**config), time.monotonic)
    return store


def choose(s: RedisHealth | MemoryHealth, ms: list[Member], call: str = "c", tokens: int = 30,
           force: bool = False, strategy: Any = simple_shuffle, lease: float = 60.0) -> Picked | Refused:
    return s.choose(call, Pool(ms), strategy, MIX, Random(0), lambda m: tokens, force=force, lease=lease)


def test_a_pick_is_one_round_trip_and_a_report_one_more(redis_url: str) -> None:
    ms = members(3)
    s = shared(redis_url, ms, "rt:")
    picked = choose(s, ms)
    assert isinstance(picked, Picked)
    assert s.round_trips == 1
    s.report("c", picked.member.id, Outcome("ok", latency=0.1, tokens=15, completion_tokens=5))
    assert s.round_trips == 2
    h = s.health()[picked.member.id]
    assert (h.in_flight, h.rpm_used, h.tpm_used, h.state) == (0, 1, 15, "closed")
    assert h.latency == pytest.approx(0.02, rel=0.01)


def test_reservations_and_settlement(redis_url: str) -> None:
    ms = [member(0, tpm=1000)]
    s = shared(redis_url, ms, "res:")
    choose(s, ms, tokens=300)
    h = s.health()["d0"]
    assert (h.in_flight, h.rpm_used, h.tpm_used) == (1, 1, 300)
    s.report("c", "d0", Outcome("ok", latency=0.1, tokens=120, completion_tokens=20))
    assert s.health()["d0"].tpm_used == 120
    choose(s, ms, call="x", tokens=300)
    s.release("x")
    h = s.health()["d0"]
    assert (h.in_flight, h.rpm_used, h.tpm_used) == (0, 1, 120)


def test_a_cooldown_set_by_one_process_is_honoured_by_the_other_at_once(redis_url: str) -> None:
    ms = members(2)
    a = shared(redis_url, ms, "cool:", allowed_fails=0)
    b = shared(redis_url, ms, "cool:", allowed_fails=0)
    picked = choose(a, ms[:1])
    assert isinstance(picked, Picked)
    a.report("c", "d0", Outcome("failure", detail="InternalServerError 500"))
    refused = choose(b, ms[:1], call="other")
    assert isinstance(refused, Refused)
    assert refused.refused[0][1].startswith("open for 5.0 s more (1 failures in a row (last: InternalServerError")
    assert b.health()["d0"].state == "open"
    assert not b.admits(ms[0])  # b's snapshot learned it with the refusal


def test_rpm_is_never_exceeded_by_concurrent_pickers(redis_url: str) -> None:
    ms = [member(0, rpm=40)]
    stores = [shared(redis_url, ms, "rpm:") for _ in range(4)]
    results: list[Picked | Refused] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(25):
            result = choose(stores[k], ms, call=f"{k}-{i}")
            with lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, Picked) for r in results) == 40


def test_a_refused_first_choice_costs_no_second_round_trip(redis_url: str) -> None:
    ms = members(3, max_parallel=1)
    s = shared(redis_url, ms, "batch:")
    for i in range(3):
        assert isinstance(choose(s, ms, call=f"c{i}", strategy=least_busy), Picked)
    assert s.round_trips == 3


def test_leases_of_a_dead_process_lapse(redis_url: str) -> None:
    ms = [member(0, max_parallel=1)]
    dead = shared(redis_url, ms, "lease:")
    assert isinstance(choose(dead, ms, lease=0.3), Picked)  # then the process "dies": no report
    alive = shared(redis_url, ms, "lease:")
    assert isinstance(choose(alive, ms, call="x"), Refused)
    deadline = time.monotonic() + 5
    while isinstance(result := choose(alive, ms, call="x"), Refused):
        assert time.monotonic() < deadline, "the lease never lapsed"
        time.sleep(0.05)
    assert isinstance(result, Picked)


def test_keys_expire(redis_url: str) -> None:
    ms = members(1)
    s = shared(redis_url, ms, "ttl:")
    picked = choose(s, ms, lease=5.0)
    s.report("c", picked.member.id, Outcome("ok", latency=0.1, tokens=5, completion_tokens=5))  # type: ignore[union-attr]
    client = redis.Redis.from_url(redis_url)
    for key in client.keys("ttl:*"):
        assert client.pttl(key) > 0, key


def test_half_open_trials_and_forced_trials_are_shared(redis_url: str) -> None:
    ms = members(1)
    a = shared(redis_url, ms, "trial:", allowed_fails=0, cooldown_time=0.2)
    b = shared(redis_url, ms, "trial:", allowed_fails=0, cooldown_time=0.2)
    choose(a, ms)
    a.report("c", "d0", Outcome("failure"))
    time.sleep(0.25)
    trial = choose(a, ms, call="t")
    assert isinstance(trial, Picked) and trial.trial
    refused = choose(b, ms, call="u")
    assert isinstance(refused, Refused) and "half-open, 1 trial call(s) in flight" in refused.refused[0][1]
    a.report("t", "d0", Outcome("ok", latency=0.1, tokens=5, completion_tokens=5))
    assert b.health()["d0"].state == "closed"
    choose(b, ms, call="v")
    b.report("v", "d0", Outcome("fatal", detail="AuthenticationError 401"))
    forced = choose(a, ms, call="w", force=True, strategy=soonest_to_reopen)
    assert isinstance(forced, Picked) and forced.trial


SEQUENCE = ["failure", "ok", "failure", "failure", "neutral", "failure", "failure", "ok", "rate_limited",
            "failure", "fatal"]


def test_the_lua_breaker_matches_the_python_one(redis_url: str) -> None:
    ms = members(1)
    config = {"allowed_fails": 2, "min_calls": 4, "failure_rate": 0.5, "cooldown_time": 1.0}
    shared_store = shared(redis_url, ms, "parity:", **config)
    local = MemoryHealth()
    local.bind(ms, BreakerConfig(**config), time.monotonic)  # type: ignore[arg-type]
    for i, verdict in enumerate(SEQUENCE):
        for store in (shared_store, local):
            result = choose(store, ms, call=f"p{i}", force=True, strategy=soonest_to_reopen)
            assert isinstance(result, Picked)
            store.report(f"p{i}", "d0", Outcome(verdict, retry_after=30.0, detail="X 500"))  # type: ignore[arg-type]
        r, m = shared_store.health()["d0"], local.health()["d0"]
        assert (r.state, r.openings, r.consecutive_failures, r.calls_in_window, r.cause) == (
            m.state, m.openings, m.consecutive_failures, m.calls_in_window, m.cause), (i, verdict)
        assert (r.open_until or 0) == pytest.approx(m.open_until or 0, abs=1.0)


async def test_async_picks_and_reports_use_redis_asyncio(redis_url: str) -> None:
    ms = members(2)
    s = shared(redis_url, ms, "async:")
    picked = await s.achoose("c", Pool(ms), simple_shuffle, MIX, Random(0), lambda m: 0)
    assert isinstance(picked, Picked)
    assert s._client is None  # the sync client was never created on the async path
    s.report("c", picked.member.id, Outcome("ok", latency=0.1, tokens=5, completion_tokens=5))
    await asyncio.gather(*list(s._tasks))
    assert s.round_trips == 2
    assert sum(h.rpm_used for h in s.health().values()) == 1


def test_redis_down_routes_locally_with_one_warning_and_catches_up(
        redis_process: Any, caplog: pytest.LogCaptureFixture) -> None:
    ms = members(2)
    s = RedisHealth(redis_process.url, prefix="down:", retry_interval=0.2)
    s.bind(ms, BreakerConfig(allowed_fails=0, cooldown_time=60.0), time.monotonic)
    assert isinstance(choose(s, ms), Picked)
    redis_process.kill()
    caplog.set_level(logging.WARNING, logger="routerlib")
    for i in range(20):
        result = choose(s, ms, call=f"x{i}")
        assert isinstance(result, Picked)
        s.report(f"x{i}", result.member.id, Outcome("failure" if result.member.id == "d0" else "ok"))
    unreachable = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(unreachable) == 1
    assert s.health()["d0"].state == "open"  # learned locally during the outage
    redis_process.start()
    time.sleep(0.25)
    assert isinstance(choose(s, ms, call="back"), Picked)
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
    client = redis.Redis.from_url(redis_process.url)
    assert float(client.hget("down:h:d0", "ou") or 0) > 0  # the local opening was shared


def test_a_hung_redis_never_holds_a_pick_past_the_timeout(redis_process: Any) -> None:
    ms = members(1)
    s = RedisHealth(redis_process.url, prefix="hung:", timeout=0.2, retry_interval=60.0)
    s.bind(ms, BreakerConfig(), time.monotonic)
    assert isinstance(choose(s, ms), Picked)
    redis_process.pause()
    try:
        assert isinstance(choose(s, ms, call="x"), Picked)  # local, after the 0.2 s socket timeout
        assert isinstance(choose(s, ms, call="y"), Picked)  # local at once: Redis is not retried yet
    finally:
        redis_process.resume()


def test_all_open_trials_are_limited_across_processes(redis_url: str) -> None:
    ms = members(1)
    a = shared(redis_url, ms, "forced:", allowed_fails=0)
    b = shared(redis_url, ms, "forced:", allowed_fails=0)
    choose(a, ms)
    a.report("c", "d0", Outcome("failure"))
    assert isinstance(choose(a, ms, call="t1", force=True, strategy=soonest_to_reopen), Picked)
    refused = choose(b, ms, call="t2", force=True, strategy=soonest_to_reopen)
    assert isinstance(refused, Refused) and refused.refused[0][1] == "open, 1 trial call(s) in flight"


def test_a_failure_penalises_the_shared_latency_too(redis_url: str) -> None:
    ms = members(1)
    s = shared(redis_url, ms, "penalty:", allowed_fails=100)
    choose(s, ms)
    s.report("c", "d0", Outcome("ok", latency=0.5, tokens=10, completion_tokens=5))
    choose(s, ms, call="f")
    s.report("f", "d0", Outcome("failure", latency=0.01))
    assert s.health()["d0"].latency == pytest.approx(1.0, rel=0.01)
