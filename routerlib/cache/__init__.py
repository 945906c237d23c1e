"""The response cache: identical requests answered once, in memory, SQLite or Redis.

    from routerlib import Client
    from routerlib.cache import MemoryCache, SQLiteCache, RedisCache

    client = Client(cache=MemoryCache(max_entries=10_000, ttl=3600))
    client.completion("openai/gpt-4o-mini", messages)                      # sent, stored
    r = client.completion("openai/gpt-4o-mini", messages)                  # answered from the cache
    r.cache_hit, r.cost.total, r.cost.saved                                # True, 0, what it cost
    client.completion(..., cache={"no-cache": True})                       # LiteLLM's per-call controls

What the key holds (and what it does not), per-user scoping, single flight and what happens
when a cache is down: docs/cache.md, and the docstrings of ``keys``, ``single_flight`` and
``base``. The backends load on first use, so ``import routerlib`` pays nothing for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .control import CacheControl

if TYPE_CHECKING:
    from .base import CacheBackend
    from .memory import MemoryCache
    from .redis import RedisCache
    from .sqlite import SQLiteCache

__all__ = ["CacheBackend", "CacheControl", "MemoryCache", "RedisCache", "SQLiteCache"]

_LAZY = {
    "CacheBackend": "routerlib.cache.base",
    "MemoryCache": "routerlib.cache.memory",
    "RedisCache": "routerlib.cache.redis",
    "SQLiteCache": "routerlib.cache.sqlite",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'routerlib.cache' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
