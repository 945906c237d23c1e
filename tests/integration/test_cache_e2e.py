"""The response cache end to end: real servers on 127.0.0.1 that count what they receive, a real
SQLite file, a real redis-server shared by two processes, and a Redis killed mid-run."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sqlite3
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from recording_server import RecordingServer
from redis_helpers import redis_server

import routerlib
from routerlib.cache import MemoryCache, RedisCache, SQLiteCache
from routerlib.spend import SQLiteLedger
from routerlib.testing import MockServer

KEY = "sk-e2e-SECRET-KEY-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "What is the capital of Norway?"}]
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}
REPLY = "Oslo is the capital of Norway."


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(reply=REPLY) as s:
        yield s


def ask(client: routerlib.Client, server_url: str, **params: Any) -> Any:
    return client.completion("openai/gpt-4o-mini", MESSAGES, api_base=server_url,
                             **{"api_key": KEY, **PRICES, **params})


def test_memory_cache_a_second_identical_call_sends_nothing(server: MockServer) -> None:
    client = routerlib.Client(cache=MemoryCache())
    first = ask(client, server.url)
    hit = ask(client, server.url)
    assert len(server.requests) == 1
    assert hit.cache_hit and hit.choices[0].message.content == REPLY
    assert hit.cost.total == 0 and hit.cost.saved == first.cost.total > 0
    ask(client, server.url, max_tokens=50)  # a changed parameter
    assert len(server.requests) == 2
    ask(client, server.url, cache={"no-cache": True})
    ask(client, server.url, temperature=0.9, cache={"no-store": True})
    ask(client, server.url, temperature=0.9)
    assert len(server.requests) == 5


def test_sqlite_cache_ttl_s_maxage_and_the_ledger(server: MockServer, tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    ledger = SQLiteLedger(tmp_path / "spend.db")
    writer = routerlib.Client(cache=SQLiteCache(path), ledger=ledger)
    first = ask(writer, server.url, metadata={"user": "alice"})
    reader = routerlib.Client(cache=SQLiteCache(path), ledger=ledger)  # another client on the same file
    hit = ask(reader, server.url, metadata={"user": "alice"})
    assert hit.cache_hit and len(server.requests) == 1
    records = sorted(ledger.records(), key=lambda r: r.cache_hit)
    assert [(r.cache_hit, r.cost, r.saved, r.user) for r in records] == [
        (False, first.cost.total, None, "alice"), (True, Decimal(0), first.cost.total, "alice")]
    assert ledger.total(user="alice") == first.cost.total
    ask(writer, server.url, seed=1, cache={"ttl": 0.3})
    time.sleep(0.2)
    strict = ask(reader, server.url, seed=1, cache={"s-maxage": 0.05, "ttl": 0.3})
    assert not strict.cache_hit  # too old for this call: sent, and its answer stored for 0.3 s
    assert ask(reader, server.url, seed=1).cache_hit
    time.sleep(0.4)  # past the fresh entry's ttl
    assert not ask(reader, server.url, seed=1).cache_hit
    assert len(server.requests) == 4


def test_neither_the_key_nor_the_stored_value_holds_the_api_key(server: MockServer, tmp_path: Path,
                                                                redis_url: str) -> None:
    path = tmp_path / "cache.db"
    prefix = f"t{uuid.uuid4().hex}:"
    for cache in (SQLiteCache(str(path)), RedisCache(redis_url, prefix=prefix)):
        client = routerlib.Client(cache=cache)
        ask(client, server.url, headers={"Authorization": f"Bearer {KEY}", "X-Trace": "1"})
        assert ask(client, server.url, api_key="another-key", headers={"X-Trace": "1"}).cache_hit
    rows = sqlite3.connect(path).execute("SELECT key, value FROM routerlib_cache_v1").fetchall()
    assert rows and all(KEY not in k and KEY.encode() not in bytes(v) for k, v in rows)
    assert KEY.encode() not in path.read_bytes()
    import redis

    r = redis.Redis.from_url(redis_url)
    names = r.keys(prefix + "*")
    assert names and all(KEY.encode() not in n and KEY.encode() not in (r.get(n) or b"") for n in names)


def test_a_stream_hit_equals_the_original_text(server: MockServer) -> None:
    client = routerlib.Client(cache=MemoryCache())
    original = ask(client, server.url, stream=True, stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in original if c.choices)
    replay = ask(client, server.url, stream=True, stream_options={"include_usage": True})
    chunks = list(replay)
    assert len(server.requests) == 1 and text == REPLY
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == original.usage.total_tokens
    assert replay.response is not None and replay.response.cache_hit and replay.cost.saved == original.cost.total


def test_a_stream_cut_off_by_the_server_is_not_stored() -> None:
    events = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"content": "Oslo is"}, "finish_reason": None}]}]
    import json

    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)  # no finish, no [DONE]
    server = RecordingServer(lambda path, req: (200, "text/event-stream", body))
    cache = MemoryCache()
    try:
        # Two clients on one cache: a connection left by an interrupted stream is not reused.
        for client in (routerlib.Client(cache=cache), routerlib.Client(cache=cache)):
            with pytest.raises(routerlib.StreamInterruptedError):
                list(ask(client, server.url, stream=True, num_retries=0))
        assert len(server.requests) == 2 and len(cache) == 0
    finally:
        server.close()


def _slow_server(seconds: float) -> RecordingServer:
    def respond(path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        time.sleep(seconds)
        import json

        return 200, "application/json", json.dumps({
            "id": "c", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": REPLY}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}}).encode()

    return RecordingServer(respond)


def test_twenty_concurrent_identical_async_calls_send_one_request() -> None:
    server = _slow_server(0.3)
    try:
        client = routerlib.Client(cache=MemoryCache())

        async def main() -> list[Any]:
            return await asyncio.gather(*(client.acompletion(
                "openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key=KEY, **PRICES) for _ in range(20)))

        responses = asyncio.run(main())
        assert len(server.requests) == 1
        assert sum(r.cache_hit for r in responses) == 19
        assert all(r.choices[0].message.content == REPLY for r in responses)
    finally:
        server.close()


def test_cancelling_a_batch_of_identical_async_calls_sends_nothing_more() -> None:
    """Cancel ten identical in-flight calls (as asyncio.timeout, a TaskGroup or gather's cancellation do).
    The leader's cancellation releases its followers in the same loop turn as theirs; before the fix
    ``asyncio.wait_for`` (Python <= 3.11) swallowed their CancelledError, and each follower went on to
    send its own billed request: 10 upstream calls for a cancelled batch instead of 1."""
    server = _slow_server(1.0)
    try:
        client = routerlib.Client(cache=MemoryCache())

        async def main() -> list[Any]:
            tasks = [asyncio.ensure_future(client.acompletion(
                "openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key=KEY, num_retries=0, **PRICES))
                for _ in range(10)]
            deadline = time.monotonic() + 10
            while not server.requests and time.monotonic() < deadline:  # the leader has sent
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(1.2)  # past the slow answer: any follower that went on has sent by now
            return results

        results = asyncio.run(main())
        assert all(isinstance(r, asyncio.CancelledError) for r in results), [type(r).__name__ for r in results]
        assert len(server.requests) == 1
    finally:
        server.close()


def test_concurrent_identical_sync_calls_in_threads_send_one_request() -> None:
    from concurrent.futures import ThreadPoolExecutor

    server = _slow_server(0.3)
    try:
        client = routerlib.Client(cache=SQLiteCache(":memory:"))
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: ask(client, server.url), range(8)))
        assert len(server.requests) == 1 and sum(r.cache_hit for r in responses) == 7
    finally:
        server.close()


def _redis_worker(redis_url: str, prefix: str, base: str, start_at: float, out: Any) -> None:
    client = routerlib.Client(cache=RedisCache(redis_url, prefix=prefix))
    time.sleep(max(0.0, start_at - time.time()))
    r = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=base, api_key=KEY, **PRICES)
    out.put((r.cache_hit, r.choices[0].message.content, str(r.cost.saved)))


def _run_workers(redis_url: str, prefix: str, base: str, count: int, start_at: float) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_redis_worker, args=(redis_url, prefix, base, start_at, out))
               for _ in range(count)]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    return results


def test_two_processes_share_one_redis(redis_url: str) -> None:
    server = _slow_server(0.0)
    prefix = f"t{uuid.uuid4().hex}:"
    try:
        first = _run_workers(redis_url, prefix, server.url, 1, 0.0)
        second = _run_workers(redis_url, prefix, server.url, 1, 0.0)
        assert len(server.requests) == 1
        assert first[0][0] is False and second[0][0] is True and second[0][1] == REPLY
        assert Decimal(second[0][2]) > 0
    finally:
        server.close()


def test_two_processes_asking_at_once_make_one_upstream_call(redis_url: str) -> None:
    server = _slow_server(1.0)
    prefix = f"t{uuid.uuid4().hex}:"
    try:
        results = _run_workers(redis_url, prefix, server.url, 2, time.time() + 3.0)
        assert len(server.requests) == 1
        assert sorted(hit for hit, _, _ in results) == [False, True]
    finally:
        server.close()


def test_redis_killed_mid_run_calls_go_on(server: MockServer, caplog: pytest.LogCaptureFixture) -> None:
    with redis_server() as (url, proc):
        client = routerlib.Client(cache=RedisCache(url, prefix=f"t{uuid.uuid4().hex}:", timeout=0.2))
        ask(client, server.url)
        assert ask(client, server.url).cache_hit
        proc.kill()
        proc.wait()
        with caplog.at_level(logging.WARNING, logger="routerlib"):
            answers = [ask(client, server.url) for _ in range(5)]

            async def more() -> list[Any]:
                return [await client.acompletion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key=KEY,
                                                 **PRICES) for _ in range(3)]

            answers += asyncio.run(more())
    assert all(a.choices[0].message.content == REPLY and not a.cache_hit for a in answers)
    assert len(server.requests) == 1 + 8
    warnings = [r for r in caplog.records if "RedisCache is unavailable" in r.getMessage()]
    assert len(warnings) == 1


# -- followers through a Router hold no deployment slot while they wait

def _router_on(server: Any, limit: int) -> routerlib.Router:
    from fault_server import entry

    return routerlib.Router([entry(server, max_parallel_requests=limit)], environ={}, num_retries=0,
                            cache=MemoryCache())


def _most_at_once(journal: list[dict[str, Any]], seconds: float) -> int:
    """Requests the server was answering at once (each took ``seconds``)."""
    starts = sorted(e["time"] for e in journal)
    return max((sum(1 for t in starts if s <= t < s + seconds) for s in starts), default=0)


def test_identical_routed_calls_past_max_parallel_requests_share_one_answer() -> None:
    from fault_server import fault_servers

    with fault_servers("d", latency=0.3) as (d,):
        router = _router_on(d, limit=2)

        async def batch() -> list[Any]:
            return await asyncio.gather(*(router.acompletion("chat", [{"role": "user", "content": "same"}])
                                          for _ in range(10)))

        answers = asyncio.run(batch())
        assert [a.cache_hit for a in answers].count(False) == 1 and d.count() == 1
        assert router.health()["d"].in_flight == 0

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(10) as pool:
            sync = list(pool.map(lambda i: router.completion("chat", [{"role": "user", "content": "again"}]),
                                 range(10)))
        assert [a.cache_hit for a in sync].count(False) == 1 and d.count() == 2
        assert router.health()["d"].in_flight == 0


def test_followers_of_a_failed_call_pick_again_within_max_parallel_requests() -> None:
    from fault_server import fault_servers

    with fault_servers("d", latency=0.3, status=500) as (d,):
        router = _router_on(d, limit=2)

        async def batch() -> list[Any]:
            return await asyncio.gather(*(router.acompletion("chat", [{"role": "user", "content": "same"}])
                                          for _ in range(10)), return_exceptions=True)

        results = asyncio.run(batch())
        assert all(isinstance(r, routerlib.APIError) for r in results)
        assert _most_at_once(d.journal, 0.3) <= 2  # the limit holds when the followers send themselves
        assert router.health()["d"].in_flight == 0


# -- a Router group is one model to the cache

def test_an_answer_from_any_deployment_of_a_group_answers_the_group(tmp_path: Path) -> None:
    from fault_server import entry, fault_servers

    path = str(tmp_path / "cache.db")
    with fault_servers("a", "b", "c") as servers:
        router = routerlib.Router([entry(s) for s in servers], environ={}, cache=SQLiteCache(path))
        answers = [router.completion("chat", [{"role": "user", "content": "same"}]) for _ in range(12)]
        assert sum(s.count() for s in servers) == 1  # three deployments, one upstream request
        assert [a.cache_hit for a in answers].count(False) == 1
        streamed = router.completion("chat", [{"role": "user", "content": "same"}], stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) \
            == answers[0].choices[0].message.content
        assert sum(s.count() for s in servers) == 1

        # The same group name served by other servers (another tenant's fine-tune of the same
        # name), or by another model, does not return these servers' answers.
        with fault_servers("x") as (x,):
            elsewhere = routerlib.Router([entry(x)], environ={}, cache=SQLiteCache(path))
            assert not elsewhere.completion("chat", [{"role": "user", "content": "same"}]).cache_hit
            assert x.count() == 1
        other = [entry(s) for s in servers]
        other[0]["litellm_params"]["model"] = "openai/gpt-4o"
        again = routerlib.Router(other, environ={}, cache=SQLiteCache(path))
        assert not again.completion("chat", [{"role": "user", "content": "same"}]).cache_hit
        assert sum(s.count() for s in servers) == 2


def test_a_call_whose_tags_exclude_a_deployment_never_gets_its_answer() -> None:
    from fault_server import entry, fault_servers

    with fault_servers("us", "eu") as (us, eu):
        router = routerlib.Router([entry(us, tags=["us"]), entry(eu, tags=["eu"])], environ={}, cache=MemoryCache())
        ask = lambda tag: router.completion("chat", [{"role": "user", "content": "same"}],  # noqa: E731
                                            metadata={"tags": [tag]})
        assert not ask("us").cache_hit and not ask("eu").cache_hit
        assert ask("eu").cache_hit and ask("us").cache_hit
        assert us.count() == 1 and eu.count() == 1
