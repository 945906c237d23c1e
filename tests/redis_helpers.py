"""A real ``redis-server`` on a free loopback port, for tests (the ``redis_url`` fixture uses it).

Tests that kill the server mid-run, to check what happens when Redis goes away, start their
own with ``redis_server()``; the others share the module-scoped ``redis_url`` fixture.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from loopback_server import free_port


def start_redis(binary: str, port: int) -> subprocess.Popen[bytes]:
    """A redis-server on ``port`` of 127.0.0.1 (no persistence), once it answers PING."""
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return proc
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.02)
    finally:
        client.close()


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """(url, process) of a fresh, empty redis-server; stopped at the end. Skips without the binary."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server binary not found on PATH: install redis-server (.ci/run does) to test RedisLedger")
    port = free_port()
    proc = start_redis(binary, port)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
