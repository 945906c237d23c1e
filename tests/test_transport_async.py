"""routerlib.transport._async: the aiohttp transport, one pool per event loop, against a real loopback server."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from urllib.parse import quote, urlsplit

import loopback_server as hostile
import pytest
from core_helpers import MESSAGES, MODEL
from loopback_server import LoopbackServer, RawHandler, RawServer, free_port

import routerlib
from routerlib import exceptions as ex
from routerlib.testing import MockServer
from routerlib.transport import AsyncTransport, HTTPRequest, Limits

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


# -- hostile servers (issue 10) and the pool's own state (issue 9)


@pytest.fixture
def raw() -> Iterator[Callable[[RawHandler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: RawHandler) -> RawServer:
        servers.append(RawServer(handler).start())
        return servers[-1]

    yield start
    for srv in servers:
        srv.stop()


def post_to(url: str, method: str = "POST") -> HTTPRequest:
    return HTTPRequest(method, url, {"content-type": "application/json", "authorization": f"Bearer {SECRET}"},
                       b"{}" if method == "POST" else b"")


async def test_stream_framed_by_content_length_then_a_call_on_the_same_connection(
        raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.sse_framed_by_content_length)
    transport = AsyncTransport()
    try:
        stream = await transport.stream(post_to(server.base + "/sse-cl"), 5)
        assert [line async for line in stream.lines()] == [b'data: {"i": 0}', b"", b"data: [DONE]", b""]
        await stream.aclose()
        assert (await transport.send(post_to(server.base + "/json"), 5)).body == hostile.OK_JSON
        assert len(server.requests) == 2 and len({r.port for r in server.requests}) == 1
    finally:
        await transport.aclose()


async def test_aiohttp_never_sends_a_request_again_on_a_stale_connection(
        raw: Callable[[RawHandler], RawServer]) -> None:
    # aiohttp re-sends an idempotent request once when a pooled connection was closed under it;
    # the server may have processed the first. Only the policy may retry.
    server = raw(hostile.second_request_unanswered)
    transport = AsyncTransport()
    try:
        assert (await transport.send(post_to(server.base + "/a", "GET"), 5)).status == 200
        with pytest.raises(ex.APIConnectionError):
            await transport.send(post_to(server.base + "/b", "GET"), 5)
        assert [r.path for r in server.requests] == ["/a", "/b"], "the unanswered request was not sent again"
    finally:
        await transport.aclose()


def _echo_calls(transport: AsyncTransport, loop: asyncio.AbstractEventLoop, server: LoopbackServer,
                who: str) -> list[str]:
    async def calls() -> list[str]:
        wrong = []
        for i in range(20):
            ident = f"{who}-{i}"
            answer = await transport.send(HTTPRequest("POST", server.base + "/echo", {},
                                                      json.dumps({"id": ident}).encode()), 5)
            if json.loads(answer.body)["id"] != ident:
                wrong.append(ident)
        return wrong

    return loop.run_until_complete(calls())


def test_forked_child_never_uses_the_parents_session(server: LoopbackServer) -> None:
    # The worst case: the child goes on with the parent's own loop object, whose session (and
    # its idle keep-alive connection) the transport would otherwise find for it.
    transport = AsyncTransport()
    loop = asyncio.new_event_loop()
    try:
        assert _echo_calls(transport, loop, server, "warm") == []
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, and never return into pytest
            code = 1
            try:
                os.close(read_end)
                os.write(write_end, json.dumps(_echo_calls(transport, loop, server, "child")).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)  # one after the other: two processes on one epoll is asyncio's problem
        with os.fdopen(read_end, "rb") as report:
            assert json.loads(report.read() or b'["no report"]') == []
        assert os.waitstatus_to_exitcode(status) == 0
        assert _echo_calls(transport, loop, server, "parent") == []
        assert server.connections == 2, "the child opened its own connection; the parent kept using its own"
        assert len(server.requests) == 60
        loop.run_until_complete(transport.aclose())
    finally:
        loop.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_redirect_is_a_typed_error_and_is_never_followed(server: LoopbackServer, status: int,
                                                               mode: str) -> None:
    other = LoopbackServer().start()
    transport = AsyncTransport()
    try:
        target = other.base.replace("http://", "http://user:hunter2@") + "/v1/steal?key=" + SECRET
        request = HTTPRequest("POST", server.base + f"/redirect?status={status}&to={quote(target)}",
                              {"x-api-key": SECRET, "api-key": SECRET, "x-goog-api-key": SECRET}, b"{}")
        with pytest.raises(ex.RedirectError) as info:
            await (transport.send(request, 5) if mode == "send" else transport.stream(request, 5))
        error = info.value
        assert error.status_code == status and not error.retryable and error.__cause__ is None
        text = str(error)
        assert f"{status} redirect to {other.base};" in text
        assert "hunter2" not in text and "steal" not in text and SECRET not in text
        assert other.connections == 0 and other.requests == [], "no key reached the other origin"
        assert (await transport.send(post(server, "/json"), 5)).status == 200
    finally:
        await transport.aclose()
        other.stop()


@pytest.mark.parametrize("mode", ["send", "stream"])
async def test_trickled_status_line_and_headers_are_bounded_by_the_timeout(
        raw: Callable[[RawHandler], RawServer], mode: str) -> None:
    timeout = 1.0
    server = raw(hostile.trickled_head(0.25))  # ~20 s of head at that pace
    transport = AsyncTransport()
    try:
        with pytest.raises(ex.APITimeoutError):
            if mode == "send":
                await transport.send(post_to(server.base + "/v1"), timeout)
            else:
                stream = await transport.stream(post_to(server.base + "/v1"), timeout, total=30)
                _ = [line async for line in stream.lines()]
        assert await asyncio.to_thread(server.ended.wait, 30)
        assert server.open_for[0] < timeout * 3, "the server saw the client give up about when its timeout passed"
    finally:
        await transport.aclose()


async def test_stream_total_bounds_the_whole_stream(server: LoopbackServer) -> None:
    transport = AsyncTransport()
    try:
        stream = await transport.stream(post(server, "/slow-sse?n=40&delay=0.05"), 1.0, total=0.5)
        seen: list[bytes] = []
        with pytest.raises(ex.APITimeoutError):
            async for line in stream.lines():  # every event comes well within the 1 s timeout
                seen.append(line)
        await stream.aclose()
        assert 0 < len(seen) < 80 and b"data: [DONE]" not in seen
        stream = await transport.stream(post(server, "/slow-sse?n=3&delay=0.01"), 1.0, total=5)
        assert b"data: [DONE]" in [line async for line in stream.lines()]
        await stream.aclose()
    finally:
        await transport.aclose()


async def test_a_line_that_never_ends_stops_at_max_line_bytes(raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.endless_line(32 * 2**20))
    transport = AsyncTransport(limits=Limits(max_line_bytes=2**20))
    try:
        stream = await transport.stream(post_to(server.base + "/v1"), 5)
        with pytest.raises(ex.ResponseTooLargeError, match=r"max_line_bytes \(1,048,576 bytes\)") as info:
            _ = [line async for line in stream.lines()]
        assert info.value.__cause__ is None
        await stream.aclose()
    finally:
        await transport.aclose()


async def test_an_endless_body_stops_at_max_response_bytes(raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.endless_body(64 * 2**20))
    transport = AsyncTransport(limits=Limits(max_response_bytes=2**20))
    try:
        with pytest.raises(ex.ResponseTooLargeError, match=r"max_response_bytes \(1,048,576 bytes"):
            await transport.send(post_to(server.base + "/v1"), 10)
        stream = await transport.stream(post_to(server.base + "/v1"), 10)
        with pytest.raises(ex.ResponseTooLargeError):  # an error body read from a stream, too
            await stream.read()
    finally:
        await transport.aclose()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """128 MiB of zeros, gzipped to ~130 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    return b"".join([packer.compress(zeros) for _ in range(128)] + [packer.flush()])


