"""A tiny threaded HTTP/1.1 server on 127.0.0.1 that counts TCP connections, for the transport tests.

Paths select the behaviour:
- ``/json``: a JSON body with content-length (keep-alive);
- ``/sse``: a chunked SSE stream of ``?n=`` events (default 3) and [DONE];
- ``/sse-length``: the same events as one body with a content-length (not chunked);
- ``/slow-sse``: like /sse with ``delay`` seconds between events;
- ``/close-after``: a JSON answer, then the server closes the connection without saying so
  (no ``Connection: close``), which leaves a stale connection in the client's pool;
- ``/hang``: never answers (until the server stops);
- ``/slow-body``: headers at once, then a JSON body of ``?pieces=`` parts ``delay`` seconds apart;
- ``/keepalive/...``: an SSE stream that sends only ``: keep-alive`` comments, every 0.1 s for 3 s,
  then one content chunk (a gateway "still processing").
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self.owner.lock:
            self.owner.connections += 1
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.owner.closed_by_server.set()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        with owner.lock:
            owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/keepalive"):
            self._keepalive()
            return
        if parts.path == "/slow-body":
            self._slow_body(int(query.get("pieces", 5)), float(query.get("delay", 0.2)))
            return
        if parts.path == "/hang":
            owner.release.wait(10)
            self.close_connection = True
            return
        if parts.path == "/sse-length":
            body = b"".join(f"data: {{\"i\": {i}}}\n\n".encode() for i in range(int(query.get("n", "3"))))
            body += b"data: [DONE]\n\n"
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return
        if parts.path in ("/sse", "/slow-sse"):
            delay = float(query.get("delay", "0.05")) if parts.path == "/slow-sse" else 0.0
            self._sse(int(query.get("n", "3")), delay)
            return
        payload = json.dumps({"ok": True, "path": parts.path}).encode()
        self.send_response(int(query.get("status", "200")))
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("X-Request-ID", "req_loopback")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        if parts.path == "/close-after":
            self.close_connection = True

    def _sse(self, n: int, delay: float) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for i in range(n):
                if delay:
                    time.sleep(delay)
                self._chunk(f"data: {{\"i\": {i}}}\r\n\r\n".encode())
            self._chunk(b"data: [DONE]\r\n\r\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client closed the stream early
            self.close_connection = True

    def _keepalive(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "late"}, "finish_reason": "stop"}]}
        try:
            for _ in range(30):
                time.sleep(0.1)
                self._chunk(b": keep-alive\n\n")
            self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client gave up
            self.close_connection = True

    def _slow_body(self, pieces: int, delay: float) -> None:
        payload = json.dumps({"ok": True, "padding": "x" * pieces}).encode()
        step = -(-len(payload) // pieces)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.flush()
        try:
            for start in range(0, len(payload), step):
                time.sleep(delay)
                self.wfile.write(payload[start:start + step])
                self.wfile.flush()
        except OSError:  # the client gave up
            self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class LoopbackServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.closed_by_server = threading.Event()
        self._httpd = _Server(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
