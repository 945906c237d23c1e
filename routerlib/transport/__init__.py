"""HTTP transports: the only place routerlib does network I/O.

``SyncTransport`` (stdlib http.client, pooled per client) and ``AsyncTransport`` (aiohttp,
pooled per event loop) implement the ``Transport`` / ``AsyncTransport`` protocols of
``_base``; ``MockTransport`` / ``AsyncMockTransport`` are in-memory fakes for unit tests.
"""

from ._async import AsyncTransport
from ._base import (
    AsyncStreamResponse,
    AsyncTransportProtocol,
    HTTPRequest,
    HTTPResponse,
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
    "MockTransport",
    "StreamResponse",
    "SyncTransport",
    "TransportProtocol",
]
