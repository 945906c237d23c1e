"""MemoryCache: LRU bounds in entries and bytes, ttl, thread safety."""

from __future__ import annotations

import threading

import pytest

from routerlib.cache import memory
from routerlib.cache.memory import ENTRY_OVERHEAD, MemoryCache


def test_get_set_delete_clear() -> None:
    cache = MemoryCache()
    assert cache.get("k") is None
    cache.set("k", b"v")
    assert cache.get("k") == b"v" and len(cache) == 1
    cache.set("k", b"w")
    assert cache.get("k") == b"w" and len(cache) == 1 and cache.size_bytes == 1 + 1 + ENTRY_OVERHEAD
    cache.delete("k")
    cache.delete("missing")
    assert cache.get("k") is None and cache.size_bytes == 0
    cache.set("a", b"1")
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_least_recently_used_entries_go_first() -> None:
    cache = MemoryCache(max_entries=3)
    for name in "abc":
        cache.set(name, b"x")
    assert cache.get("a") == b"x"  # a is now the most recent
    cache.set("d", b"x")
    assert cache.get("b") is None and all(cache.get(k) for k in "acd")


def test_the_byte_bound_holds_and_an_oversized_answer_is_not_stored() -> None:
    cache = MemoryCache(max_bytes=3 * (1 + 100 + ENTRY_OVERHEAD))
    for name in "abcd":
        cache.set(name, b"x" * 100)
    assert len(cache) == 3 and cache.get("a") is None and cache.size_bytes <= cache.max_bytes
    cache.set("big", b"x" * cache.max_bytes)
    assert cache.get("big") is None and len(cache) == 3


def test_ttl_per_cache_and_per_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(memory.time, "monotonic", lambda: now[0])
    cache = MemoryCache(ttl=10)
    cache.set("default", b"1")
    cache.set("short", b"2", ttl=1)
    now[0] += 2
    assert cache.get("short") is None and cache.get("default") == b"1"
    now[0] += 9
    assert cache.get("default") is None and len(cache) == 0 and cache.size_bytes == 0


async def test_async_operations() -> None:
    cache = MemoryCache()
    await cache.aset("k", b"v")
    assert await cache.aget("k") == b"v"
    await cache.adelete("k")
    assert await cache.aget("k") is None


def test_threads_never_break_the_bounds() -> None:
    cache = MemoryCache(max_entries=50, max_bytes=50 * 400)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(2000):
                key = f"k{(seed * 7 + i) % 120}"
                cache.set(key, b"v" * (i % 300))
                cache.get(f"k{i % 120}")
                if i % 17 == 0:
                    cache.delete(key)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) <= 50 and cache.size_bytes <= cache.max_bytes
    assert cache.size_bytes == sum(size for _, _, size in cache._entries.values())


@pytest.mark.parametrize("kwargs", [{"max_entries": 0}, {"max_bytes": -1}, {"max_entries": True}, {"ttl": 0},
                                    {"ttl": -1}, {"namespace": "a b"}])
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MemoryCache(**kwargs)  # type: ignore[arg-type]
