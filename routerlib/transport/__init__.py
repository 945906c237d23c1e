"""HTTP transports: the only place routerlib does network I/O.

``SyncTransport`` (stdlib http.client, pooled per client) and ``AsyncTransport`` (aiohttp,
pooled per event loop) implement the ``TransportProtocol`` / ``AsyncTransportProtocol`` seams of
``_base``; ``MockTransport`` / ``AsyncMockTransport`` are in-memory fakes for unit tests.
``Limits`` bounds what a server may send (header block, body, one streamed line).
"""

from ._async import AsyncTransport
from ._base import (
    AsyncStreamResponse,
    AsyncTransportProtocol,
    HTTPRequest,
    HTTPResponse,
    Limits,
    StreamResponse,
    TransportProtocol,
)
from ._mock import AsyncMockTransport, MockTransport
from ._sync import SyncTransport

__all__ = [
    "AsyncMockTransport",
    "AsyncStreamResponse",
    "AsyncTransport",
    "AsyncTransportProtocol",
    "HTTPRequest",
    "HTTPResponse",
    "Limits",
    "MockTransport",
    "StreamResponse",
    "SyncTransport",
    "TransportProtocol",
]
