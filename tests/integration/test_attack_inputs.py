"""Attack pass: bad values at the Router's and the caches' constructors.

Each value below is accepted today and fails later (at every call, untyped, or silently), or
escapes as a non-routerlib exception. What should happen: a ``RouterConfigError`` /
``ConfigurationError`` at construction naming the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers

from routerlib import Router, RouterlibError
from routerlib.cache import MemoryCache, RedisCache, SQLiteCache

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with fault_servers("a") as (a,):
        yield a


@pytest.mark.xfail(strict=True, reason="litellm_params.timeout is not checked for finiteness "
                   "(routing/config.py:_number): nan/inf/1e12 reach socket.settimeout at call time")
@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 1e12])
def test_a_deployment_timeout_that_is_not_finite_is_refused_not_raised_untyped_at_call(
        server: FaultServer, timeout: float) -> None:
    try:
        router = Router([entry(server, timeout=timeout)], environ={})
    except RouterlibError:
        return
    with pytest.raises(RouterlibError):  # today: ValueError / OverflowError from socket.settimeout
        router.completion("chat", MESSAGES)


@pytest.mark.xfail(strict=True, reason="Router(redis_url=...) is not parsed at construction; every call then "
                   "raises redis-py's untyped ValueError (routing does not even fall back to local state)")
@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "localhost:6379", 6379])
def test_a_bad_redis_url_is_refused_at_construction(server: FaultServer, url: Any) -> None:
    try:
        router = Router([entry(server)], environ={}, redis_url=url)
    except RouterlibError:
        return
    with pytest.raises(RouterlibError):  # today: ValueError / AttributeError on every call
        router.completion("chat", MESSAGES)


ROUTER_VALUES: list[tuple[str, Callable[[FaultServer], dict[str, Any]], dict[str, Any]]] = [
    ("weight nan (gets no traffic, silently)", lambda s: entry(s, weight=float("nan")), {}),
    ("weight inf (gets no traffic, silently)", lambda s: entry(s, weight=float("inf")), {}),
    ("quality nan", lambda s: entry(s, model_info={"quality": float("nan")}), {}),
    ("headers as a list (TypeError)", lambda s: entry(s, headers=[("x-a", "b")]), {}),
    ("id with a line break (logs, Redis keys)", lambda s: entry(s, model_info={"id": "a\nb"}), {}),
    ("id with Redis Cluster hash-tag braces", lambda s: entry(s, model_info={"id": "{a}"}), {}),
    ("Router deadline nan (fails at every call)", lambda s: entry(s), {"deadline": float("nan")}),
    ("Router deadline inf (fails at every call)", lambda s: entry(s), {"deadline": float("inf")}),
]


@pytest.mark.xfail(strict=True, reason="accepted by Router(...) (routing/config.py:_number has no isfinite; "
                   "ids are not checked; headers not type-checked; Router.__init__ deadline check lets nan/inf by)")
@pytest.mark.parametrize(("what", "make", "options"), ROUTER_VALUES, ids=[v[0] for v in ROUTER_VALUES])
def test_router_refuses_at_construction(server: FaultServer, what: str, make: Callable[[FaultServer], dict[str, Any]],
                                        options: dict[str, Any]) -> None:
    with pytest.raises(RouterlibError):
        Router([make(server)], environ={}, **options)


CACHE_VALUES: list[tuple[str, Callable[[Path], Any]]] = [
    ("SQLiteCache in a missing directory (sqlite3.OperationalError, path not named)",
     lambda d: SQLiteCache(str(d / "missing" / "cache.db"))),
    ("SQLiteCache busy_timeout nan (ValueError from int())",
     lambda d: SQLiteCache(str(d / "c.db"), busy_timeout=float("nan"))),
    ("SQLiteCache max_value_bytes -1 (accepted: never stores)",
     lambda d: SQLiteCache(str(d / "c.db"), max_value_bytes=-1)),
    ("RedisCache http:// URL (redis-py ValueError)", lambda d: RedisCache("http://127.0.0.1:6379/0")),
    ("RedisCache timeout inf (accepted: unbounded operations)",
     lambda d: RedisCache("redis://127.0.0.1:1", timeout=float("inf"))),
    ("RedisCache timeout nan (accepted: every operation fails)",
     lambda d: RedisCache("redis://127.0.0.1:1", timeout=float("nan"))),
    ("RedisCache max_connections 0 (accepted)", lambda d: RedisCache("redis://127.0.0.1:1", max_connections=0)),
    ("RedisCache max_value_bytes -1 (accepted: never stores)",
     lambda d: RedisCache("redis://127.0.0.1:1", max_value_bytes=-1)),
    ("MemoryCache namespace with a space (plain ValueError)", lambda d: MemoryCache(namespace="a b")),
]


@pytest.mark.xfail(strict=True, reason="cache constructors accept these or raise non-routerlib exceptions "
                   "(cache/sqlite.py, cache/redis.py, cache/base.py __init__)")
@pytest.mark.parametrize(("what", "make"), CACHE_VALUES, ids=[v[0] for v in CACHE_VALUES])
def test_cache_constructors_refuse_with_a_routerlib_error(tmp_path: Path, what: str,
                                                          make: Callable[[Path], Any]) -> None:
    with pytest.raises(RouterlibError):
        make(tmp_path)
