"""Test helpers for the spend ledgers under faults: a TCP proxy on loopback that can slow, swallow
or refuse what passes through it; a second redis-server with a password; a loop-lag ticker; a
process that holds an SQLite file's write lock."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import pytest
from loopback_server import free_port

Mode = Literal["pass", "slow", "swallow", "refuse"]


class Proxy:
    """Forwards 127.0.0.1:<port> to ``target``, one thread per direction per connection.

    ``mode``: "pass" forwards at once; "slow" waits ``delay`` seconds before forwarding each chunk
    (both directions); "swallow" reads and drops every byte (a server that stopped answering);
    "refuse" closes every open connection and each new one at once (a server that is down).
    """

    def __init__(self, target_port: int, *, delay: float = 0.05) -> None:
        self.target_port = target_port
        self.delay = delay
        self.mode: Mode = "pass"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "refuse":
            with self._lock:
                sockets, self._open = self._open, []
            for sock in sockets:
                _close(sock)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if self.mode == "swallow":
                    continue
                if self.mode == "slow":
                    time.sleep(self.delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)

    def close(self) -> None:
        self._stopped = True
        _close(self._listener)
        self.set_mode("refuse")


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def redis_server(*extra: str) -> Iterator[int]:
    """A redis-server of its own on a free loopback port (skips the test without the binary)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server binary not found on PATH")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


class LagMeter:
    """Measures how late an event loop runs a task that asks to wake every ``interval`` seconds.

    A coroutine that blocks the loop for t seconds shows as a lag of about t.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(loop.time() - start - self.interval)

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    @property
    def worst(self) -> float:
        return max(self.lags, default=0.0)


_LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@contextmanager
def sqlite_write_lock(path: str, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process takes the file's write lock and holds it ``seconds`` (yields once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER, path, str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.wait(seconds + 30)
        proc.stdout.close()


@contextmanager
def proxy_process(target_port: int, *, delay: float) -> Iterator[int]:
    """A slow ``Proxy`` in a process of its own (so its threads do not compete with the test for the
    GIL while the test measures its event loop); yields the proxy's port."""
    code = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})\n"
        "from spend_helpers import Proxy\n"
        f"p = Proxy({target_port}, delay={delay})\n"
        "p.set_mode('slow')\n"
        "print(p.port, flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()
