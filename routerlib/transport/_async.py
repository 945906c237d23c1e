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
without that step are dropped when the next one is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import APIConnectionError, APITimeoutError
from ._base import HTTPRequest, HTTPResponse, split_lines
from ._sync import _origin

if TYPE_CHECKING:
    import aiohttp

_READ_SIZE = 65536


class AsyncTransport:
    """Pooled HTTP/1.1 over aiohttp; safe to share between loops (one pool per loop)."""

    def __init__(self, *, limit: int = 1000, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._timeouts: dict[tuple[float, bool], Any] = {}

    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        session = self._sessions.get(asyncio.get_running_loop())
        if session is None or session.closed:
            session = await self._session()
        try:
            async with session.request(request.method, request.url, data=request.body,
                                       headers=request.headers, timeout=self._timeout(timeout)) as resp:
                body = await resp.read()
                return HTTPResponse(resp.status, _lower(resp.headers), body)
        except Exception as exc:
            raise _connection_error(exc, request.url) from exc

    async def stream(self, request: HTTPRequest, timeout: float) -> AsyncStreamResponse:
        session = self._sessions.get(asyncio.get_running_loop())
        if session is None or session.closed:
            session = await self._session()
        try:
            resp = await session.request(request.method, request.url, data=request.body,
                                         headers=request.headers, timeout=self._timeout(timeout, stream=True))
        except Exception as exc:
            raise _connection_error(exc, request.url) from exc
        return AsyncStreamResponse(resp, request.url)

    async def aclose(self) -> None:
        """Close the pool of the running loop (others are closed with their loops)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        closer = self._closers.pop(loop, None)
        if closer is not None:
            await closer.aclose()
        if session is not None:
            await session.close()

    async def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._new_session(loop)
        closer = _close_with_loop(session)
        await closer.__anext__()  # parked: the loop's shutdown_asyncgens() will run its finally
        self._closers[loop] = closer
        return session

    def _new_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        import aiohttp

        for old_loop in [lp for lp in self._sessions if lp.is_closed()]:
            _abandon(self._sessions.pop(old_loop))
            self._closers.pop(old_loop, None)
        connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit_per_host)
        # No cookies, no environment proxies, no automatic decompression surprises:
        # a routing library must send exactly what the adapter described.
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                        auto_decompress=True, trust_env=False)
        self._sessions[loop] = session
        return session

    def _timeout(self, seconds: float, *, stream: bool = False) -> Any:
        """A whole answer must arrive within ``seconds``; a stream may take longer in total,
        but no read may wait longer (as the sync transport's socket timeout does)."""
        timeout = self._timeouts.get((seconds, stream))
        if timeout is None:
            import aiohttp

            timeout = (aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds) if stream
                       else aiohttp.ClientTimeout(total=seconds))
            if len(self._timeouts) > 256:
                self._timeouts.clear()
            self._timeouts[(seconds, stream)] = timeout
        return timeout


class AsyncStreamResponse:
    """A streamed answer; ``aclose()`` releases the connection (pooled if fully read)."""

    def __init__(self, resp: aiohttp.ClientResponse, url: str) -> None:
        self.status = resp.status
        self.headers: Mapping[str, str] = _lower(resp.headers)
        self._resp = resp
        self._url = url

    async def lines(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        pending = b""
        try:
            while True:
                data = await content.readany()
                if not data:
                    break
                complete, pending = split_lines(pending, data)
                for line in complete:
                    yield line
        except Exception as exc:
            self._resp.close()
            raise _connection_error(exc, self._url) from exc
        if pending:
            yield pending
        self._resp.release()

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except Exception as exc:
            raise _connection_error(exc, self._url) from exc
        finally:
            self._resp.release()

    async def aclose(self) -> None:
        if self._resp.content.at_eof():
            self._resp.release()
        else:
            self._resp.close()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Closes ``session`` in its own loop when the loop closes its async generators."""
    try:
        yield
    finally:
        await session.close()


def _abandon(session: aiohttp.ClientSession) -> None:
    """Forget a session whose loop is gone: its sockets close with the loop's transports."""
    connector = session.connector
    if connector is not None:
        connector._close()  # the loop is closed: only the synchronous part can run
    session._connector = None


def _connection_error(exc: BaseException, url: str) -> APIConnectionError:
    if isinstance(exc, APIConnectionError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return APITimeoutError(f"timed out talking to {_origin(url)}")
    return APIConnectionError(f"connection to {_origin(url)} failed: {type(exc).__name__}: {exc}")
