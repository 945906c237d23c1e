"""In-memory transports for unit tests: a handler function answers every request.

``MockTransport(handler)`` serves both the sync and async seams. The handler receives the
``HTTPRequest`` and returns an ``HTTPResponse`` (its body is split into lines for streams)
or raises a routerlib error to simulate a connection failure. Integration tests use real
loopback servers instead; this is for fast, exact unit tests of adapters and policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping

from ._base import HTTPRequest, HTTPResponse, split_lines

Handler = Callable[[HTTPRequest], HTTPResponse]


class MockStreamResponse:
    def __init__(self, response: HTTPResponse) -> None:
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self._body = response.body
        self.closed = False

    def lines(self) -> Iterator[bytes]:
        # Like the real transports: lines without their endings, "\r\n" included.
        complete, rest = split_lines(b"", self._body)
        yield from complete
        yield rest

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

    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        self.requests.append(request)
        return self.handler(request)

    def stream(self, request: HTTPRequest, timeout: float) -> MockStreamResponse:
        self.requests.append(request)
        return MockStreamResponse(self.handler(request))

    def close(self) -> None:
        pass


class AsyncMockTransport(MockTransport):
    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:  # type: ignore[override]
        self.requests.append(request)
        return self.handler(request)

    async def stream(self, request: HTTPRequest, timeout: float  # type: ignore[override]
                     ) -> MockAsyncStreamResponse:
        self.requests.append(request)
        return MockAsyncStreamResponse(self.handler(request))

    async def aclose(self) -> None:
        pass
