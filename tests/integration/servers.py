"""Starting and stopping third-party mock servers (llmock) on 127.0.0.1 for integration tests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Llmock:
    """A running llmock server: its base URL, its admin API, and its request journal."""

    def __init__(self, port: int) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.openai = self.root + "/v1"

    def _post(self, path: str, payload: Any) -> Any:
        request = urllib.request.Request(self.root + path, data=json.dumps(payload).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def scenario(self, *behaviors: dict[str, Any]) -> None:
        self._post("/_llmock/scenario", {"behaviors": list(behaviors)})

    def reset(self) -> None:
        self._post("/_llmock/reset", {})

    def requests(self, settle: float = 0.0) -> list[dict[str, Any]]:
        """The journal (a delayed request keeps running server-side: ``settle`` waits for it)."""
        if settle:
            time.sleep(settle)
        with urllib.request.urlopen(self.root + "/_llmock/requests", timeout=10) as response:
            return list(json.loads(response.read())["requests"])


@contextmanager
def llmock(*args: str) -> Iterator[Llmock]:
    """Start ``llmock serve`` on a free port, wait for /health, stop it by its PID afterwards."""
    port = free_port()
    exe = Path(sys.executable).with_name("llmock")
    proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        yield Llmock(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llmock exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("llmock did not become healthy within 30 s")
