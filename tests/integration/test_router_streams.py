"""Streams through a Router: re-picked before the first chunk, to a fallback group too; sync == async."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers

import routerlib
from routerlib import RetryPolicy, Router

MESSAGES = [{"role": "user", "content": "hi"}]
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0.0)


@pytest.fixture
def servers() -> Iterator[list[FaultServer]]:
    with fault_servers("a", "b", "c") as three:
        yield three


def text(stream: Any) -> str:
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def atext(stream: Any) -> str:
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


def test_a_stream_broken_before_its_first_chunk_moves_to_another_deployment(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(break_stream=True)
    r = Router([entry(a), entry(b)], environ={}, policy=FAST, seed=1)
    for _ in range(10):
        stream = r.completion("chat", MESSAGES, stream=True)
        assert text(stream).startswith("b ")
    assert a.count() >= 1
    outcomes = [(x.deployment_id, x.outcome, x.error) for x in stream.response.attempts]  # type: ignore[union-attr]
    assert outcomes[-1] == ("b", "ok", None)


def test_a_stream_reaches_the_fallback_group(servers: list[FaultServer]) -> None:
    # LiteLLM users report streams never reaching the fallback (#40404, #28216).
    a, b, c = servers
    a.set(break_stream=True)
    b.set(status=503)
    r = Router([entry(a), entry(b), entry(c, group="backup")], environ={}, policy=FAST, num_retries=0,
               fallbacks=[{"chat": ["backup"]}], seed=1)
    stream = r.completion("chat", MESSAGES, stream=True)
    assert text(stream).startswith("c ")
    attempts = stream.response.attempts  # type: ignore[union-attr]
    assert [x.deployment_id for x in attempts][-1] == "c"
    assert {x.deployment_id for x in attempts[:-1]} == {"a", "b"}


def test_after_the_first_chunk_a_broken_stream_raises_as_today(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(break_after=2)
    b.set(break_after=2)
    r = Router([entry(a), entry(b)], environ={}, policy=FAST)
    stream = r.completion("chat", MESSAGES, stream=True)
    with pytest.raises(routerlib.StreamInterruptedError):
        text(stream)
    assert a.count() + b.count() == 1  # no second request once content reached the caller


def test_a_stream_holds_its_slot_until_it_ends(servers: list[FaultServer]) -> None:
    a, _, _ = servers
    r = Router([entry(a, max_parallel_requests=1)], environ={})
    stream = r.completion("chat", MESSAGES, stream=True)
    assert r.health()["a"].in_flight == 1
    with pytest.raises(routerlib.NoDeploymentAvailableError, match="max_parallel_requests 1 reached"):
        r.completion("chat", MESSAGES)
    text(stream)
    assert r.health()["a"].in_flight == 0
    assert r.completion("chat", MESSAGES).choices[0].message.content == "a"


def scenario(servers: list[FaultServer]) -> Router:
    a, b, c = servers
    a.set(status=500)
    b.set(status=429, retry_after=60)
    return Router([entry(a), entry(b), entry(c)], environ={}, policy=FAST, allowed_fails=0, seed=42,
                  routing_strategy="least-busy")


def trace(response: Any) -> list[tuple[Any, ...]]:
    return [(x.deployment_id, x.outcome, x.status_code, x.strategy) for x in response.attempts]


def test_sync_and_async_route_the_same_way(servers: list[FaultServer]) -> None:
    import asyncio

    sync_router = scenario(servers)
    sync = [trace(sync_router.completion("chat", MESSAGES)) for _ in range(5)]
    sync_stream = sync_router.completion("chat", MESSAGES, stream=True)
    sync_text = text(sync_stream)
    for s in servers:
        s.reset()

    async def run() -> tuple[list[Any], str, Any]:
        r = scenario(servers)
        got = [trace(await r.acompletion("chat", MESSAGES)) for _ in range(5)]
        stream = await r.acompletion("chat", MESSAGES, stream=True)
        return got, await atext(stream), r

    async_trace, async_text, async_router = asyncio.run(run())
    assert async_trace == sync
    assert async_text == sync_text
    assert {k: v.state for k, v in async_router.health().items()} == {
        k: v.state for k, v in sync_router.health().items()}
