"""Fakes for users' own tests: an in-process OpenAI-compatible server and mock SSE bodies.

``MockServer`` is a real HTTP server on 127.0.0.1 (stdlib only, in a background thread)
that answers /v1/chat/completions and /v1/completions, streams with SSE, and fails on
demand: a base URL ending in ``/fail/503/v1`` answers every call with that status, which
is how ``routerlib demo`` shows a fallback. Every request it receives is kept in
``server.requests`` (path, headers, body) so tests can count exactly what was sent::

    with MockServer(reply="Hello!") as server:
        r = routerlib.completion("openai/gpt-4o-mini", messages, api_base=server.url, api_key="x")
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .transport._mock import mock_sse_response
from .types import ModelResponse, TextCompletion

__all__ = ["MockServer", "mock_sse_response"]


class MockServer:
    """An OpenAI-compatible server on 127.0.0.1 for tests and demos (see the module docstring)."""

    def __init__(self, reply: str = "Hello from routerlib's mock server.", *, port: int = 0,
                 chunk_delay: float = 0.0) -> None:
        self.reply = reply
        self.chunk_delay = chunk_delay
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="routerlib-mock",
                                        daemon=True)

    @property
    def url(self) -> str:
        """The OpenAI-style base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def failing_url(self, status: int) -> str:
        """A base URL on which every call fails with ``status``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/fail/{status}/v1"

    def start(self) -> MockServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)


class _Server(ThreadingHTTPServer):
    """The HTTP server, with a listen backlog fit for load tests.

    socketserver's default backlog is 5: under 50 concurrent calls the kernel's accept queue
    overflows, and every connection past it waits for a SYN retransmission (1 s, 3 s, 7 s...),
    which made 50 calls take 25 s and 200 take minutes. The kernel caps the value at
    net.core.somaxconn.
    """

    request_queue_size = 1024


class _Handler(BaseHTTPRequestHandler):
    """Serves one MockServer (its ``mock`` attribute, set per server by ``_handler_for``)."""

    mock: MockServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY the client's
    # delayed ACK would add ~40 ms to every call.
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        body = json.loads(raw or b"{}")
        self.mock.record({"path": self.path, "headers": dict(self.headers), "body": body})
        failing = re.match(r"/fail/(\d{3})/", self.path)
        if failing:
            self._fail(int(failing.group(1)))
        else:
            path = urlsplit(self.path).path  # Azure-style URLs carry ?api-version=...
            text = path.endswith("/completions") and not path.endswith("chat/completions")
            if body.get("stream"):
                self._stream(body, text=text)
            else:
                self._json(200, _completion(body, self.mock.reply, text=text))

    def _fail(self, status: int) -> None:
        error = {"error": {"message": f"mock failure {status}", "type": "server_error",
                           "code": None}}
        self._json(status, error, {"retry-after": "0"} if status in (429, 503) else {})

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict[str, Any], *, text: bool) -> None:
        # Like OpenAI: the usage chunk is sent only when stream_options.include_usage asks.
        model = TextCompletion if text else ModelResponse
        response = model.model_validate(_completion(body, self.mock.reply, text=text))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for event in mock_sse_response(response, include_usage=include_usage).body.split(b"\n\n"):
                if event:
                    if self.mock.chunk_delay:
                        time.sleep(self.mock.chunk_delay)
                    self._chunked(event + b"\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client closed the stream early
            self.close_connection = True

    def _chunked(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _handler_for(server: MockServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"mock": server})


def _completion(body: dict[str, Any], reply: str, *, text: bool) -> dict[str, Any]:
    prompt_words = len(json.dumps(body.get("messages") or body.get("prompt") or "").split())
    completion_words = len(reply.split())
    usage = {"prompt_tokens": prompt_words, "completion_tokens": completion_words,
             "total_tokens": prompt_words + completion_words}
    created = int(time.time())
    if text:
        return {"id": "cmpl-mock", "object": "text_completion", "created": created,
                "model": body.get("model", ""), "usage": usage,
                "choices": [{"index": 0, "text": reply, "finish_reason": "stop", "logprobs": None}]}
    return {"id": "chatcmpl-mock", "object": "chat.completion", "created": created,
            "model": body.get("model", ""), "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply}}]}
