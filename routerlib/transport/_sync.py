"""Synchronous transport on the standard library's ``http.client``, with a connection pool.

Chosen by measurement (benchmarks/): against an instant local server a pooled
``http.client`` call costs about a third of an ``httpx.Client`` call and a fifth of its
Python function calls, and it imports in a few milliseconds. What httpx adds (HTTP/2,
cookies, redirects, proxies from the environment) an LLM API call does not need.

The pool keeps idle keep-alive connections per (scheme, host, port). A connection is
reused only after checking that the server has not closed it meanwhile (a readable idle
socket means EOF or garbage), so a stale connection is dropped rather than retried.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from ..exceptions import APIConnectionError, APITimeoutError
from ._base import HTTPRequest, HTTPResponse, split_lines

_Key = tuple[str, str, int]
_MAX_IDLE_PER_HOST = 64
_READ_SIZE = 65536


class SyncTransport:
    """Pooled HTTP/1.1 over ``http.client``. Thread-safe; one per ``routerlib.Client``."""

    def __init__(self, *, max_idle_per_host: int = _MAX_IDLE_PER_HOST) -> None:
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_host
        self._ssl_context: ssl.SSLContext | None = None
        self._targets: dict[str, tuple[_Key, str]] = {}
        # Idle keep-alive sockets are closed when the transport is collected or the interpreter
        # exits, rather than left to the garbage collector (a ResourceWarning each).
        weakref.finalize(self, _close_idle, self._idle)

    # -- public
    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        """One request with its whole answer. ``timeout`` bounds the whole exchange: each socket
        wait gets only what is left of it, so a server trickling its body cannot stretch it."""
        deadline = time.monotonic() + timeout
        key, conn, resp = self._open(request, timeout)
        try:
            body = _read_body(resp, conn, deadline)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _connection_error(exc, request.url) from exc
        headers = {k.lower(): v for k, v in resp.getheaders()}
        self._release(key, conn, resp)
        return HTTPResponse(resp.status, headers, body)

    def stream(self, request: HTTPRequest, timeout: float) -> SyncStreamResponse:
        key, conn, resp = self._open(request, timeout)
        return SyncStreamResponse(self, key, conn, resp, request.url)

    def close(self) -> None:
        with self._lock:
            _close_idle(self._idle)

    # -- internals
    def _open(self, request: HTTPRequest, timeout: float
              ) -> tuple[_Key, http.client.HTTPConnection, http.client.HTTPResponse]:
        key, path = self._target(request.url)
        conn = self._checkout(key, timeout)
        try:
            conn.request(request.method, path, request.body, dict(request.headers))
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _connection_error(exc, request.url) from exc
        return key, conn, resp

    def _target(self, url: str) -> tuple[_Key, str]:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise APIConnectionError(f"cannot send to {url!r}: only http and https URLs are supported")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = ((parts.scheme, parts.hostname, port), path)
            if len(self._targets) > 4096:
                self._targets.clear()
            self._targets[url] = target
        return target

    def _checkout(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        idle = self._idle.get(key)
        while idle:
            try:
                conn = idle.pop()
            except IndexError:
                break
            sock = conn.sock
            if sock is not None and not _is_dropped(sock):
                if sock.gettimeout() != timeout:
                    sock.settimeout(timeout)
                conn.timeout = timeout
                return conn
            conn.close()
        scheme, host, port = key
        if scheme == "https":
            return _HTTPSConnection(host, port, timeout=timeout, context=self._ssl())
        return _HTTPConnection(host, port, timeout=timeout)

    def _release(self, key: _Key, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse) -> None:
        if resp.will_close or conn.sock is None:
            conn.close()
            return
        idle = self._idle.get(key)
        if idle is None:
            with self._lock:
                idle = self._idle.setdefault(key, [])
        if len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


class _HTTPConnection(http.client.HTTPConnection):
    """http.client writes the header block and the body separately; with Nagle's algorithm on,
    the body would wait for the server's ACK of the headers (a round trip, or a 40 ms delayed
    ACK). TCP_NODELAY, as urllib3 and httpcore set it, sends both at once."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    __doc__ = _HTTPConnection.__doc__

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class SyncStreamResponse:
    """A streamed answer; its connection goes back to the pool once the body is read to the end."""

    def __init__(self, transport: SyncTransport, key: _Key, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, url: str) -> None:
        self.status = resp.status
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in resp.getheaders()}
        self._transport = transport
        self._key = key
        self._conn: http.client.HTTPConnection | None = conn
        self._resp = resp
        self._url = url

    def lines(self) -> Iterator[bytes]:
        read1 = self._resp.read1
        pending = b""
        try:
            while True:
                data = read1(_READ_SIZE)
                if not data:
                    break
                complete, pending = split_lines(pending, data)
                yield from complete
        except (OSError, http.client.HTTPException) as exc:
            self._discard()
            raise _connection_error(exc, self._url) from exc
        if pending:
            yield pending
        # read1 never closes a content-length response at its end (only a chunked one): close it,
        # or the pooled connection keeps it and its next request fails with ResponseNotReady.
        self._resp.close()
        self._finish()

    def read(self) -> bytes:
        try:
            body = self._resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._discard()
            raise _connection_error(exc, self._url) from exc
        self._finish()
        return body

    def close(self) -> None:
        """Release the connection: pooled if the body was fully read, else closed."""
        if self._conn is not None:
            if self._resp.isclosed():
                self._finish()
            else:
                self._discard()

    def _finish(self) -> None:
        if self._conn is not None:
            self._transport._release(self._key, self._conn, self._resp)
            self._conn = None

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _read_body(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, deadline: float) -> bytes:
    pieces: list[bytes] = []
    read1 = resp.read1
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer did not arrive within the timeout")
        if conn.sock is not None:
            conn.sock.settimeout(left)
        data = read1(_READ_SIZE)
        if data:
            pieces.append(data)
        if not data or resp.length == 0:
            resp.close()  # the exchange is over: the connection may carry the next request
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _close_idle(pools: dict[_Key, list[http.client.HTTPConnection]]) -> None:
    for conns in pools.values():
        while conns:
            conns.pop().close()


def _is_dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed (or spoiled) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _connection_error(exc: BaseException, url: str) -> APIConnectionError:
    if isinstance(exc, socket.timeout | TimeoutError):
        return APITimeoutError(f"timed out talking to {_origin(url)}")
    return APIConnectionError(f"connection to {_origin(url)} failed: {type(exc).__name__}: {exc}")


def _origin(url: str) -> str:
    """The scheme and host of a URL: never its query, which may carry a key (Gemini's ?key=)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
