"""A loopback server that speaks the OpenAI, Anthropic and Gemini wire formats and is strict about
what it receives, for tests that must know whether (and what) routerlib sent.

Every TCP connection is counted and every request recorded (path, lower-cased headers, raw body).
A body that is not strict JSON (NaN and Infinity are not JSON) is answered 400 and recorded in
``invalid``. Answers are chosen by path, JSON or SSE as the body's ``stream`` (or Gemini's
``:streamGenerateContent``) asks:

- ``.../chat/completions`` and ``.../completions``: OpenAI chat and text completions;
- ``.../v1/messages``: Anthropic Messages;
- ``.../models/<m>:generateContent`` / ``:streamGenerateContent``: Gemini.

``usage`` replaces the usage every answer reports, in the provider's own field (``usage`` for
OpenAI and Anthropic, ``usageMetadata`` for Gemini), so a test can serve implausible counts.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
ANTHROPIC_USAGE = {"input_tokens": 9, "output_tokens": 3}
GEMINI_USAGE = {"promptTokenCount": 9, "candidatesTokenCount": 3, "totalTokenCount": 12}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class StrictServer:
    """See the module docstring. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, *, usage: Any = None) -> None:
        self.usage = usage
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.invalid: list[bytes] = []
        self.lock = threading.Lock()
        owner = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def get_request(self) -> tuple[socket.socket, Any]:
                conn, addr = super().get_request()
                with owner.lock:
                    owner.connections += 1
                return conn, addr

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner.lock:
                    owner.requests.append({"path": self.path, "raw": raw,
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                try:
                    body = json.loads(raw, parse_constant=_no_constants)
                except ValueError:
                    with owner.lock:
                        owner.invalid.append(raw)
                    self._send(400, "application/json", b'{"error": {"message": "invalid JSON"}}')
                    return
                status, kind, payload = owner.answer(self.path, body if isinstance(body, dict) else {})
                self._send(status, kind, payload)

            def _send(self, status: int, kind: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                if kind == "text/event-stream":  # as providers stream: chunked
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n")
                    return
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        """The OpenAI-style base URL (ends in /v1)."""
        return self.root + "/v1"

    def start(self) -> StrictServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StrictServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- answers
    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        stream = bool(body.get("stream")) or ":streamGenerateContent" in path
        if ":generateContent" in path or ":streamGenerateContent" in path:
            return self._gemini(stream)
        if path.endswith("/v1/messages"):
            return self._anthropic(stream)
        if path.endswith("/chat/completions") or path.endswith("/completions"):
            return self._openai(stream, text=not path.endswith("/chat/completions"))
        return 404, "application/json", b'{"error": {"message": "no such route"}}'

    def _usage(self, default: dict[str, Any]) -> Any:
        return default if self.usage is None else self.usage

    def _openai(self, stream: bool, *, text: bool) -> tuple[int, str, bytes]:
        usage = self._usage(OPENAI_USAGE)
        if text:
            choice: dict[str, Any] = {"index": 0, "text": "Hi!", "finish_reason": "stop", "logprobs": None}
            obj = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [choice]}
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
            obj = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}
        if not stream:
            return 200, "application/json", json.dumps({**obj, "usage": usage}).encode()
        if text:
            events = [{**obj}, {**obj, "choices": [], "usage": usage}]
        else:
            delta = {"index": 0, "delta": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            events = [{**chunk, "choices": [delta]}, {**chunk, "choices": [], "usage": usage}]
        data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        return 200, "text/event-stream", data

    def _anthropic(self, stream: bool) -> tuple[int, str, bytes]:
        usage = self._usage(ANTHROPIC_USAGE)
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
                   "content": [{"type": "text", "text": "Hi!"}], "stop_reason": "end_turn", "usage": usage}
        if not stream:
            return 200, "application/json", json.dumps(message).encode()
        events = [
            ("message_start", {"type": "message_start", "message": {**message, "content": [], "usage": usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "Hi!"}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}),
            ("message_stop", {"type": "message_stop"}),
        ]
        data = b"".join(f"event: {name}\ndata: {json.dumps(e)}\n\n".encode() for name, e in events)
        return 200, "text/event-stream", data

    def _gemini(self, stream: bool) -> tuple[int, str, bytes]:
        usage = self._usage(GEMINI_USAGE)
        answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi!"}]}, "finishReason": "STOP",
                                  "index": 0}], "usageMetadata": usage, "modelVersion": "gemini"}
        if not stream:
            return 200, "application/json", json.dumps(answer).encode()
        return 200, "text/event-stream", b"data: " + json.dumps(answer).encode() + b"\n\n"
