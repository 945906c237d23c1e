"""No call leaves a reference cycle behind: what it made is freed when the caller lets go of it.

A cycle through a call (a target pointing back at the source that holds it, a budget holding
its call, an error whose traceback holds a frame that holds the error) keeps the whole call
(request, messages, attempts) alive until the garbage collector's next full pass: under load
that is memory that climbs and collection pauses. Each case runs a few calls against a real
loopback server with the collector saving everything it finds unreachable, and checks that
none of it is routerlib's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import types
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers

import routerlib
from routerlib import RetryPolicy, Router
from routerlib.cache import MemoryCache
from routerlib.spend import Budget, MemoryLedger

MESSAGES = [{"role": "user", "content": "hi"}]
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0.0)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FaultServer, FaultServer]]:
    with fault_servers("ok", "bad") as (ok, bad):
        bad.set(status=429)
        yield ok, bad


def _routerlib_garbage(run: Callable[[int], None]) -> list[str]:
    """Run ``run(i)`` three times after a warm-up; the routerlib objects only a cycle kept."""
    run(0)
    gc.collect()
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for i in range(1, 4):
            run(i)
        gc.collect()
        found = [_name(o) for o in gc.garbage if _ours(o)]
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
    return found


def _ours(o: Any) -> bool:
    """Made by a call: routerlib's objects and frames, not the test servers of ``routerlib.testing``
    (another test's server, shut down while these calls run, is not this call's garbage)."""
    if isinstance(o, types.FrameType):
        name = o.f_code.co_filename
        return "/routerlib/" in name and "/routerlib/testing" not in name
    module = type(o).__module__
    return module.startswith("routerlib") and not module.startswith("routerlib.testing")


def _name(o: Any) -> str:
    return f"frame {o.f_code.co_name}" if isinstance(o, types.FrameType) else type(o).__qualname__


def _cases(ok: FaultServer, bad: FaultServer) -> dict[str, Callable[[routerlib.Client], Any]]:
    direct = {"model": "openai/gpt-4o-mini", "api_key": "sk-test-0123456789", "messages": MESSAGES}
    fallback = [{"model": "openai/gpt-4o", "api_base": ok.url, "api_key": "sk-test-0123456789"}]
    return {
        "a plain call": lambda c: c.completion(api_base=ok.url, **direct),
        "a stream": lambda c: list(c.completion(api_base=ok.url, stream=True, **direct)),
        "a retry then a fallback": lambda c: c.completion(api_base=bad.url, num_retries=1, fallbacks=fallback,
                                                           **direct),
        "a stream that falls back": lambda c: list(c.completion(api_base=bad.url, num_retries=0, stream=True,
                                                                fallbacks=fallback, **direct)),
        "an error raised to the caller": lambda c: _swallow(lambda: c.completion(api_base=bad.url, num_retries=1,
                                                                                  **direct)),
    }


def _swallow(call: Callable[[], Any]) -> None:
    with pytest.raises(routerlib.RateLimitError):
        call()


CLIENTS: dict[str, Callable[[], routerlib.Client]] = {
    "Client": lambda: routerlib.Client(policy=FAST),
    "a budgeted Client": lambda: routerlib.Client(policy=FAST, ledger=MemoryLedger(),
                                                  budgets=[Budget(scope="global", limit=100)]),
    "a cached Client": lambda: routerlib.Client(policy=FAST, cache=MemoryCache()),
}


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("case", ["a plain call", "a stream", "a retry then a fallback", "a stream that falls back",
                                  "an error raised to the caller"])
def test_a_call_leaves_no_cycle(servers: tuple[FaultServer, FaultServer], client: str, case: str) -> None:
    c = CLIENTS[client]()
    run = _cases(*servers)[case]
    messages = iter(range(100))

    def call(i: int) -> None:
        MESSAGES[0]["content"] = f"hi {next(messages)}"  # a cache miss every time
        run(c)

    assert _routerlib_garbage(call) == []


def test_a_router_call_leaves_no_cycle(servers: tuple[FaultServer, FaultServer]) -> None:
    ok, bad = servers
    r = Router([entry(bad), entry(ok)], environ={}, policy=FAST, num_retries=1, ledger=MemoryLedger(),
               budgets=[Budget(scope="global", limit=100)])
    assert _routerlib_garbage(lambda i: r.completion("chat", MESSAGES)) == []
    assert _routerlib_garbage(lambda i: list(r.completion("chat", MESSAGES, stream=True))) == []


def test_an_async_call_leaves_no_cycle(servers: tuple[FaultServer, FaultServer]) -> None:
    ok, bad = servers
    c = routerlib.Client(policy=FAST, ledger=MemoryLedger(), budgets=[Budget(scope="global", limit=100)])
    r = Router([entry(bad), entry(ok)], environ={}, policy=FAST, num_retries=1)
    direct = {"model": "openai/gpt-4o-mini", "api_key": "sk-test-0123456789", "messages": MESSAGES}
    loop = asyncio.new_event_loop()

    def run(make: Callable[[], Awaitable[Any]]) -> Callable[[int], None]:
        return lambda i: loop.run_until_complete(_settled(make()))

    try:
        assert _routerlib_garbage(run(lambda: c.acompletion(api_base=ok.url, **direct))) == []
        assert _routerlib_garbage(run(lambda: c.acompletion(api_base=bad.url, num_retries=1, **direct))) == []
        assert _routerlib_garbage(run(lambda: r.acompletion("chat", MESSAGES))) == []
    finally:
        loop.run_until_complete(c.aclose())
        loop.run_until_complete(r.aclose())
        loop.close()


async def _settled(awaitable: Awaitable[Any]) -> None:
    with contextlib.suppress(routerlib.RateLimitError):
        await awaitable
