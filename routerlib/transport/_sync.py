"""Synchronous transport on the standard library's ``http.client``, with a connection pool.

Chosen by measurement (benchmarks/): against an instant local server a pooled
``http.client`` call costs about a third of an ``httpx.Client`` call and a fifth of its
Python function calls, and it imports in a few milliseconds. What httpx adds (HTTP/2,
cookies, redirects, proxies from the environment) an LLM API call does not need.

The pool keeps idle keep-alive connections per (scheme, host, port). A connection goes back
only when its answer was read to the end and closed (a response left open would make the
next request on it fail after the server processed it); it is reused only after checking
that the server has not closed it meanwhile (a readable idle socket means EOF or garbage),
so a stale connection is dropped, never used and retried.

What http.client does not bound, this module does, through the reader it gives each answer
(``_SocketReader``, in place of ``sock.makefile()``):

- time: each exchange has a deadline, and every socket wait (connect, send, each read of the
  status line, headers and body) gets at most what is left of it; a socket timeout alone
  bounds one read, so a server trickling a byte at a time could hold a call for hours;
- size: the status line and headers (``Limits.max_header_bytes``), the body after
  decompression (``max_response_bytes``), one streamed line (``max_line_bytes``);
- interim answers: a ``1xx`` (``103 Early Hints``) is skipped, the final answer follows;
- answers on a connection that will close (HTTP/1.0, ``Connection: close``, a body read until
  close): http.client closes the connection as soon as their head is read, so the answer holds
  the socket open until its body is read or its stream closed (``_Response.holder``);
- fork: a child process never uses its parent's connections (checked by pid, so a fork that
  bypasses ``os.register_at_fork``, as C-level forks do, is caught too).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import os
import select
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import APIConnectionError, APIResponseValidationError, APITimeoutError, RouterlibError
from ._base import (
    DEFAULT_LIMITS,
    HTTPRequest,
    HTTPResponse,
    Limits,
    LineSplitter,
    body_too_large,
    headers_too_large,
    origin,
    redirect_error,
)

_Key = tuple[str, str, int]
_MAX_IDLE_PER_HOST = 64
_READ_SIZE = 65536
_INF = float("inf")
#: A socket wait may end this much past the deadline. The slack spares a settimeout() (two
#: fcntl system calls) on almost every read: the timeout set for the last wait still fits.
_SLACK = 0.02


class SyncTransport:
    """Pooled HTTP/1.1 over ``http.client``. Thread-safe; one per ``routerlib.Client``."""

    def __init__(self, *, max_idle_per_host: int = _MAX_IDLE_PER_HOST, limits: Limits | None = None) -> None:
        self._idle: dict[_Key, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._max_idle = max_idle_per_host
        self._limits = limits if limits is not None else DEFAULT_LIMITS
        self._ssl_context: ssl.SSLContext | None = None
        self._targets: dict[str, tuple[_Key, str]] = {}
        # Idle keep-alive sockets are closed when the transport is collected or the interpreter
        # exits, rather than left to the garbage collector (a ResourceWarning each).
        weakref.finalize(self, _close_idle, self._idle)

    # -- public
    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        """One request with its whole answer; ``timeout`` bounds it from connect to the last byte."""
        key, conn, resp = self._open(request, timeout, None, False)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            body = _read_all(resp, headers.get("content-encoding"), self._limits.max_response_bytes)
        except BaseException as exc:
            _drop(conn, resp)
            if isinstance(exc, OSError | http.client.HTTPException):
                raise _connection_error(exc, request.url) from exc
            raise
        self._release(key, conn, resp)
        return HTTPResponse(resp.status, headers, body)

    def stream(self, request: HTTPRequest, timeout: float, total: float | None = None) -> SyncStreamResponse:
        """``timeout`` bounds connect and headers, and each wait for body data; ``total``, if
        given, the whole exchange from connect to the last byte."""
        key, conn, resp = self._open(request, timeout, total, True)
        return SyncStreamResponse(self, key, conn, resp, request.url)

    def close(self) -> None:
        with self._lock:
            _close_idle(self._idle)

    # -- internals
    def _open(self, request: HTTPRequest, timeout: float, total: float | None, stream: bool
              ) -> tuple[_Key, _Connection, _Response]:
        """Send the request and read the status line and headers, all within ``timeout`` (and
        ``total``). For ``send`` the deadline stays, so the body must follow within it too;
        for a stream it becomes ``total`` from the start (or none) once the headers are in."""
        start = time.monotonic()
        head = timeout if total is None or total > timeout else total
        key, path = self._target(request.url)
        conn = self._checkout(key, head)
        clock = conn.clock
        clock.deadline = start + head
        clock.wait = timeout
        clock.header_left = self._limits.max_header_bytes
        try:
            if conn.sock is None:
                conn.connect()
            clock.bound(conn.sock)
            conn.request(request.method, path, request.body, dict(request.headers))
            resp: _Response = conn.getresponse()  # type: ignore[assignment]  # its response_class
        except BaseException as exc:
            conn.close()
            error = self._open_error(exc, request.url)
            if error is exc:
                raise
            raise error from exc
        clock.header_left = None
        if 300 <= resp.status < 400:
            _drop(conn, resp)  # its body is not read: never pooled
            raise redirect_error(resp.status, resp.getheader("location"), request.url)
        if stream:
            clock.deadline = _INF if total is None else start + total
        return key, conn, resp

    def _open_error(self, exc: BaseException, url: str) -> BaseException:
        if isinstance(exc, _HeaderBudgetSpentError):
            return headers_too_large(self._limits.max_header_bytes)
        if isinstance(exc, http.client.LineTooLong) or (
                isinstance(exc, http.client.HTTPException) and str(exc).startswith("got more than")):
            return headers_too_large(self._limits.max_header_bytes, str(exc))
        if isinstance(exc, OSError | http.client.HTTPException):
            return _connection_error(exc, url)
        return exc

    def _target(self, url: str) -> tuple[_Key, str]:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise APIConnectionError(f"cannot send to {origin(url)}: only http and https URLs are supported")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = ((parts.scheme, parts.hostname, port), path)
            if len(self._targets) > 4096:
                self._targets.clear()
            self._targets[url] = target
        return target

    def _checkout(self, key: _Key, timeout: float) -> _Connection:
        if self._pid != os.getpid():
            self._after_fork()
        idle = self._idle.get(key)
        while idle:
            try:
                conn = idle.pop()
            except IndexError:
                break
            sock = conn.sock
            if sock is not None and not _is_dropped(sock):
                return conn
            conn.close()
        scheme, host, port = key
        if scheme == "https":
            return _HTTPSConnection(host, port, timeout=timeout, context=self._ssl())
        return _HTTPConnection(host, port, timeout=timeout)

    def _release(self, key: _Key, conn: _Connection, resp: _Response) -> None:
        """Pool ``conn`` only if its answer is complete and closed; close it otherwise."""
        # resp.fp is None: resp.isclosed(), without the call
        if resp.will_close or conn.sock is None or resp.fp is not None or resp.length:
            _drop(conn, resp)
            return
        idle = self._idle.get(key)
        if idle is None:
            with self._lock:
                idle = self._idle.setdefault(key, [])
        if len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's idle connections, never use them.

        The child's copy of each socket is released without a word on the wire: no shutdown
        (which would send FIN on the parent's connection), no TLS close_notify; the parent's
        connection lives on. The lock is replaced, since a parent thread may have held it."""
        self._lock = threading.Lock()
        pools = list(self._idle.values())
        self._idle.clear()  # in place: the finalizer holds this dict
        self._pid = os.getpid()
        for conns in pools:
            while conns:
                _forget(conns.pop())

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