async def test_a_gzip_bomb_stops_at_max_response_bytes_with_memory_bounded(
        raw: Callable[[RawHandler], RawServer], gzip_bomb: bytes) -> None:
    server = raw(hostile.encoded(gzip_bomb, "gzip"))
    transport = AsyncTransport(limits=Limits(max_response_bytes=2**20))
    tracemalloc.start()
    try:
        with pytest.raises(ex.ResponseTooLargeError, match="after decompression"):
            await transport.send(post_to(server.base + "/v1"), 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await transport.aclose()
    assert peak < 16 * 2**20, f"peak {peak:,} bytes while inflating a 128 MiB bomb"


async def test_a_body_cut_short_of_its_content_length_is_a_connection_error(
        raw: Callable[[RawHandler], RawServer]) -> None:
    # The same class as the sync transport raises.
    server = raw(hostile.truncated)
    transport = AsyncTransport()
    try:
        with pytest.raises(ex.APIConnectionError) as info:
            await transport.send(post_to(server.base + "/v1"), 5)
        assert type(info.value) is ex.APIConnectionError and info.value.retryable
        stream = await transport.stream(post_to(server.base + "/v1"), 5)
        with pytest.raises(ex.APIConnectionError):
            _ = [line async for line in stream.lines()]
    finally:
        await transport.aclose()


async def test_an_interim_103_is_skipped_and_the_request_sent_once(raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.early_hints)
    transport = AsyncTransport()
    try:
        response = await transport.send(post_to(server.base + "/v1"), 5)
        assert (response.status, response.body) == (200, hostile.OK_JSON)
        assert len(server.requests) == 1
    finally:
        await transport.aclose()


@pytest.mark.parametrize("handler", [hostile.big_head(70, 1000), hostile.big_head(150, 20),
                                     hostile.long_status_line], ids=["block", "lines", "status-line"])
async def test_a_head_past_the_limit_is_a_typed_error(raw: Callable[[RawHandler], RawServer],
                                                      handler: RawHandler) -> None:
    server = raw(handler)
    transport = AsyncTransport()
    try:
        with pytest.raises(ex.ResponseTooLargeError, match="max_header_bytes"):
            await transport.send(post_to(server.base + "/v1"), 5)
        with pytest.raises(ex.ResponseTooLargeError):
            await transport.stream(post_to(server.base + "/v1"), 5)
        server2 = raw(hostile.big_head(40, 1000))
        assert (await transport.send(post_to(server2.base + "/v1"), 5)).headers["x-filler-00039"][:3] == "vvv"
    finally:
        await transport.aclose()


def test_one_transport_from_threads_each_with_its_own_loops(server: LoopbackServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    transport = AsyncTransport()
    errors: list[BaseException] = []
    is_closed = asyncio.BaseEventLoop.is_closed

    def is_closed_letting_others_run(loop: asyncio.BaseEventLoop) -> bool:
        time.sleep(0.0002)  # the transport asks this while it walks its sessions: other threads run meanwhile
        return is_closed(loop)

    monkeypatch.setattr(asyncio.BaseEventLoop, "is_closed", is_closed_letting_others_run)

    async def call() -> None:
        assert (await transport.send(post(server, "/json"), 5)).status == 200

    def worker() -> None:
        try:
            for _ in range(15):
                asyncio.run(call())  # a new loop each time: sessions are made and dropped
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(server.requests) == 60
    assert len(transport._sessions) <= 4, "sessions of closed loops were dropped"


@pytest.mark.parametrize("stream", [False, True])
async def test_client_redirect_is_not_retried_and_reaches_no_other_origin(server: LoopbackServer,
                                                                          stream: bool) -> None:
    other = LoopbackServer().start()
    client = routerlib.Client(environ={})
    try:
        base = server.base + f"/redirect-to/{urlsplit(other.base).port}"
        with pytest.raises(ex.RedirectError) as info:
            await client.acompletion(MODEL, MESSAGES, api_base=base, api_key=SECRET, num_retries=3, stream=stream)
        assert len(info.value.attempts) == 1 and info.value.provider == "openai"
        assert len(server.requests) == 1 and other.connections == 0
        assert SECRET not in str(info.value)
    finally:
        await client.aclose()
        other.stop()
