"""RedisCache against a real redis-server: entries, ttl, the lookup-or-lock script, bounds, outages."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from loopback_server import free_port

from routerlib.cache.redis import RedisCache


@pytest.fixture
def cache(redis_url: str) -> Iterator[RedisCache]:
    c = RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex}:")
    yield c
    c.clear()
    c.close()


def test_set_get_delete_and_key_layout(cache: RedisCache) -> None:
    cache.set("k", b"value")
    assert cache.get("k") == b"value"
    assert cache._redis.get(cache.prefix + "k") == b"value"
    assert cache._redis.pttl(cache.prefix + "k") == -1  # no ttl: kept until deleted
    cache.delete("k")
    assert cache.get("k") is None


def test_ttl_per_cache_and_per_entry(redis_url: str) -> None:
    cache = RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex}:", ttl=100)
    cache.set("a", b"1")
    cache.set("b", b"2", ttl=5)
    assert 95_000 < cache._redis.pttl(cache.prefix + "a") <= 100_000
    assert 0 < cache._redis.pttl(cache.prefix + "b") <= 5_000
    cache.clear()


def test_lookup_takes_the_lock_on_a_miss_and_only_its_holder_releases_it(cache: RedisCache) -> None:
    assert cache.get_or_lock("k", "token-a") == (None, "locked")
    assert cache.get_or_lock("k", "token-b") == (None, "held")
    assert cache.get_or_lock("k", None) == (None, "no_lock")
    lock = cache.prefix + "lock:k"
    assert 0 < cache._redis.pttl(lock) <= 30_000
    cache.set_and_unlock("k", None, None, "k", "token-b")  # not the holder: the lock stays
    assert cache._redis.get(lock) == b"token-a"
    cache.set_and_unlock("k2", b"answer", 60, "k", "token-a")  # stored under the answering key, lock freed
    assert cache._redis.get(lock) is None and cache.get("k2") == b"answer"
    assert cache.get_or_lock("k2", "token-c") == (b"answer", "no_lock")


async def test_async_twins(cache: RedisCache) -> None:
    await cache.aset("k", b"v", ttl=10)
    assert await cache.aget("k") == b"v"
    assert await cache.aget_or_lock("k", "t") == (b"v", "no_lock")
    assert await cache.aget_or_lock("m", "t") == (None, "locked")
    await cache.aset_and_unlock("m", b"w", None, "m", "t")
    assert await cache.aget("m") == b"w" and cache._redis.get(cache.prefix + "lock:m") is None
    await cache.adelete("m")
    assert await cache.aget("m") is None
    await cache.aclose()


def test_oversized_and_wrong_type_entries_are_deleted_never_returned(redis_url: str) -> None:
    cache = RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex}:", max_value_bytes=10)
    cache._redis.set(cache.prefix + "big", b"x" * 11)
    assert cache.get("big") is None and cache._redis.exists(cache.prefix + "big") == 0
    cache._redis.rpush(cache.prefix + "list", b"x")
    assert cache.get_or_lock("list", "t") == (None, "locked") and cache._redis.exists(cache.prefix + "list") == 0
    cache.set("big2", b"x" * 11)
    assert cache._redis.exists(cache.prefix + "big2") == 0
    cache.clear()


def test_clear_removes_only_this_prefix(redis_url: str) -> None:
    a = RedisCache(redis_url, prefix=f"a{uuid.uuid4().hex}*[x]:")
    b = RedisCache(redis_url, prefix=f"b{uuid.uuid4().hex}:")
    a.set("k", b"1")
    b.set("k", b"2")
    a.clear()
    assert a.get("k") is None and b.get("k") == b"2"
    b.clear()


def test_an_unreachable_redis_is_skipped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    cache = RedisCache(url, timeout=0.2, retry_interval=60)
    tried = 0
    real = cache._get_or_lock

    def counting(*args: object) -> object:
        nonlocal tried
        tried += 1
        return real(*args)

    cache._get_or_lock = counting
    with caplog.at_level(logging.WARNING, logger="routerlib"):
        assert cache.get("k") is None
        assert cache.get_or_lock("k", "t") == (None, "no_lock")
        cache.set("k", b"v")
        cache.set_and_unlock("k", b"v", None, "k", "t")
    assert tried == 1  # the first failure opens the outage; the rest are not even tried
    messages = [r.getMessage() for r in caplog.records if "RedisCache is unavailable" in r.getMessage()]
    assert len(messages) == 1 and "ConnectionError" in messages[0]
    assert "hunter2" not in caplog.text


async def test_an_unreachable_redis_is_skipped_on_async_too() -> None:
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    assert await cache.aget("k") is None
    assert await cache.aget_or_lock("k", "t") == (None, "no_lock")
    await cache.aset("k", b"v")
    assert not cache.available


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"timeout": 0}, {"lock_wait": -1}, {"lock_ttl": 0}, {"ttl": 0}):
        with pytest.raises(ValueError):
            RedisCache("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]


async def test_a_burst_of_concurrent_lookups_queues_and_is_never_an_outage(redis_url: str,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    """redis-py's default pool fails past 100 connections: 300 lookups at once must not switch the cache off."""
    import asyncio

    cache = RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex}:", max_connections=8)
    await cache.aset("k", b"v")
    with caplog.at_level(logging.WARNING, logger="routerlib"):
        results = await asyncio.gather(*(cache.aget_or_lock(f"k{i % 3}" if i % 2 else "k", None) for i in range(300)))
    assert cache.available and "unavailable" not in caplog.text
    assert sum(value == b"v" for value, _ in results) == 150
    await cache.aclose()


def test_a_burst_of_threads_queues_and_is_never_an_outage(redis_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = RedisCache(redis_url, prefix=f"t{uuid.uuid4().hex}:", max_connections=4)
    cache.set("k", b"v")
    with ThreadPoolExecutor(32) as pool:
        values = list(pool.map(lambda _: cache.get("k"), range(400)))
    assert values == [b"v"] * 400 and cache.available
