"""Asynchronous transport on aiohttp, one connection pool per event loop.

Chosen by measurement (benchmarks/): at 200 requests in flight aiohttp serves several
times the request rate of ``httpx.AsyncClient`` on these machines, whose pool scan
dominates under concurrency. aiohttp is imported on the first async call, not at
``import routerlib``.

aiohttp sessions are bound to the loop they were created in, so the transport keeps one
session per running loop (``asyncio.run`` twice gives two loops, hence two pools). A pool
is closed inside its loop when the loop shuts down: each session has an async generator
parked at its ``yield`` whose ``finally`` closes it, and ``asyncio.run`` (like any
``asyncio.Runner``) ends by closing the loop's async generators. Sessions of loops closed
without that step are dropped when the next one is made. The dicts of sessions are changed
under a lock (threads may each run a loop); the per-call lookup reads without it.

The same rules as the sync transport, with aiohttp's means: no redirect is followed
(``allow_redirects=False``), no request is re-sent by aiohttp itself (its retry of an
idempotent request on a stale keep-alive connection is off), sizes are bounded by ``Limits``
(aiohttp decompresses incrementally as the body is read, so counting what is read bounds a
bomb), a stream's headers must arrive within ``timeout``, and a forked child never uses its
parent's sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import APIConnectionError, APITimeoutError, RouterlibError
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

if TYPE_CHECKING:
    import aiohttp

_HEADER_LINES = 100  # http.client's limit, so that both transports accept the same answers
#: Sessions a forked child inherited: kept referenced, so that they are never closed (or
#: collected) in the child, which would act on the parent's sockets and event-loop state.
_INHERITED: list[object] = []


class AsyncTransport:
    """Pooled HTTP/1.1 over aiohttp; safe to share between loops and threads (one pool per loop)."""

    def __init__(self, *, limit: int = 1000, limit_per_host: int = 0, limits: Limits | None = None) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._limits = limits if limits is not None else DEFAULT_LIMITS
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._timeouts: dict[float, Any] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        """One request with its whole answer; ``timeout`` bounds it from connect to the last byte."""
        session = self._sessions.get(asyncio.get_running_loop())
        if session is None or session.closed or self._pid != os.getpid():
            session = await self._session()
        try:
            async with session.request(request.method, request.url, data=request.body, headers=request.headers,
                                       timeout=self._timeout(timeout), allow_redirects=False) as resp:
                headers = self._head(resp, request.url)
                body = await _read_all(resp.content, self._limits.max_response_bytes)
                return HTTPResponse(resp.status, headers, body)
        except RouterlibError:
            raise
        except Exception as exc:
            raise _connection_error(exc, request.url, self._limits) from exc

    async def stream(self, request: HTTPRequest, timeout: float, total: float | None = None
                     ) -> AsyncStreamResponse:
        """``timeout`` bounds connect and headers, and each wait for body data; ``total``, if
        given, the whole exchange from connect to the last byte."""
        session = self._sessions.get(asyncio.get_running_loop())
        if session is None or session.closed or self._pid != os.getpid():
            session = await self._session()
        head = timeout if total is None or total > timeout else total
        try:
            # aiohttp's sock_read bounds each read, not the sum: a server trickling its
            # headers a byte at a time is stopped by this deadline instead.
            async with _deadline(head):
                resp = await session.request(request.method, request.url, data=request.body,
                                             headers=request.headers, allow_redirects=False,
                                             timeout=self._stream_timeout(timeout, total))
        except Exception as exc:
            raise _connection_error(exc, request.url, self._limits) from exc
        try:
            headers = self._head(resp, request.url)
        except BaseException:
            resp.close()
            raise
        return AsyncStreamResponse(resp, headers, request.url, self._limits)

    async def aclose(self) -> None:
        """Close the pool of the running loop (others are closed with their loops)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            session = self._sessions.pop(loop, None)
            closer = self._closers.pop(loop, None)
        if closer is not None:
            await closer.aclose()
        if session is not None:
            await session.close()

    def _head(self, resp: aiohttp.ClientResponse, url: str) -> dict[str, str]:
        """The answer's headers, once it is known not to be a redirect nor over the header limit."""
        if 300 <= resp.status < 400:
            resp.close()
            raise redirect_error(resp.status, resp.headers.get("location"), url)
        raw = resp.raw_headers
        limit = self._limits.max_header_bytes
        if sum(map(len, itertools.chain.from_iterable(raw))) + 4 * len(raw) > limit:
            resp.close()
            raise headers_too_large(limit)
        return _lower(resp.headers)

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            session = self._sessions.get(loop)
            if session is not None and not session.closed:
                return session  # another task of this loop made it meanwhile
            session = self._new_session(loop)
            closer = _close_with_loop(session, self._pid)
            self._closers[loop] = closer
        await closer.__anext__()  # parked: the loop's shutdown_asyncgens() will run its finally
        return session

    def _new_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        """A session for ``loop`` (called under the lock); sessions of closed loops are dropped."""
        import aiohttp

        for old_loop in [lp for lp in self._sessions if lp.is_closed()]:
            _abandon(self._sessions.pop(old_loop))
            self._closers.pop(old_loop, None)
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit_per_host)
        # No cookies, no environment proxies: a routing library must send exactly what the
        # adapter described. Header lines may be as long as the whole header limit (checked
        # after), and as many as http.client accepts.
        line = self._limits.max_header_bytes
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                        auto_decompress=True, trust_env=False, max_line_size=line,
                                        max_field_size=line, max_headers=_HEADER_LINES)
        # aiohttp re-sends an idempotent request once when a pooled connection turns out to be
        # closed; the server may have processed the first one. The policy is the only retry owner.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._sessions[loop] = session
        return session

    def _after_fork(self) -> None:
        """In a forked child: the parent's sessions are forgotten, kept referenced so that nothing
        closes them here (that would act on the parent's sockets: TLS close_notify, event-loop
        registrations shared through the inherited epoll). The lock is replaced first, since a
        parent thread may have held it when the process forked."""
        self._lock = threading.Lock()
        _INHERITED.append((self._sessions, self._closers))
        self._sessions = {}
        self._closers = {}
        self._pid = os.getpid()

    def _timeout(self, seconds: float) -> Any:
        """A whole answer must arrive within ``seconds``, connect and headers included."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = aiohttp.ClientTimeout(total=seconds)
            if len(self._timeouts) > 256:
                self._timeouts.clear()
            self._timeouts[seconds] = timeout
        return timeout

    @staticmethod
    def _stream_timeout(seconds: float, total: float | None) -> Any:
        """No read waits longer than ``seconds``; the whole exchange takes at most ``total``."""
        import aiohttp

        return aiohttp.ClientTimeout(total=total, sock_connect=seconds, sock_read=seconds)


def _deadline(seconds: float) -> Any:
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    import async_timeout  # type: ignore[import-not-found]  # aiohttp's own dependency before 3.11

    return async_timeout.timeout(seconds)


class AsyncStreamResponse:
    """A streamed answer; ``aclose()`` releases the connection (pooled if fully read)."""

    def __init__(self, resp: aiohttp.ClientResponse, headers: Mapping[str, str], url: str, limits: Limits) -> None:
        self.status = resp.status
        self.headers = headers
        self._resp = resp
        self._url = url
        self._limits = limits

    async def lines(self) -> AsyncIterator[bytes]:
        """The body's lines; CRLF, LF or a lone CR ends one. Past ``Limits.max_line_bytes``
        in one line, ``ResponseTooLargeError``."""
        content = self._resp.content
        feed = (splitter := LineSplitter(self._limits.max_line_bytes)).feed
        try:
            while data := await content.readany():
                for line in feed(data):
                    yield line
        except BaseException as exc:
            self._resp.close()
            if isinstance(exc, Exception) and not isinstance(exc, RouterlibError):
                raise _connection_error(exc, self._url, self._limits) from exc
            raise
        last = splitter.flush()
        if last:
            yield last
        self._resp.release()

    async def read(self) -> bytes:
        """The rest of the body (an error answer's), at most ``Limits.max_response_bytes``."""
        try:
            body = await _read_all(self._resp.content, self._limits.max_response_bytes)
        except BaseException as exc:
            self._resp.close()
            if isinstance(exc, Exception) and not isinstance(exc, RouterlibError):
                raise _connection_error(exc, self._url, self._limits) from exc
            raise
        self._resp.release()
        return body

    async def aclose(self) -> None:
        if self._resp.content.at_eof():
            self._resp.release()
        else:
            self._resp.close()


async def _read_all(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole (decoded) body, at most ``limit`` bytes: aiohttp decompresses as it is read,
    so a compressed bomb is stopped here with at most ``limit`` bytes in memory."""
    pieces: list[bytes] = []
    size = 0
    while data := await content.readany():
        size += len(data)
        if size > limit:
            raise body_too_large(limit)
        pieces.append(data)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def _close_with_loop(session: aiohttp.ClientSession, pid: int) -> AsyncGenerator[None, None]:
    """Closes ``session`` in its own loop when the loop closes its async generators (only in
    the process that made it: a forked child must leave the parent's connections alone)."""
    try:
        yield
    finally:
        if os.getpid() == pid:
            await session.close()


def _abandon(session: aiohttp.ClientSession) -> None:
    """Forget a session whose loop is gone: its sockets close with the loop's transports."""
    connector = session.connector
    if connector is not None:
        connector._close()  # the loop is closed: only the synchronous part can run
    session._connector = None


def _connection_error(exc: BaseException, url: str, limits: Limits) -> RouterlibError:
    if isinstance(exc, RouterlibError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return APITimeoutError(f"timed out talking to {origin(url)}")
    oversized = _oversized_head(exc)
    if oversized:
        return headers_too_large(limits.max_header_bytes, oversized)
    return APIConnectionError(f"connection to {origin(url)} failed: {type(exc).__name__}: {exc}")


def _oversized_head(exc: BaseException) -> str:
    """aiohttp's parser refusing a header line or count, if that is what ``exc`` comes from."""
    from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, LineTooLong) or (
                isinstance(cause, BadHttpMessage) and "too many headers" in str(cause).lower()):
            return str(cause.message if isinstance(cause, BadHttpMessage) else cause)[:200]
        cause = cause.__cause__
    return ""
