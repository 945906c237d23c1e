"""The transport seam: what adapters ask for, and what transports give back.

Adapters describe a request as an ``HTTPRequest`` value and never do I/O; a transport sends
it and returns status, headers and body (or a byte stream). Transports never retry: the
reliability policy is the single retry owner, so the number of requests a server sees is
exactly the number of attempts the policy made.

Failures become ``APIConnectionError`` / ``APITimeoutError`` in the transport, at one
boundary, with the underlying exception chained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import NamedTuple, Protocol


def split_lines(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (line endings removed) from ``pending + data``, and the unfinished rest."""
    if pending:
        data = pending + data
    *complete, rest = data.split(b"\n")
    return [line[:-1] if line.endswith(b"\r") else line for line in complete], rest


class HTTPRequest(NamedTuple):
    """A plain description of one HTTP request."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


class HTTPResponse(NamedTuple):
    """A complete answer. ``headers`` have lower-case names."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamResponse(Protocol):
    """An answer whose body arrives in pieces: iterate ``lines()``, then ``close()``."""

    status: int
    headers: Mapping[str, str]

    def lines(self) -> Iterator[bytes]:
        """The body's lines without their line endings, to the end of the body."""
        ...

    def read(self) -> bytes:
        """The rest of the body (for error answers)."""
        ...

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its end."""
        ...


class AsyncStreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]

    def lines(self) -> AsyncIterator[bytes]:
        ...

    async def read(self) -> bytes:
        ...

    async def aclose(self) -> None:
        ...


class TransportProtocol(Protocol):
    """Sends requests synchronously over pooled connections."""

    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        ...

    def stream(self, request: HTTPRequest, timeout: float) -> StreamResponse:
        ...

    def close(self) -> None:
        ...


class AsyncTransportProtocol(Protocol):
    """Sends requests from an event loop over pooled connections."""

    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        ...

    async def stream(self, request: HTTPRequest, timeout: float) -> AsyncStreamResponse:
        ...

    async def aclose(self) -> None:
        ...
