"""A small OpenAI-compatible server on 127.0.0.1 with its own fault profile, for Router tests.

Each instance is one deployment: ``FaultServer("a", fail_rate=0.3, latency=0.05)``. The
profile can change while it runs (``server.set(status=500)``). Every request is journaled
(time, stream or not, the status answered), so a test counts what each deployment received.

Profile:
- ``status``: answer every request with this error status (OpenAI's error shape);
- ``fail_rate`` / ``fail_status``: fail that share of requests (seeded, so runs repeat);
- ``retry_after``: a Retry-After header (seconds) on errors;
- ``code``: the error's ``code`` (``context_length_exceeded``, ``content_filter``...);
- ``latency``: seconds before answering (for streams: before the first chunk);
- ``break_stream``: a stream answers 200, then closes before any content;
- ``break_after``: a stream closes the connection abruptly after that many content chunks;
- ``text``, ``prompt_tokens``, ``completion_tokens``, ``chunks``: the answer.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Profile:
    status: int | None = None
    fail_rate: float = 0.0
    fail_status: int = 500
    retry_after: float | None = None
    code: str | None = None
    latency: float = 0.0
    break_stream: bool = False
    break_after: int | None = None
    text: str = ""
    prompt_tokens: int = 10
    completion_tokens: int = 5
    chunks: int = 3
    seed: int = 0
    journal: list[dict[str, Any]] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer (a cut stream, a timeout) is part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        stream = bool(body.get("stream"))
        status = owner.decide()
        profile = owner.profile
        owner.log({"time": time.monotonic(), "stream": stream, "status": status, "body": body,
                   "headers": {k.lower(): v for k, v in self.headers.items()}})
        if profile.latency:
            time.sleep(profile.latency)
        if status != 200:
            return self._error(status, profile)
        if stream:
            return self._stream(profile, owner.name)
        completion = body.get("max_tokens") or body.get("max_completion_tokens")
        tokens = min(profile.completion_tokens, completion) if completion else profile.completion_tokens
        payload = {"id": "x", "object": "chat.completion", "created": 1, "model": body.get("model", "m"),
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": profile.text or owner.name}}],
                   "usage": {"prompt_tokens": profile.prompt_tokens, "completion_tokens": tokens,
                             "total_tokens": profile.prompt_tokens + tokens}}
        self._send(200, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, profile: Profile) -> None:
        error = {"error": {"message": f"injected {status}", "type": "server_error", "code": profile.code}}
        headers = {"retry-after": f"{profile.retry_after:g}"} if profile.retry_after is not None else {}
        self._send(status, json.dumps(error).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, profile: Profile, name: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        if profile.break_stream:
            self.close_connection = True
            self.wfile.write(b"0\r\n\r\n")
            return
        base = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": f"{name} "}}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": "x"}}]} for _ in range(profile.chunks)]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({**base, "choices": [], "usage": {
            "prompt_tokens": profile.prompt_tokens, "completion_tokens": profile.completion_tokens,
            "total_tokens": profile.prompt_tokens + profile.completion_tokens}})
        for i, event in enumerate(events):
            if profile.break_after is not None and i == profile.break_after:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)  # cut mid-body: no end chunk, no [DONE]
                return
            self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


class FaultServer:
    """One deployment with its own faults (see the module docstring)."""

    def __init__(self, name: str, **profile: Any) -> None:
        self.name = name
        self.profile = Profile(**profile)
        self._rng = random.Random(self.profile.seed)
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def set(self, **changes: Any) -> None:
        with self._lock:
            self.profile = replace(self.profile, **changes, journal=self.profile.journal)

    def decide(self) -> int:
        with self._lock:
            p = self.profile
            if p.status is not None:
                return p.status
            if p.fail_rate and self._rng.random() < p.fail_rate:
                return p.fail_status
            return 200

    def log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.profile.journal.append(entry)

    @property
    def journal(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.profile.journal)

    def count(self, status: int | None = None) -> int:
        return sum(1 for e in self.journal if status is None or e["status"] == status)

    def reset(self) -> None:
        with self._lock:
            self.profile.journal.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fault_servers(*names: str, **profile: Any) -> Iterator[list[FaultServer]]:
    servers = [FaultServer(name, **profile) for name in names]
    try:
        yield servers
    finally:
        for server in servers:
            server.close()


def entry(server: FaultServer, group: str = "chat", **params: Any) -> dict[str, Any]:
    """A LiteLLM model_list entry for ``server`` (its id is the server's name)."""
    info = params.pop("model_info", {})
    return {"model_name": group,
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": server.url, "api_key": "sk-test-0123456789",
                               **params},
            "model_info": {"id": server.name, **info}}
