"""Sync calls against servers whose answers close the connection: Python's ``http.server`` at its
default HTTP/1.0 (no Content-Length: the body ends when the server closes), and HTTP/1.1 with
``Connection: close``, through ``routerlib.completion`` (the default client and its pool).

http.client closes such a connection as soon as it has read the head; the sync transport read the
body from the socket afterwards and failed with ``EBADF`` (``Bad file descriptor``), for plain and
streamed answers alike, and a 429 became an ``APIConnectionError`` (its ``retry_after`` lost).
Each test makes a second call to show that the connection was not pooled: the server sees a
second connection, and one request per call.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import routerlib
from routerlib.exceptions import RateLimitError

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]


def _chunk(content: str) -> bytes:
    event = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class ClosingServer(ThreadingHTTPServer):
    """Answers every POST with ``Connection: close`` semantics; counts connections and requests.

    ``mode``: ``"http10"`` (HTTP/1.0, no Content-Length: read until close), ``"close"`` (HTTP/1.1,
    ``Connection: close`` and a Content-Length), ``"429"`` (like ``"close"``, a 429 with
    ``Retry-After: 1``). The body follows the head 50 ms later, so it has not reached the
    client when the client reads the head."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self.lock:
            self.connections += 1
        return conn, addr

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ClosingServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.server.lock:
            self.server.requests += 1
        mode = self.server.mode
        self.protocol_version = "HTTP/1.0" if mode == "http10" else "HTTP/1.1"
        if mode == "429":
            status = 429
            data = json.dumps({"error": {"message": "Rate limit reached", "type": "requests",
                                         "code": "rate_limit_exceeded"}}).encode()
        elif body.get("stream"):
            status, data = 200, _chunk("Hel") + _chunk("lo") + b"data: [DONE]\n\n"
        else:
            status, data = 200, json.dumps({
                "id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hello"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(status)
        self.send_header("content-type", "text/event-stream" if body.get("stream") else "application/json")
        if mode == "429":
            self.send_header("retry-after", "1")
        if mode != "http10":
            self.send_header("content-length", str(len(data)))
            self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        time.sleep(0.05)
        self.wfile.write(data)


@pytest.fixture
def closing() -> Iterator[Any]:
    servers: list[ClosingServer] = []

    def start(mode: str) -> ClosingServer:
        servers.append(ClosingServer(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _call(server: ClosingServer, stream: bool = False) -> str:
    response: Any = routerlib.completion(model=MODEL, api_base=server.base, api_key="sk-test", messages=MESSAGES,
                                    num_retries=0, stream=stream)
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in response if c.choices)
    return str(response.choices[0].message.content)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("mode", ["http10", "close"])
def test_an_answer_on_a_closing_connection_then_the_next_call(closing: Any, mode: str, stream: bool) -> None:
    server = closing(mode)
    assert _call(server, stream) == "Hello"
    assert _call(server, stream) == "Hello", "the next call works"
    assert (server.requests, server.connections) == (2, 2), "one request per call, each on a fresh connection"


def test_a_429_with_retry_after_on_a_closing_connection_is_a_rate_limit_error(closing: Any) -> None:
    server = closing("429")
    for _ in range(2):
        with pytest.raises(RateLimitError) as info:
            _call(server)
        assert info.value.status_code == 429
        assert info.value.retry_after == 1.0
    assert (server.requests, server.connections) == (2, 2)


def test_a_call_after_a_streamed_answer_read_until_close(closing: Any) -> None:
    server = closing("http10")
    assert _call(server, stream=True) == "Hello"
    assert _call(server) == "Hello"
    assert _call(server, stream=True) == "Hello"
    assert (server.requests, server.connections) == (3, 3)