class _HeaderBudgetSpentError(Exception):
    """The status line and headers went on past ``Limits.max_header_bytes``."""


class _Clock:
    """The deadline and header budget of the exchange a connection carries, shared with its reader."""

    __slots__ = ("current", "deadline", "header_left", "wait")

    def __init__(self, timeout: float) -> None:
        self.deadline = _INF
        self.wait = timeout  # the longest one socket wait may take
        self.current = timeout  # the socket's timeout now
        self.header_left: int | None = None  # bytes the status line and headers may still take

    def bound(self, sock: socket.socket) -> None:
        """Give the next socket wait at most what is left (within ``_SLACK``), or time out now."""
        left = self.deadline - time.monotonic()
        wait = self.wait if self.wait < left else left
        if wait <= 0:
            raise TimeoutError("the deadline of the exchange passed")
        current = self.current
        if wait < current - _SLACK or wait > current + _SLACK:
            sock.settimeout(wait)
            self.current = wait


class _SocketReader(io.RawIOBase):
    """The socket as http.client reads an answer from it, in place of ``sock.makefile("rb")``:
    every read waits at most what is left of the exchange, and while the status line and
    headers are read, the bytes they take are counted."""

    def __init__(self, sock: socket.socket, clock: _Clock) -> None:
        self._sock = sock
        self._clock = clock

    def makefile(self, mode: str) -> io.BufferedReader:
        """What ``HTTPResponse.__init__`` calls on the socket it is given."""
        return io.BufferedReader(self)

    def readable(self) -> bool:
        return True

    def hold(self) -> socket.SocketIO:
        """A file that keeps the socket open past ``sock.close()`` until the file is closed, as
        a file from ``sock.makefile()`` keeps it (the socket counts them): what http.client
        expects of the reader it gives an answer, and this reader does not do by itself."""
        return self._sock.makefile("rb", buffering=0)

    def readinto(self, buffer: Any) -> int:
        clock = self._clock  # clock.bound(), inlined: this runs for every read of every answer
        left = clock.deadline - time.monotonic()
        wait = clock.wait if clock.wait < left else left
        if wait <= 0:
            raise TimeoutError("the deadline of the exchange passed")
        if wait < clock.current - _SLACK or wait > clock.current + _SLACK:
            self._sock.settimeout(wait)
            clock.current = wait
        budget = clock.header_left
        if budget is None:
            return self._sock.recv_into(buffer)
        if budget <= 0:
            raise _HeaderBudgetSpentError
        n = self._sock.recv_into(buffer)
        clock.header_left = budget - n
        return n


