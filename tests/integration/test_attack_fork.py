"""Attack pass: in-process Router and cache state inherited by a forked child (gunicorn --preload,
Celery prefork). A forked child has none of its parent's threads, so whatever those threads held
at the fork (a max_parallel_requests slot, a single-flight leadership) is never given back there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers

from routerlib import Client, Router
from routerlib.cache import MemoryCache

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")

MESSAGES = [{"role": "user", "content": "hi"}]


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child; its JSON result comes back through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            result = work()
        except BaseException as exc:  # reported to the parent
            result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return dict(json.loads(b"".join(chunks)))


def _during_a_parent_call(server: FaultServer, call: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while server.count() == 0 and time.monotonic() < deadline:  # the parent's request is at the server
        time.sleep(0.01)
    return thread


@pytest.mark.xfail(strict=True, reason="MemoryHealth keeps the parent's in-flight count after fork: the child's "
                   "max_parallel_requests slot is taken forever by a thread that does not exist there")
def test_forked_child_is_not_blocked_by_the_parents_in_flight_router_call() -> None:
    with fault_servers("a", latency=1.0) as (a,):
        router = Router([entry(a, max_parallel_requests=1)], environ={}, seed=1)
        thread = _during_a_parent_call(a, lambda: router.completion("chat", MESSAGES))

        def child() -> dict[str, Any]:
            answer = router.completion("chat", MESSAGES, timeout=5)
            return {"content": answer.choices[0].message.content, "in_flight": router.health()["a"].in_flight}

        result = in_child(child)
        thread.join()
        assert result == {"content": "a", "in_flight": 0}


@pytest.mark.xfail(strict=True, reason="the cache's single-flight table survives fork: a child's identical call "
                   "waits its whole timeout for a leader thread that exists only in the parent")
def test_forked_child_does_not_wait_for_the_parents_single_flight_leader() -> None:
    with fault_servers("a", latency=4.0) as (a,):
        client = Client(cache=MemoryCache())
        params = {"model": "openai/gpt-4o-mini", "api_base": a.url, "api_key": "sk-test-0123456789"}
        thread = _during_a_parent_call(a, lambda: client.completion(messages=MESSAGES, **params))
        a.set(latency=0.0)  # the parent's request keeps its 4 s; any later one is answered at once

        def child() -> dict[str, Any]:
            answer = client.completion(messages=MESSAGES, deadline=2, **params)
            return {"content": answer.choices[0].message.content}

        result = in_child(child)
        thread.join()
        # Fixed: the child leads its own flight and is answered at once. Now it follows the parent's
        # leader, a thread it does not have, until its deadline runs out.
        assert result == {"content": "a"}
