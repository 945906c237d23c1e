"""A tiny threaded HTTP/1.1 server on 127.0.0.1 that counts TCP connections, for the transport tests.

Paths select the behaviour:
- ``/json``: a JSON body with content-length (keep-alive);
- ``/sse``: a chunked SSE stream of ``?n=`` events (default 3) and [DONE];
- ``/slow-sse``: like /sse with ``delay`` seconds between events;
- ``/close-after``: a JSON answer, then the server closes the connection without saying so
  (no ``Connection: close``), which leaves a stale connection in the client's pool;
- ``/hang``: never answers (until the server stops);
- ``/slow-body``: headers at once, then a JSON body of ``?pieces=`` parts ``delay`` seconds apart;
- ``/keepalive/...``: an SSE stream that sends only ``: keep-alive`` comments, every 0.1 s for 3 s,
  then one content chunk (a gateway "still processing").
- ``/echo``: answers ``{"id": <the request body's "id">}`` after ``?delay=`` seconds (default 0);
- ``/redirect``: answers ``?status=`` (default 307) with ``Location: ?to=``.
- ``/redirect-to/<port>/...``: answers 307 to ``http://127.0.0.1:<port>/v1/chat/completions``.

``RawServer`` is a raw-socket server for byte-level misbehaviour (trickled headers, interim
answers, truncated or endless bodies).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
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
        if parts.path == "/echo":
            time.sleep(float(query.get("delay", "0")))
            self._json(200, json.dumps({"id": json.loads(raw)["id"]}).encode())
            return
        if parts.path.startswith("/redirect-to/"):  # an api_base can carry no query: the target port in the path
            port = parts.path.split("/")[2]
            self.send_response(307)
            self.send_header("location", f"http://127.0.0.1:{port}/v1/chat/completions")
            self.send_header("content-length", "0")
            self.end_headers()
            self.wfile.flush()
            return
        if parts.path == "/redirect":
            self.send_response(int(query.get("status", "307")))
            self.send_header("location", query["to"])
            self.send_header("content-length", "0")
            self.end_headers()
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

    def _json(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

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


class RawRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int  # the client's port: one per TCP connection


#: ``handler(sock, request, server)`` writes whatever bytes it likes; True keeps the connection
#: open for the next request.
RawHandler = Callable[[socket.socket, RawRequest, "RawServer"], bool]


class RawServer:
    """A raw-socket HTTP/1.1 server on 127.0.0.1, for byte-level misbehaviour.

    Reads each request (head, then a Content-Length body), records it, and lets ``handler``
    answer with raw bytes. ``open_for`` lists, per connection that ended, how long it stayed open
    as the server saw it (accept to the end), so tests bound a client's patience relative to its
    timeout rather than by the test machine's clock.
    """

    def __init__(self, handler: RawHandler) -> None:
        self.handler = handler
        self.lock = threading.Lock()
        self.requests: list[RawRequest] = []
        self.open_for: list[float] = []
        self.ended = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> RawServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, addr = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, addr[1]), daemon=True).start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        started = time.monotonic()
        reader = conn.makefile("rb")
        try:
            while (request := _read_request(reader, port)) is not None:
                with self.lock:
                    self.requests.append(request)
                if not self.handler(conn, request, self):
                    break
        except OSError:
            pass
        finally:
            reader.close()
            conn.close()
            with self.lock:
                self.open_for.append(time.monotonic() - started)
            self.ended.set()


def _read_request(reader: Any, port: int) -> RawRequest | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (raw := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return RawRequest(method, path, headers, body, port)


def trickle(sock: socket.socket, data: bytes, interval: float) -> bool:
    """Send ``data`` one byte every ``interval`` seconds; False once the client has gone."""
    for i in range(len(data)):
        time.sleep(interval)
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return False
    return True


def http_answer(body: bytes, status: str = "200 OK", headers: tuple[str, ...] = (),
                content_type: str = "application/json") -> bytes:
    """A complete keep-alive HTTP/1.1 answer with a Content-Length."""
    head = [f"HTTP/1.1 {status}", f"content-type: {content_type}", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# -- hostile answers, shared by the sync and async transport tests (each a RawHandler)

OK_JSON = b'{"ok": true}'


def sse_framed_by_content_length(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """``/sse-cl``: an SSE stream framed by Content-Length (not chunked); anything else: JSON."""
    if request.path.startswith("/sse-cl"):
        body = b'data: {"i": 0}\n\ndata: [DONE]\n\n'
        sock.sendall(http_answer(body, content_type="text/event-stream"))
    else:
        sock.sendall(http_answer(OK_JSON))
    return True


def trickled_head(interval: float) -> RawHandler:
    """The status line and headers one byte every ``interval`` seconds (then a tiny body)."""
    def handler(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
        return trickle(sock, http_answer(b"{}", content_type="text/event-stream"), interval)
    return handler


def early_hints(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """A ``103 Early Hints`` interim answer, then the final 200 (keep-alive)."""
    sock.sendall(b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n" + http_answer(OK_JSON))
    return True


def endless_line(limit: int) -> RawHandler:
    """A chunked event stream whose first line never ends (``limit`` bytes at most, then it ends)."""
    def handler(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"6\r\ndata: \r\n")
        return _send_chunks(sock, limit) and _end_chunks(sock, b"\n\n")
    return handler


def endless_body(limit: int) -> RawHandler:
    """A chunked 200 whose body goes on (``limit`` bytes at most, then it ends)."""
    def handler(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        return _send_chunks(sock, limit) and _end_chunks(sock, b"")
    return handler


def _send_chunks(sock: socket.socket, limit: int) -> bool:
    piece = b"x" * 16384
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    try:
        for _ in range(limit // len(piece)):
            sock.sendall(chunk)
    except OSError:
        return False
    return True


def _end_chunks(sock: socket.socket, tail: bytes) -> bool:
    last = (f"{len(tail):x}\r\n".encode() + tail + b"\r\n" if tail else b"") + b"0\r\n\r\n"
    try:
        sock.sendall(last)
    except OSError:
        return False
    return True


def encoded(body: bytes, encoding: str) -> RawHandler:
    """``body`` (already encoded) with ``Content-Encoding: encoding`` and its Content-Length."""
    def handler(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
        try:
            sock.sendall(http_answer(body, headers=(f"content-encoding: {encoding}",)))
        except OSError:
            return False
        return True
    return handler


def truncated(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """Announces 100 bytes of body, sends 50, and hangs up."""
    sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n" + b"x" * 50)
    return False


def big_head(lines: int, line_bytes: int) -> RawHandler:
    """An answer with ``lines`` extra header lines of ``line_bytes`` bytes each."""
    value = "v" * max(1, line_bytes - 16)
    extra = tuple(f"x-filler-{i:05d}: {value}" for i in range(lines))

    def handler(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
        try:
            sock.sendall(http_answer(OK_JSON, headers=extra))
        except OSError:
            return False
        return True
    return handler


def long_status_line(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
    try:
        sock.sendall(b"HTTP/1.1 200 " + b"O" * 70_000 + b"\r\ncontent-length: 2\r\n\r\n{}")
    except OSError:
        return False
    return True


def second_request_unanswered(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
    """Answers the first request of each connection; reads the next, then hangs up without a word
    (a keep-alive connection the server closed: did the client send the request again?)."""
    if sum(r.port == request.port for r in server.requests) > 1:
        return False
    sock.sendall(http_answer(OK_JSON))
    return True
