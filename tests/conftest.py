"""Fixtures shared by the unit and the integration tests.

Every test runs with ``ROUTERLIB_CACHE_DIR`` pointing at an empty directory of its session, so a
refreshed price map in the developer's own cache never changes a price a test expects.

``redis_url`` is a real ``redis-server`` on a free loopback port, started once per test module
that asks for it (so every module gets an empty server) and stopped at the module's end. Tests
that share it keep apart by key prefix; the test is skipped when ``redis-server`` is not on PATH
(``.ci/run`` installs it). ``redis_process`` is a fresh one per test that the test can kill,
pause (SIGSTOP) and start again on the same port, for outage tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
from loopback_server import free_port
from redis_helpers import redis_server, start_redis

# A developer's own refreshed price map (`routerlib prices update`) must not change what the tests
# price: every test, and every subprocess a test starts, sees an empty price cache of its own.
_PRICE_CACHE = tempfile.mkdtemp(prefix="routerlib-test-cache-")
os.environ["ROUTERLIB_CACHE_DIR"] = _PRICE_CACHE
os.environ.pop("ROUTERLIB_NO_PRICE_CACHE", None)
atexit.register(shutil.rmtree, _PRICE_CACHE, True)


class RedisProcess:
    """A redis-server on a fixed loopback port that a test can kill, pause and start again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_redis(self.binary, self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A fresh redis-server for one test, which the test may kill, pause and restart."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server binary not found on PATH: install redis-server (.ci/run does)")
    server = RedisProcess(binary)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.resume()
            server.kill()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url