class _Response(http.client.HTTPResponse):
    """http.client's answer, skipping interim ``1xx`` answers (http.client skips only ``100``
    and would take a ``103 Early Hints`` as the final answer, leaving the real one unread on
    the connection). Their bytes count against the header budget, so they cannot go on forever.

    An answer on a connection that will close (HTTP/1.0 without keep-alive, ``Connection:
    close``, a body that ends when the server closes) holds its socket open: ``getresponse()``
    closes such a connection as soon as the head is read, "passing the connection to the
    response", which it expects to read its body through ``sock.makefile()``, a file that keeps
    the socket open; ``_SocketReader`` does not, so the socket closed under it and the body read
    failed with ``EBADF``. The holder is closed, and with it the socket, when the answer is
    released (``_drop``)."""

    #: On a connection that will close, the file keeping its socket open (None: keep-alive).
    holder: socket.SocketIO | None = None

    def begin(self) -> None:
        super().begin()
        while 100 <= self.status < 200 and self.status != 101:
            self.headers = self.msg = None  # type: ignore[assignment]  # begin() reads the next status
            super().begin()
        if self.will_close:
            self.holder = self.fp.raw.hold()  # type: ignore[attr-defined]  # fp: a _SocketReader's


def _new_response(clock: _Clock, sock: socket.socket, debuglevel: int = 0, method: str | None = None,
                  url: str | None = None) -> _Response:
    return _Response(_SocketReader(sock, clock), debuglevel, method, url)  # type: ignore[arg-type]


class _HTTPConnection(http.client.HTTPConnection):
    """http.client writes the header block and the body separately; with Nagle's algorithm on,
    the body would wait for the server's ACK of the headers (a round trip, or a 40 ms delayed
    ACK). TCP_NODELAY, as urllib3 and httpcore set it, sends both at once."""

    def __init__(self, host: str, port: int, timeout: float, **kwargs: Any) -> None:
        super().__init__(host, port, timeout=timeout, **kwargs)
        self.clock = _Clock(timeout)
        self.response_class = functools.partial(_new_response, self.clock)  # type: ignore[assignment]

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    __doc__ = _HTTPConnection.__doc__

    def __init__(self, host: str, port: int, timeout: float, **kwargs: Any) -> None:
        super().__init__(host, port, timeout=timeout, **kwargs)
        self.clock = _Clock(timeout)
        self.response_class = functools.partial(_new_response, self.clock)  # type: ignore[assignment]

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_Connection = _HTTPConnection | _HTTPSConnection


class SyncStreamResponse:
    """A streamed answer; its connection goes back to the pool once the body is read to the end."""

    def __init__(self, transport: SyncTransport, key: _Key, conn: _Connection,
                 resp: _Response, url: str) -> None:
        self.status = resp.status
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in resp.getheaders()}
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._resp = resp
        self._url = url

    def lines(self) -> Iterator[bytes]:
        """The body's lines; CRLF, LF or a lone CR ends one. Past ``Limits.max_line_bytes``
        in one line, ``ResponseTooLargeError``."""
        resp = self._resp
        read1 = resp.read1
        feed = (splitter := LineSplitter(self._transport._limits.max_line_bytes)).feed
        inflate = _inflater(self.headers.get("content-encoding"))
        try:
            while data := read1(_READ_SIZE):
                if inflate is None:
                    yield from feed(data)
                else:
                    for piece in _inflate_pieces(inflate, data, self._conn):
                        yield from feed(piece)
            _complete(resp, inflate)
        except BaseException as exc:
            self._discard()
            if isinstance(exc, OSError | http.client.HTTPException):
                raise _connection_error(exc, self._url) from exc
            raise
        last = splitter.flush()
        if last:
            yield last
        self._finish()

    def read(self) -> bytes:
        """The rest of the body (an error answer's), at most ``Limits.max_response_bytes``."""
        try:
            body = _read_all(self._resp, self.headers.get("content-encoding"),
                             self._transport._limits.max_response_bytes)
        except BaseException as exc:
            self._discard()
            if isinstance(exc, OSError | http.client.HTTPException):
                raise _connection_error(exc, self._url) from exc
            raise
        self._finish()
        return body

    def close(self) -> None:
        """Release the connection: pooled if the body was read to its end, else closed."""
        if self._conn is not None:
            if not self._resp.isclosed() and self._resp.length == 0:
                self._resp.close()  # every byte its Content-Length announced has been read
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
            _drop(self._conn, self._resp)
            self._conn = None


