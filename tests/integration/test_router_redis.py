"""Several real processes sharing one Redis through their Routers (``router_worker.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fault_server import FaultServer, entry, fault_servers

from routerlib import RetryPolicy, Router

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def servers() -> Iterator[list[FaultServer]]:
    with fault_servers("a", "b") as pair:
        yield pair


def spawn(job: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "router_worker.py"), json.dumps(job)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def finish(proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


def total(results: list[dict[str, Any]]) -> Counter[str]:
    return sum((Counter(r["counts"]) for r in results), Counter())


def test_rpm_limits_are_never_exceeded_across_four_processes(servers: list[FaultServer], redis_process: Any) -> None:
    a, b = servers
    job = {"redis_url": redis_process.url, "model_list": [entry(a, rpm=12), entry(b, rpm=12)],
           "calls": 10, "threads": 2, "start_at": time.time() + 1.5}
    results = [finish(p)[0] for p in [spawn(job) for _ in range(4)]]
    got = total(results)
    assert a.count() <= 12 and b.count() <= 12
    assert got["ok:a"] == a.count() and got["ok:b"] == b.count()
    assert got["ok:a"] + got["ok:b"] == 24  # every slot of the minute was used, none twice
    assert got["none"] == 80 - 24


def test_tpm_limits_are_never_exceeded_across_four_processes(servers: list[FaultServer],
                                                             redis_process: Any) -> None:
    a, b = servers
    for s in servers:
        s.set(prompt_tokens=5, completion_tokens=20)  # at most what was reserved: the prompt + max_tokens
    job = {"redis_url": redis_process.url, "model_list": [entry(a, tpm=400), entry(b, tpm=400)],
           "calls": 10, "threads": 2, "params": {"max_tokens": 20}, "start_at": time.time() + 1.5}
    results = [finish(p)[0] for p in [spawn(job) for _ in range(4)]]
    assert a.count() * 25 <= 400 and b.count() * 25 <= 400
    got = total(results)
    assert got["ok:a"] + got["ok:b"] == a.count() + b.count() > 0
    assert set(got) <= {"ok:a", "ok:b", "none"}


def test_a_cooldown_set_in_one_process_is_honoured_by_another(servers: list[FaultServer],
                                                               redis_process: Any) -> None:
    a, b = servers
    a.set(status=500)
    # Process A knows only deployment a: its one call fails there and opens it (allowed_fails=0).
    job = {"redis_url": redis_process.url, "model_list": [entry(a)], "calls": 1,
           "options": {"allowed_fails": 0, "num_retries": 0, "cooldown_time": 30}}
    result, _ = finish(spawn(job))
    assert result["counts"] == {"error:InternalServerError": 1}
    assert a.count() == 1
    # This process (B) shares the Redis: its very next picks skip a.
    router = Router([entry(a), entry(b)], redis_url=redis_process.url, environ={}, seed=3,
                    policy=RetryPolicy(initial_backoff=0.001, max_backoff=0.002))
    assert router.health()["a"].state == "open"
    for _ in range(20):
        assert router.completion("chat", MESSAGES).choices[0].message.content == "b"
    assert a.count() == 1


def test_redis_killed_mid_run_and_restarted(servers: list[FaultServer], redis_process: Any) -> None:
    a, b = servers
    start = time.time() + 3.0  # both processes started and calling before the outage
    job = {"redis_url": redis_process.url, "model_list": [entry(a), entry(b)], "seconds": 3.0,
           "pause": 0.01, "options": {"timeout": 5}, "start_at": start}
    procs = [spawn(job) for _ in range(2)]
    time.sleep(max(start + 0.8 - time.time(), 0.0))
    redis_process.kill()
    time.sleep(1.0)
    redis_process.start()
    outputs = [finish(p) for p in procs]
    for result, err in outputs:
        assert set(result["counts"]) <= {"ok:a", "ok:b"}  # every call answered through the outage
        assert err.count("Redis unreachable") == 1  # one warning per outage
        assert err.count("Redis is back") == 1
    assert redis.Redis.from_url(redis_process.url).exists("routerlib:route:u:a", "routerlib:route:u:b") >= 1


def test_a_dead_process_holds_its_slots_only_until_its_lease_lapses(servers: list[FaultServer],
                                                                    redis_process: Any) -> None:
    a, _ = servers
    a.set(latency=3.0)
    job = {"redis_url": redis_process.url, "model_list": [entry(a, max_parallel_requests=1)], "calls": 1,
           "options": {"timeout": 1.0, "num_retries": 0}}
    proc = spawn(job)
    client = redis.Redis.from_url(redis_process.url)
    deadline = time.monotonic() + 30
    while client.zcard("routerlib:route:f:a") == 0:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.kill()  # dies holding the only slot
    proc.wait()
    a.set(latency=0.0)
    router = Router([entry(a, max_parallel_requests=1)], redis_url=redis_process.url, environ={}, num_retries=0)
    assert router.health()["a"].in_flight == 1
    while router.health()["a"].in_flight == 1:
        assert time.monotonic() < deadline, "the dead process's slot was never released"
        time.sleep(0.1)
    assert router.completion("chat", MESSAGES).choices[0].message.content == "a"


def test_two_round_trips_per_call(servers: list[FaultServer], redis_process: Any) -> None:
    router = Router([entry(s) for s in servers], redis_url=redis_process.url, environ={})
    client = redis.Redis.from_url(redis_process.url)
    router.completion("chat", MESSAGES)  # loads the scripts
    client.config_resetstat()
    for _ in range(10):
        router.completion("chat", MESSAGES)
    stats = client.info("commandstats")  # also counts the commands the scripts ran inside Redis
    assert stats["cmdstat_evalsha"]["calls"] == 20  # one script to pick, one to report, per call
    assert "cmdstat_eval" not in stats
    assert router._store.round_trips == 22  # type: ignore[attr-defined]  # 2 per call, the first included


def test_async_calls_through_redis_never_use_the_blocking_client(servers: list[FaultServer],
                                                                 redis_process: Any) -> None:
    import asyncio

    a, b = servers
    a.set(status=500)
    router = Router([entry(a), entry(b)], redis_url=redis_process.url, environ={}, allowed_fails=0,
                    policy=RetryPolicy(initial_backoff=0.001, max_backoff=0.002))

    async def run() -> tuple[list[Any], int, list[Any], dict[str, Any]]:
        burst = await asyncio.gather(*(router.acompletion("chat", MESSAGES) for _ in range(40)))
        await asyncio.sleep(0.2)  # the reports are tasks: let them land
        seen = a.count()
        later = [await router.acompletion("chat", MESSAGES) for _ in range(20)]
        return burst, seen, later, await router.ahealth()

    burst, seen, later, health = asyncio.run(run())
    assert {r.choices[0].message.content for r in burst + later} == {"b"}
    assert a.count() == seen  # a is open in Redis: no later call reached it
    assert health["a"].state == "open" and health["b"].state == "closed"  # read from Redis, asynchronously
    assert health["b"].calls_in_window >= 60
    store = router._store  # type: ignore[attr-defined]
    assert store._client is None  # no blocking Redis call was made on the event loop (ahealth included)
    assert redis.Redis.from_url(redis_process.url).hget("routerlib:route:h:a", "ou") not in (None, b"0")
