"""routerlib.transport._async: the aiohttp transport, one pool per event loop, against a real loopback server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from core_helpers import MESSAGES, MODEL
from loopback_server import LoopbackServer, free_port

import routerlib
from routerlib import exceptions as ex
from routerlib.testing import MockServer
from routerlib.transport import AsyncTransport, HTTPRequest

SECRET = "sk-live-SECRET-9876"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


def post(server: LoopbackServer, path: str) -> HTTPRequest:
    return HTTPRequest("POST", server.base + path, {"content-type": "application/json",
                                                     "authorization": f"Bearer {SECRET}"}, b"{}")


async def test_send_returns_status_lowercase_headers_and_body(server: LoopbackServer) -> None:
    transport = AsyncTransport()
    try:
        response = await transport.send(post(server, "/json?status=201"), 5)
        assert response.status == 201
        assert response.headers["x-request-id"] == "req_loopback"
        assert response.body == b'{"ok": true, "path": "/json"}'
        assert server.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    finally:
        await transport.aclose()


async def test_connection_reused_across_calls_and_streams(server: LoopbackServer) -> None:
    transport = AsyncTransport()
    try:
        for _ in range(3):
            assert (await transport.send(post(server, "/json"), 5)).status == 200
        for _ in range(2):
            stream = await transport.stream(post(server, "/sse?n=4"), 5)
            lines = [line async for line in stream.lines()]
            await stream.aclose()
            assert lines[0] == b'data: {"i": 0}'
            assert lines.count(b"") == 5, "CRLF line endings are stripped"
        assert (await transport.send(post(server, "/json"), 5)).status == 200
        assert server.connections == 1
    finally:
        await transport.aclose()


async def test_stale_keep_alive_connection_is_not_reused(server: LoopbackServer) -> None:
    transport = AsyncTransport()
    try:
        server.closed_by_server.clear()
        assert (await transport.send(post(server, "/close-after"), 5)).status == 200
        assert await asyncio.to_thread(server.closed_by_server.wait, 2)
        await asyncio.sleep(0.02)  # let the loop see the FIN
        assert (await transport.send(post(server, "/json"), 5)).status == 200
        assert server.connections == 2
    finally:
        await transport.aclose()


async def test_closed_early_stream_does_not_poison_the_pool(server: LoopbackServer) -> None:
    transport = AsyncTransport()
    try:
        stream = await transport.stream(post(server, "/slow-sse?n=20&delay=0.01"), 5)
        lines = stream.lines()
        assert (await lines.__anext__()).startswith(b"data:")
        await lines.aclose()
        await stream.aclose()
        for _ in range(3):
            assert (await transport.send(post(server, "/json"), 5)).status == 200
        assert server.connections == 2
    finally:
        await transport.aclose()


async def test_timeout_is_api_timeout_error(server: LoopbackServer) -> None:
    transport = AsyncTransport()
    try:
        started = time.monotonic()
        with pytest.raises(ex.APITimeoutError) as info:
            await transport.send(post(server, "/hang?key=" + SECRET), 0.2)
        assert time.monotonic() - started < 2
        assert isinstance(info.value.__cause__, asyncio.TimeoutError | TimeoutError)
        assert SECRET not in str(info.value) and "?key" not in str(info.value)
    finally:
        await transport.aclose()


async def test_stream_timeout_applies_per_read_not_to_the_whole_stream(server: LoopbackServer) -> None:
    # Like the sync transport's socket timeout: a stream may outlast the timeout as long as
    # chunks keep arriving; a gap longer than the timeout fails.
    transport = AsyncTransport()
    try:
        stream = await transport.stream(post(server, "/slow-sse?n=6&delay=0.06"), 0.25)
        lines = [line async for line in stream.lines()]
        await stream.aclose()
        assert b"data: [DONE]" in lines
        stream = await transport.stream(post(server, "/slow-sse?n=2&delay=0.5"), 0.15)
        with pytest.raises(ex.APITimeoutError):
            _ = [line async for line in stream.lines()]
        await stream.aclose()
    finally:
        await transport.aclose()


async def test_refused_connection_is_api_connection_error_with_cause() -> None:
    import aiohttp

    transport = AsyncTransport()
    try:
        url = f"http://127.0.0.1:{free_port()}/v1/chat/completions?key={SECRET}"
        with pytest.raises(ex.APIConnectionError) as info:
            await transport.send(HTTPRequest("POST", url, {"authorization": f"Bearer {SECRET}"}, b"{}"), 2)
        assert type(info.value) is ex.APIConnectionError
        assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)
        assert SECRET not in str(info.value) and "key=" not in str(info.value)
    finally:
        await transport.aclose()


def test_one_session_per_event_loop(server: LoopbackServer) -> None:
    transport = AsyncTransport()

    async def two_calls() -> object:
        await transport.send(post(server, "/json"), 5)
        session = transport._sessions[asyncio.get_running_loop()]
        await transport.send(post(server, "/json"), 5)
        assert transport._sessions[asyncio.get_running_loop()] is session
        return session

    first = asyncio.run(two_calls())
    assert first.closed, "the pool was closed inside its loop when asyncio.run ended"  # type: ignore[attr-defined]
    second = asyncio.run(two_calls())
    assert first is not second, "a loop's session is never used from another loop"
    assert len(transport._sessions) == 1, "the closed loop's session was dropped"
    assert server.connections == 2, "one connection per loop, reused within it"

    async def close() -> None:
        await transport.aclose()

    asyncio.run(close())


def test_client_acompletion_across_two_asyncio_runs() -> None:
    with MockServer(reply="pong") as mock:
        client = routerlib.Client(environ={})

        async def call() -> str:
            response = await client.acompletion(MODEL, MESSAGES, api_base=mock.url, api_key=SECRET)
            stream = await client.acompletion(MODEL, MESSAGES, api_base=mock.url, api_key=SECRET, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert isinstance(response, routerlib.ModelResponse)
            return f"{response.choices[0].message.content}/{text}"

        assert asyncio.run(call()) == "pong/pong"
        assert asyncio.run(call()) == "pong/pong"
        asyncio.run(client.aclose())
        assert len(mock.requests) == 4


async def test_client_async_stream_longer_than_timeout() -> None:
    with MockServer(reply="a b c d e f", chunk_delay=0.04) as mock:
        client = routerlib.Client(environ={}, timeout=0.15)
        try:
            stream = await client.acompletion(MODEL, MESSAGES, api_base=mock.url, api_key=SECRET, stream=True,
                                              num_retries=0)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text == "a b c d e f"
        finally:
            await client.aclose()
