"""In-memory transports for unit tests: a handler function answers every request.

``MockTransport(handler)`` serves both the sync and async seams. The handler receives the
``HTTPRequest`` and returns an ``HTTPResponse`` (its body is split into lines for streams,
by the same ``LineSplitter`` as the real transports) or raises a routerlib error to simulate
a connection failure. ``timeouts`` records the ``(timeout, total)`` each call was given.
Integration tests use real loopback servers instead; this is for fast, exact unit tests of
adapters and policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping

from ._base import DEFAULT_LIMITS, HTTPRequest, HTTPResponse, LineSplitter

Handler = Callable[[HTTPRequest], HTTPResponse]


class MockStreamResponse:
    def __init__(self, response: HTTPResponse) -> None:
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self._body = response.body
        self.closed = False

    def lines(self) -> Iterator[bytes]:
        # Like the real transports: lines without their endings (CRLF, LF or CR), bounded.
        splitter = LineSplitter(DEFAULT_LIMITS.max_line_bytes)
        yield from splitter.feed(self._body)
        yield splitter.flush() or b""

    def read(self) -> bytes:
        return self._body

    def close(self) -> None:
        self.closed = True


class MockAsyncStreamResponse(MockStreamResponse):
    async def lines(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        for line in super().lines():
            yield line

    async def read(self) -> bytes:  # type: ignore[override]
        return self._body

    async def aclose(self) -> None:
        self.closed = True


class MockTransport:
    """Answers every request with ``handler(request)``; records what was sent in ``requests``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[HTTPRequest] = []
        self.timeouts: list[tuple[float, float | None]] = []

    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        self.requests.append(request)
        self.timeouts.append((timeout, None))
        return self.handler(request)

    def stream(self, request: HTTPRequest, timeout: float, total: float | None = None) -> MockStreamResponse:
        self.requests.append(request)
        self.timeouts.append((timeout, total))
        return MockStreamResponse(self.handler(request))

    def close(self) -> None:
        pass


class AsyncMockTransport(MockTransport):
    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:  # type: ignore[override]
        self.requests.append(request)
        self.timeouts.append((timeout, None))
        return self.handler(request)

    async def stream(self, request: HTTPRequest, timeout: float,  # type: ignore[override]
                     total: float | None = None) -> MockAsyncStreamResponse:
        self.requests.append(request)
        self.timeouts.append((timeout, total))
        return MockAsyncStreamResponse(self.handler(request))

    async def aclose(self) -> None:
        pass
