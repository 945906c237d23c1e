"""Attack pass: a forged or corrupt entry in a shared cache (a SQLite file another account can write, a
Redis another tenant reaches) must be a miss, never a failed call.

Before the fix, a head whose ``source`` was a list raised ``TypeError: unhashable type: 'list'`` and a head
of 100,000 "[" raised ``RecursionError``, out of ``completion()`` itself; the entry was never deleted, so
every later identical call failed too. Now every failure decoding an entry is an invalid entry: the call
is sent, and its answer replaces the forged entry (memory, SQLite and Redis; sync and async).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import routerlib
from routerlib.cache import MemoryCache, RedisCache, SQLiteCache
from routerlib.cache.base import CacheBackend
from routerlib.testing import MockServer

KEY = "sk-forged-entry-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]
REPLY = "Hello, a fresh answer."


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(reply=REPLY) as s:
        yield s


def _forgeries(stored: bytes) -> dict[str, bytes]:
    head, _, body = stored.partition(b"\n")
    fields = json.loads(head)

    def with_field(index: int, value: Any) -> bytes:
        changed = list(fields)
        changed[index] = value
        return json.dumps(changed).encode() + b"\n" + body

    return {"source=[]": with_field(9, []), "kind=[]": with_field(3, []), "cost={}": with_field(8, {"x": 1}),
            "cost overflows": with_field(8, "1e999999999"), "deep head": b"[" * 100_000 + b"\n" + body,
            "deep body": head + b"\n" + b'{"a":' * 100_000,
            "routerlib field": head + b"\n" + body[:-1] + b',"ledger_error":"forged"}'}


def _check(client: routerlib.Client, cache: CacheBackend, server: MockServer, run: Callable[[], Any]) -> None:
    first = run()
    assert not first.cache_hit
    (key,) = _keys(cache)
    stored = cache.get(key)
    assert stored is not None
    for name, forged in _forgeries(stored).items():
        cache.set(key, forged)
        sent = len(server.requests)
        answer = run()  # the forged entry is a miss: the call is sent and succeeds
        assert not answer.cache_hit and answer.choices[0].message.content == REPLY, name
        assert answer.ledger_error is None, name
        assert len(server.requests) == sent + 1, name
        assert cache.get(key) != forged, name  # deleted, then replaced by the fresh answer
        hit = run()
        assert hit.cache_hit and hit.choices[0].message.content == REPLY, name


def _keys(cache: CacheBackend) -> list[str]:
    if isinstance(cache, MemoryCache):
        return list(cache._entries)
    if isinstance(cache, SQLiteCache):
        return [k for (k,) in cache._conn().execute("SELECT key FROM routerlib_cache_v1")]
    assert isinstance(cache, RedisCache)
    return [name.decode()[len(cache.prefix):] for name in cache._redis.keys(cache.prefix + "*")
            if b":lock:" not in name]


def _backends(kind: str, tmp_path: Path, redis_url: str) -> CacheBackend:
    if kind == "memory":
        return MemoryCache()
    if kind == "sqlite":
        return SQLiteCache(tmp_path / "cache.db")
    return RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex}:")


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_a_forged_entry_is_a_miss_and_is_replaced_sync(kind: str, server: MockServer, tmp_path: Path,
                                                       redis_url: str) -> None:
    cache = _backends(kind, tmp_path, redis_url)
    client = routerlib.Client(cache=cache)
    _check(client, cache, server, lambda: client.completion("openai/gpt-4o-mini", MESSAGES, api_base=server.url,
                                                            api_key=KEY))


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_a_forged_entry_is_a_miss_and_is_replaced_async(kind: str, server: MockServer, tmp_path: Path,
                                                        redis_url: str) -> None:
    cache = _backends(kind, tmp_path, redis_url)
    client = routerlib.Client(cache=cache)

    def run() -> Any:
        return asyncio.run(client.acompletion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key=KEY))

    _check(client, cache, server, run)
