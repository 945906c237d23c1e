"""The transport seam: what adapters ask for, and what transports give back.

Adapters describe a request as an ``HTTPRequest`` value and never do I/O; a transport sends
it and returns status, headers and body (or a byte stream). Transports never retry and never
re-send: the reliability policy is the single retry owner, so the number of requests a server
sees is exactly the number of attempts the policy made.

Failures become ``APIConnectionError`` / ``APITimeoutError`` in the transport, at one
boundary, with the underlying exception chained. What a server may send is bounded by
``Limits`` (``ResponseTooLargeError`` past a bound), and a redirect is never followed
(``RedirectError``): the rules both transports share live here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

from ..exceptions import InvalidRequestError, RedirectError, ResponseTooLargeError

_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a server may send; past one, ``ResponseTooLargeError`` and reading stops.

    One frozen value, given to ``SyncTransport(limits=...)`` and ``AsyncTransport(limits=...)``;
    both transports apply every field the same way. Time is bounded separately, by the
    ``timeout`` and ``total`` of each exchange.
    """

    max_response_bytes: int = 32 * _MiB
    """The decoded body of a whole answer (``send``, and the error body a stream's ``read()``
    returns), counted after gzip/deflate decompression, so a compressed bomb stops here too.
    32 MiB holds the largest non-streamed answers seen in practice with room to spare (128k
    output tokens are ~1 MB of JSON; ``top_logprobs=20`` over 16k tokens ~18 MB; minutes of
    base64 audio ~4 MB each) while capping what one call in flight can hold. A streamed body
    is not counted against it: a stream is bounded by time (``total``) and per line."""

    max_line_bytes: int = 8 * _MiB
    """One line of a streamed body (one SSE field, i.e. one event's data line). Lines are
    buffered in pieces, so memory per stream stays below this. 8 MiB, not less, because a
    Gemini image-output stream carries a whole base64 image (a few MB) in one event."""

    max_header_bytes: int = 64 * 1024
    """The status line and header block of an answer, interim (1xx) answers included. Real
    providers send 1-4 KiB; 64 KiB is http.client's own cap on one header line, so nothing
    it would accept line by line is refused, while a trickled or endless header block stops
    early. http.client's limit of 100 header lines applies on both transports."""

    def __post_init__(self) -> None:
        for name in ("max_response_bytes", "max_line_bytes", "max_header_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise InvalidRequestError(f"Limits({name}={value!r}): must be a whole number of bytes > 0")


DEFAULT_LIMITS = Limits()


class LineSplitter:
    """Body bytes in, complete lines out (without their line endings), in linear time.

    A line ends at CRLF, LF or a lone CR, as the SSE specification says; a CRLF split across
    two reads is one ending. An unfinished line is kept as a list of pieces and joined once
    when it ends: re-concatenating ``pending + data`` on every read would make a line that
    arrives in many small reads cost quadratic time. Once an unfinished or complete line passes
    ``max_line`` bytes, ``ResponseTooLargeError``: the memory a stream holds stays bounded.
    """

    __slots__ = ("_cr", "_max", "_pieces", "_size")

    def __init__(self, max_line: int) -> None:
        self._pieces: list[bytes] = []
        self._size = 0
        self._cr = False
        self._max = max_line

    def feed(self, data: bytes) -> list[bytes]:
        """The lines that ``data`` completes (possibly none)."""
        if self._cr:  # the last read ended in CR: a LF now is the second half of that CRLF
            self._cr = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            data = self._normalise(data)
        lines = data.split(b"\n")
        rest = lines.pop()
        pieces = self._pieces
        if pieces:
            if not lines:
                self._keep(rest)
                return lines
            self._keep(lines[0])
            lines[0] = b"".join(pieces)
            pieces.clear()
            self._size = 0
        if rest:
            self._keep(rest)
        if len(data) > self._max:
            for line in lines:
                if len(line) > self._max:
                    raise self._too_long()
        return lines

    def flush(self) -> bytes | None:
        """The unfinished last line at the end of the body, if any."""
        if not self._pieces:
            return None
        line = b"".join(self._pieces)
        self._pieces.clear()
        self._size = 0
        return line

    def _normalise(self, data: bytes) -> bytes:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:  # lone CRs end lines too
            self._cr = data.endswith(b"\r")
            data = data.replace(b"\r", b"\n")
        return data

    def _keep(self, piece: bytes) -> None:
        self._pieces.append(piece)
        self._size += len(piece)
        if self._size > self._max:
            self._pieces.clear()
            raise self._too_long()

    def _too_long(self) -> ResponseTooLargeError:
        return ResponseTooLargeError(f"a line of the streamed answer went past Limits.max_line_bytes "
                                     f"({self._max:,} bytes); reading stopped there")


def body_too_large(limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(f"the answer's body went past Limits.max_response_bytes ({limit:,} bytes, "
                                 f"counted after decompression); reading stopped there")


def headers_too_large(limit: int, detail: str = "") -> ResponseTooLargeError:
    more = f" ({detail})" if detail else ""
    return ResponseTooLargeError(f"the answer's status line and headers went past Limits.max_header_bytes "
                                 f"({limit:,} bytes) or the 100-line limit{more}")


def redirect_error(status: int, location: str | None, url: str) -> RedirectError:
    """A 3xx answer as an error naming where it pointed: origin only, never path, query or userinfo."""
    target = _location_origin(location, url) if location else "nowhere (no Location header)"
    return RedirectError(f"the server answered {status} redirect to {target}; routerlib does not follow "
                         f"redirects (they would carry the provider's key to another origin): set api_base "
                         f"to the final URL", status_code=status)


def _location_origin(location: str, url: str) -> str:
    try:
        parts = urlsplit(urljoin(url, location.strip()))
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unparseable Location"
    if parts.scheme not in ("http", "https") or not host:
        return f"a {parts.scheme or 'relative'}: URL" if parts.scheme.isalnum() else "an unparseable Location"
    if not all(c.isalnum() or c in ".-:[]" for c in host) or len(host) > 255:
        return "an unparseable Location"
    return origin_of(parts.scheme, host, port)


def origin(url: str) -> str:
    """Scheme, host, port and path of a URL, for messages: never its query (which may carry a key,
    as Gemini's ``?key=`` does) nor its userinfo (``user:pass@``)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return origin_of(parts.scheme, parts.hostname or "", port) + parts.path


def origin_of(scheme: str, host: str, port: int | None) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


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
        """The body's lines without their line endings (CRLF, LF or a lone CR), to the end of the
        body; ``ResponseTooLargeError`` past ``Limits.max_line_bytes`` in one line."""
        ...

    def read(self) -> bytes:
        """The rest of the body (for error answers), at most ``Limits.max_response_bytes``."""
        ...

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its end."""
        ...


class AsyncStreamResponse(Protocol):
    """The async twin of ``StreamResponse``: iterate ``lines()``, then ``aclose()``."""

    status: int
    headers: Mapping[str, str]

    def lines(self) -> AsyncIterator[bytes]:
        ...

    async def read(self) -> bytes:
        ...

    async def aclose(self) -> None:
        ...


class TransportProtocol(Protocol):
    """Sends requests synchronously over pooled connections.

    ``send``: ``timeout`` bounds the whole exchange, from connect to the last byte of the body.
    ``stream``: ``timeout`` bounds connecting and receiving the status line and headers, and
    each wait for body data; ``total`` (seconds, optional: the core passes the time left of the
    call's deadline) bounds the whole exchange, so each wait gets at most what is left of it.
    Neither follows a redirect: a 3xx raises ``RedirectError``.
    """

    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        ...

    def stream(self, request: HTTPRequest, timeout: float, total: float | None = None) -> StreamResponse:
        ...

    def close(self) -> None:
        ...


class AsyncTransportProtocol(Protocol):
    """Sends requests from an event loop over pooled connections; timeouts as ``TransportProtocol``."""

    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        ...

    async def stream(self, request: HTTPRequest, timeout: float,
                     total: float | None = None) -> AsyncStreamResponse:
        ...

    async def aclose(self) -> None:
        ...