def _read_all(resp: http.client.HTTPResponse, encoding: str | None, limit: int) -> bytes:
    """The whole body, decoded, at most ``limit`` bytes; the answer is complete and closed after."""
    inflate = None if encoding is None else _inflater(encoding)
    if inflate is None and resp.length is not None and resp.length > limit:
        raise body_too_large(limit)  # announced too large: refuse before reading any of it
    pieces: list[bytes] = []
    size = 0
    read1 = resp.read1
    while data := read1(_READ_SIZE):
        if inflate is not None:
            try:
                data = inflate.decompress(data, limit - size + 1)
            except zlib.error as exc:
                raise _bad_encoding(encoding) from exc
        size += len(data)
        if size > limit:
            raise body_too_large(limit)
        pieces.append(data)
        if resp.length == 0:
            break
    _complete(resp, inflate)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _complete(resp: http.client.HTTPResponse, inflate: Any) -> None:
    """After the last read: a body cut short of its Content-Length is a connection failure, as
    aiohttp reports it (the server or a proxy dropped the connection mid-answer; the bytes that
    did arrive are not an answer). Otherwise the answer is closed, so its connection may be pooled."""
    if resp.length:
        raise http.client.IncompleteRead(b"", resp.length)
    if inflate is not None and not inflate.eof:
        raise APIResponseValidationError("the answer's compressed body ended before its end marker")
    resp.close()


def _inflater(encoding: str | None) -> Any:
    """A zlib decompressor for a gzip or deflate body, None for an identity one.

    http.client asks for ``Accept-Encoding: identity``, but a server may compress anyway; the
    body is decoded like aiohttp decodes it on the async side, incrementally and bounded."""
    if encoding is None:
        return None
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected
    raise APIResponseValidationError(f"the answer is encoded with {name[:40]!r}, which routerlib cannot decode "
                                     f"(it asks for identity; gzip and deflate are decoded)", retryable=False)


def _inflate_pieces(inflate: Any, data: bytes, conn: _Connection | None) -> Iterator[bytes]:
    """A compressed stream's read, decoded in pieces of at most ``_READ_SIZE`` bytes; the
    exchange's deadline is checked between pieces, as a bomb can inflate for a long time."""
    try:
        while data:
            piece = inflate.decompress(data, _READ_SIZE)
            if piece:
                yield piece
            data = inflate.unconsumed_tail
            if data and conn is not None and time.monotonic() > conn.clock.deadline:
                raise TimeoutError("the deadline of the exchange passed")
    except zlib.error as exc:
        raise _bad_encoding("gzip/deflate") from exc


def _bad_encoding(encoding: str | None) -> APIResponseValidationError:
    return APIResponseValidationError(f"the answer's {encoding} body is corrupt")


def _drop(conn: _Connection, resp: _Response) -> None:
    """Close ``conn``, and the socket its answer holds if the connection was to close after it
    (http.client has closed that connection already; the socket closes with its last holder)."""
    conn.close()
    holder = resp.holder
    if holder is not None:
        resp.holder = None
        holder.close()


def _close_idle(pools: dict[_Key, list[_Connection]]) -> None:
    for conns in pools.values():
        while conns:
            conns.pop().close()


def _forget(conn: _Connection) -> None:
    """Release this process's copy of ``conn``'s socket without shutdown or TLS close_notify."""
    sock, conn.sock = conn.sock, None
    if sock is not None:
        with contextlib.suppress(OSError):
            os.close(sock.detach())


def _is_dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed (or spoiled) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _connection_error(exc: BaseException, url: str) -> RouterlibError:
    if isinstance(exc, RouterlibError):
        return exc
    if isinstance(exc, socket.timeout | TimeoutError):
        return APITimeoutError(f"timed out talking to {origin(url)}")
    if isinstance(exc, http.client.IncompleteRead):
        short = f"{exc.expected:,} bytes short of its Content-Length" if exc.expected else "before its end"
        return APIConnectionError(f"the connection to {origin(url)} closed {short}: the answer is incomplete")
    return APIConnectionError(f"connection to {origin(url)} failed: {type(exc).__name__}: {exc}")
