"""routerlib.transport._mounts: requests go to the transport mounted on their URL scheme, with ``total`` passed on."""

from __future__ import annotations

from typing import Any

from core_helpers import ok

from routerlib.transport import AsyncMockTransport, HTTPRequest, MockTransport
from routerlib.transport._mounts import AsyncMountedTransport, MountedTransport


def test_stream_total_reaches_the_transport_mounted_for_the_scheme() -> None:
    http, mock = MockTransport(lambda r: ok()), MockTransport(lambda r: ok())
    mounted = MountedTransport(http, {"mock": mock})
    mounted.stream(HTTPRequest("POST", "https://x/v1", {}), 5.0, total=2.5)
    mounted.stream(HTTPRequest("POST", "mock://m", {}), 4.0)
    assert http.timeouts == [(5.0, 2.5)] and mock.timeouts == [(4.0, None)]


def test_a_transport_written_before_total_still_streams_without_one() -> None:
    class Old:
        def stream(self, request: HTTPRequest, timeout: float) -> Any:
            return ("old", timeout)

    assert MountedTransport(Old(), {}).stream(HTTPRequest("POST", "https://x", {}), 3.0) == ("old", 3.0)


async def test_async_stream_total_is_passed_on() -> None:
    http = AsyncMockTransport(lambda r: ok())
    mounted = AsyncMountedTransport(http, {})
    await mounted.stream(HTTPRequest("POST", "https://x/v1", {}), 5.0, total=1.5)
    await mounted.stream(HTTPRequest("POST", "https://x/v1", {}), 5.0)
    assert http.timeouts == [(5.0, 1.5), (5.0, None)]
