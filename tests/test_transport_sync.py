"""routerlib.transport._sync: the pooled http.client transport against a real loopback server."""

from __future__ import annotations

import gzip
import json
import os
import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from urllib.parse import quote, urlsplit

import loopback_server as hostile
import pytest
from core_helpers import MESSAGES, MODEL, complete_stream
from loopback_server import LoopbackServer, RawHandler, RawServer, free_port, http_answer

import routerlib
from routerlib import exceptions as ex
from routerlib.testing import MockServer
from routerlib.transport import HTTPRequest, Limits, SyncTransport

SECRET = "sk-live-SECRET-9876"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def transport() -> Iterator[SyncTransport]:
    tr = SyncTransport()
    yield tr
    tr.close()


def post(server: LoopbackServer, path: str) -> HTTPRequest:
    return HTTPRequest("POST", server.base + path, {"content-type": "application/json",
                                                     "authorization": f"Bearer {SECRET}"}, b"{}")


def test_send_returns_status_lowercase_headers_and_body(server: LoopbackServer, transport: SyncTransport) -> None:
    response = transport.send(post(server, "/json?status=201"), 5)
    assert response.status == 201
    assert response.headers["x-request-id"] == "req_loopback"
    assert response.headers["content-type"] == "application/json"
    assert response.body == b'{"ok": true, "path": "/json"}'
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert server.requests[0]["body"] == b"{}"


def test_connection_reused_across_calls(server: LoopbackServer, transport: SyncTransport) -> None:
    for _ in range(5):
        assert transport.send(post(server, "/json"), 5).status == 200
    assert server.connections == 1


def test_error_statuses_are_returned_not_raised(server: LoopbackServer, transport: SyncTransport) -> None:
    assert transport.send(post(server, "/json?status=503"), 5).status == 503
    assert transport.send(post(server, "/json?status=200"), 5).status == 200
    assert server.connections == 1


def test_connection_reused_across_streams_read_to_the_end(server: LoopbackServer,
                                                          transport: SyncTransport) -> None:
    for _ in range(3):
        stream = transport.stream(post(server, "/sse?n=4"), 5)
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        lines = list(stream.lines())
        stream.close()
        assert lines.count(b"") == 5, "CRLF line endings are stripped"
        assert lines[0] == b'data: {"i": 0}'
        assert b"data: [DONE]" in lines
    assert transport.send(post(server, "/json"), 5).status == 200
    assert server.connections == 1


def test_stale_keep_alive_connection_is_not_reused(server: LoopbackServer, transport: SyncTransport) -> None:
    server.closed_by_server.clear()
    assert transport.send(post(server, "/close-after"), 5).status == 200
    assert server.closed_by_server.wait(2), "the server closed its end"
    time.sleep(0.02)  # let the FIN reach the client's socket
    assert transport.send(post(server, "/json"), 5).status == 200
    assert transport.send(post(server, "/json"), 5).status == 200
    assert server.connections == 2


def test_closed_early_stream_does_not_poison_the_pool(server: LoopbackServer, transport: SyncTransport) -> None:
    stream = transport.stream(post(server, "/slow-sse?n=20&delay=0.01"), 5)
    first = next(iter(stream.lines()))
    assert first.startswith(b"data:")
    stream.close()
    for _ in range(3):
        assert transport.send(post(server, "/json"), 5).body.startswith(b'{"ok": true')
    assert server.connections == 2, "the half-read connection was dropped, the next one pooled"


def test_stream_read_for_error_body(server: LoopbackServer, transport: SyncTransport) -> None:
    stream = transport.stream(post(server, "/json?status=429"), 5)
    assert stream.status == 429
    assert stream.read() == b'{"ok": true, "path": "/json"}'
    stream.close()
    assert transport.send(post(server, "/json"), 5).status == 200
    assert server.connections == 1


def test_timeout_is_api_timeout_error(server: LoopbackServer, transport: SyncTransport) -> None:
    started = time.monotonic()
    with pytest.raises(ex.APITimeoutError) as info:
        transport.send(post(server, "/hang?key=" + SECRET), 0.2)
    assert time.monotonic() - started < 2
    assert isinstance(info.value.__cause__, TimeoutError)
    assert info.value.retryable
    assert SECRET not in str(info.value) and "?key" not in str(info.value)
    assert transport.send(post(server, "/json"), 5).status == 200, "the timed-out connection is not reused"


def test_timeout_bounds_the_whole_answer_not_each_read(server: LoopbackServer, transport: SyncTransport) -> None:
    # every piece arrives well within the timeout, but the whole body does not
    started = time.monotonic()
    with pytest.raises(ex.APITimeoutError):
        transport.send(post(server, "/slow-body?pieces=6&delay=0.15"), 0.4)
    assert time.monotonic() - started < 0.7
    assert transport.send(post(server, "/slow-body?pieces=2&delay=0.01"), 5).status == 200


def test_stream_timeout_between_chunks(server: LoopbackServer, transport: SyncTransport) -> None:
    stream = transport.stream(post(server, "/slow-sse?n=3&delay=0.5"), 0.15)
    with pytest.raises(ex.APITimeoutError):
        list(stream.lines())
    stream.close()


def test_refused_connection_is_api_connection_error_with_cause(transport: SyncTransport) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions?key={SECRET}"
    with pytest.raises(ex.APIConnectionError) as info:
        transport.send(HTTPRequest("POST", url, {"authorization": f"Bearer {SECRET}"}, b"{}"), 2)
    error = info.value
    assert type(error) is ex.APIConnectionError
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert error.retryable
    text = str(error)
    assert SECRET not in text and "key=" not in text
    assert "127.0.0.1" in text


def test_bad_url_scheme(transport: SyncTransport) -> None:
    with pytest.raises(ex.APIConnectionError, match="only http and https"):
        transport.send(HTTPRequest("POST", "ftp://example.com/x", {}, b""), 1)


def test_close_empties_the_pool(server: LoopbackServer, transport: SyncTransport) -> None:
    transport.send(post(server, "/json"), 5)
    transport.close()
    transport.send(post(server, "/json"), 5)
    assert server.connections == 2


# -- through the client


def test_client_reuses_one_connection_for_calls_and_streams() -> None:
    with MockServer(reply="pong") as mock:
        counted = LoopbackCounter(mock)
        with routerlib.Client(environ={}) as client:
            for _ in range(3):
                response = client.completion(MODEL, MESSAGES, api_base=mock.url, api_key=SECRET)
                assert response.choices[0].message.content == "pong"
            stream = client.completion(MODEL, MESSAGES, api_base=mock.url, api_key=SECRET, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "pong"
            client.completion(MODEL, MESSAGES, api_base=mock.url, api_key=SECRET)
            assert counted.ports() == 1, "one TCP connection for every call and the stream"
        assert len(mock.requests) == 5


def test_client_refused_connection_chains_the_cause() -> None:
    client = routerlib.Client(environ={}, sleep=lambda s: None)
    with pytest.raises(ex.APIConnectionError) as info:
        client.completion(MODEL, MESSAGES, api_base=f"http://127.0.0.1:{free_port()}/v1", api_key=SECRET,
                          num_retries=1)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert len(info.value.attempts) == 2
    assert SECRET not in str(info.value)
    assert all(SECRET not in repr(a) for a in info.value.attempts)


class LoopbackCounter:
    """Counts distinct client ports seen by a MockServer (one per TCP connection)."""

    def __init__(self, mock: MockServer) -> None:
        self._mock = mock
        self._seen: set[int] = set()
        handler = mock._httpd.RequestHandlerClass
        original = handler.setup

        def setup(this: object) -> None:
            original(this)  # type: ignore[arg-type]
            self._seen.add(this.client_address[1])  # type: ignore[attr-defined]

        handler.setup = setup  # type: ignore[method-assign]

    def ports(self) -> int:
        return len(self._seen)


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


def test_stream_framed_by_content_length_leaves_no_open_answer_in_the_pool(
        raw: Callable[[RawHandler], RawServer], transport: SyncTransport) -> None:
    server = raw(hostile.sse_framed_by_content_length)
    stream = transport.stream(post_to(server.base + "/sse-cl"), 5)
    assert list(stream.lines()) == [b'data: {"i": 0}', b"", b"data: [DONE]", b""]
    stream.close()
    assert transport.send(post_to(server.base + "/json"), 5).body == hostile.OK_JSON
    assert len(server.requests) == 2, "the call was sent once"
    assert len({r.port for r in server.requests}) == 1, "the finished connection was reused"


def test_client_stream_framed_by_content_length_then_a_call_is_two_upstream_requests(
        raw: Callable[[RawHandler], RawServer]) -> None:
    def handler(sock: object, request: hostile.RawRequest, server: RawServer) -> bool:
        body = complete_stream() if json.loads(request.body).get("stream") else json.dumps({
            "id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"},
                         "finish_reason": "stop"}]}).encode()
        sock.sendall(http_answer(body, content_type="text/event-stream"))  # type: ignore[attr-defined]
        return True

    server = raw(handler)
    with routerlib.Client(environ={}, sleep=lambda s: None) as client:
        stream = client.completion(MODEL, MESSAGES, api_base=server.base + "/v1", api_key=SECRET, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello"
        response = client.completion(MODEL, MESSAGES, api_base=server.base + "/v1", api_key=SECRET, num_retries=2)
        assert response.choices[0].message.content == "pong"
    assert len(server.requests) == 2, "one user call, one upstream request"


def test_no_request_is_sent_again_by_the_pool(raw: Callable[[RawHandler], RawServer],
                                              transport: SyncTransport) -> None:
    server = raw(hostile.second_request_unanswered)
    assert transport.send(post_to(server.base + "/a", "GET"), 5).status == 200
    with pytest.raises(ex.APIConnectionError):
        transport.send(post_to(server.base + "/b", "GET"), 5)
    assert [r.path for r in server.requests] == ["/a", "/b"], "the unanswered request was not sent again"


def _echo_calls(transport: SyncTransport, server: LoopbackServer, who: str) -> list[str]:
    """20 calls that each carry their own id; the answers that came back with another's id."""
    wrong = []
    for i in range(20):
        ident = f"{who}-{i}"
        try:
            answer = transport.send(HTTPRequest("POST", server.base + "/echo?delay=0.005", {},
                                                json.dumps({"id": ident}).encode()), 5)
            got = json.loads(answer.body)["id"]
        except Exception as exc:  # a crossed answer can also break the framing
            got = f"{type(exc).__name__}"
        if got != ident:
            wrong.append(f"{ident} got {got}")
    return wrong


def test_forked_child_never_uses_the_parents_pooled_connections(server: LoopbackServer,
                                                                transport: SyncTransport) -> None:
    for _ in range(2):
        assert transport.send(HTTPRequest("POST", server.base + "/echo", {}, b'{"id": "warm"}'), 5).status == 200
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and never return into pytest
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(_echo_calls(transport, server, "child")).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    parent_wrong = _echo_calls(transport, server, "parent")
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as report:
        child_wrong = json.loads(report.read() or b'["no report"]')
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent_wrong == [] and child_wrong == []
    assert len(server.requests) == 42, "every call reached the server once"
    assert transport.send(HTTPRequest("POST", server.base + "/echo", {}, b'{"id": "after"}'), 5).status == 200


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("mode", ["send", "stream"])
def test_redirect_is_a_typed_error_and_is_never_followed(server: LoopbackServer, transport: SyncTransport,
                                                         status: int, mode: str) -> None:
    other = LoopbackServer().start()
    try:
        target = other.base.replace("http://", "http://user:hunter2@") + "/v1/steal?key=" + SECRET
        request = post(server, f"/redirect?status={status}&to={quote(target)}")
        with pytest.raises(ex.RedirectError) as info:
            transport.send(request, 5) if mode == "send" else transport.stream(request, 5)
        error = info.value
        assert error.status_code == status and not error.retryable and error.__cause__ is None
        text = str(error)
        assert f"{status} redirect to {other.base};" in text and "does not follow redirects" in text
        assert "hunter2" not in text and "user" not in text and "steal" not in text and SECRET not in text
        assert other.connections == 0 and other.requests == [], "nothing reached the other origin"
        assert transport.send(post(server, "/json"), 5).status == 200
    finally:
        other.stop()


@pytest.mark.parametrize("mode", ["send", "stream"])
def test_trickled_status_line_and_headers_are_bounded_by_the_timeout(
        raw: Callable[[RawHandler], RawServer], transport: SyncTransport, mode: str) -> None:
    timeout = 1.0
    server = raw(hostile.trickled_head(0.25))  # ~20 s of head at that pace
    with pytest.raises(ex.APITimeoutError):
        if mode == "send":
            transport.send(post_to(server.base + "/v1"), timeout)
        else:
            list(transport.stream(post_to(server.base + "/v1"), timeout, total=30).lines())
    assert server.ended.wait(30)
    assert server.open_for[0] < timeout * 3, "the server saw the client give up about when its timeout passed"


def test_stream_total_bounds_the_whole_stream_and_each_read_gets_what_is_left(
        server: LoopbackServer, transport: SyncTransport) -> None:
    stream = transport.stream(post(server, "/slow-sse?n=40&delay=0.05"), 1.0, total=0.5)
    seen: list[bytes] = []
    with pytest.raises(ex.APITimeoutError):
        for line in stream.lines():  # every event comes well within the 1 s timeout
            seen.append(line)
    stream.close()
    assert 0 < len(seen) < 80 and b"data: [DONE]" not in seen
    stream = transport.stream(post(server, "/slow-sse?n=3&delay=0.01"), 1.0, total=5)
    assert b"data: [DONE]" in list(stream.lines())
    stream.close()


def test_a_line_that_never_ends_stops_at_max_line_bytes(raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.endless_line(32 * 2**20))
    transport = SyncTransport(limits=Limits(max_line_bytes=2**20))
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    with pytest.raises(ex.ResponseTooLargeError, match=r"max_line_bytes \(1,048,576 bytes\)"):
        list(stream.lines())
    stream.close()
    transport.close()


def test_an_endless_body_stops_at_max_response_bytes(raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.endless_body(64 * 2**20))
    transport = SyncTransport(limits=Limits(max_response_bytes=2**20))
    with pytest.raises(ex.ResponseTooLargeError, match=r"max_response_bytes \(1,048,576 bytes"):
        transport.send(post_to(server.base + "/v1"), 10)
    with pytest.raises(ex.ResponseTooLargeError):  # an error body read from a stream, too
        transport.stream(post_to(server.base + "/v1"), 10).read()
    transport.close()


def test_an_announced_content_length_past_the_limit_is_refused_before_reading(
        raw: Callable[[RawHandler], RawServer]) -> None:
    server = raw(hostile.encoded(b"x" * 300_000, "identity"))
    transport = SyncTransport(limits=Limits(max_response_bytes=100_000))
    with pytest.raises(ex.ResponseTooLargeError):
        transport.send(post_to(server.base + "/v1"), 5)
    transport.close()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """128 MiB of zeros, gzipped to ~130 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(2**20)
    return b"".join([packer.compress(zeros) for _ in range(128)] + [packer.flush()])


def test_a_gzip_bomb_stops_at_max_response_bytes_with_memory_bounded(
        raw: Callable[[RawHandler], RawServer], gzip_bomb: bytes) -> None:
    server = raw(hostile.encoded(gzip_bomb, "gzip"))
    transport = SyncTransport(limits=Limits(max_response_bytes=2**20))
    tracemalloc.start()
    try:
        with pytest.raises(ex.ResponseTooLargeError, match="after decompression"):
            transport.send(post_to(server.base + "/v1"), 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        transport.close()
    assert peak < 16 * 2**20, f"peak {peak:,} bytes while inflating a 128 MiB bomb"


@pytest.mark.parametrize(("encoding", "pack"), [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_compressed_answer_is_decoded_like_the_async_transport_does(
        raw: Callable[[RawHandler], RawServer], transport: SyncTransport, encoding: str,
        pack: Callable[[bytes], bytes]) -> None:
    body = json.dumps({"ok": True, "text": "é" * 5000}).encode()
    server = raw(hostile.encoded(pack(body), encoding))
    assert transport.send(post_to(server.base + "/v1"), 5).body == body
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    assert list(stream.lines()) == [body]
    stream.close()
    assert len({r.port for r in server.requests}) == 1, "a decoded answer still frees its connection"


def test_an_encoding_it_cannot_decode_is_a_typed_error(raw: Callable[[RawHandler], RawServer],
                                                       transport: SyncTransport) -> None:
    server = raw(hostile.encoded(b"\x8b\x00garbage", "br"))
    with pytest.raises(ex.APIResponseValidationError, match="'br'") as info:
        transport.send(post_to(server.base + "/v1"), 5)
    assert not info.value.retryable


def test_a_body_cut_short_of_its_content_length_is_a_connection_error(
        raw: Callable[[RawHandler], RawServer], transport: SyncTransport) -> None:
    # The same class as aiohttp's "payload is not completed" on the async transport.
    server = raw(hostile.truncated)
    with pytest.raises(ex.APIConnectionError, match="50 bytes short of its Content-Length") as info:
        transport.send(post_to(server.base + "/v1"), 5)
    assert type(info.value) is ex.APIConnectionError and info.value.retryable
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    with pytest.raises(ex.APIConnectionError, match="short of its Content-Length"):
        list(stream.lines())


def test_an_interim_103_is_skipped_and_the_request_sent_once(raw: Callable[[RawHandler], RawServer],
                                                            transport: SyncTransport) -> None:
    server = raw(hostile.early_hints)
    response = transport.send(post_to(server.base + "/v1"), 5)
    assert (response.status, response.body) == (200, hostile.OK_JSON)
    assert len(server.requests) == 1
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    assert stream.status == 200 and list(stream.lines()) == [hostile.OK_JSON]
    stream.close()
    assert len(server.requests) == 2 and len({r.port for r in server.requests}) == 1


def test_client_call_through_early_hints_is_one_upstream_request(raw: Callable[[RawHandler], RawServer]) -> None:
    body = json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hinted"}, "finish_reason": "stop"}]}).encode()

    def handler(sock: object, request: hostile.RawRequest, server: RawServer) -> bool:
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + http_answer(body))  # type: ignore[attr-defined]
        return True

    server = raw(handler)
    with routerlib.Client(environ={}, sleep=lambda s: None) as client:
        response = client.completion(MODEL, MESSAGES, api_base=server.base + "/v1", api_key=SECRET, num_retries=2)
    assert response.choices[0].message.content == "hinted"
    assert len(server.requests) == 1


@pytest.mark.parametrize(("handler", "detail"), [
    (hostile.big_head(70, 1000), ""),  # 70 KB in lines http.client accepts one by one
    (hostile.big_head(150, 20), "got more than 100 headers"),
    (hostile.long_status_line, ""),
], ids=["block", "lines", "status-line"])
def test_a_head_past_the_limit_is_a_typed_error(raw: Callable[[RawHandler], RawServer], transport: SyncTransport,
                                                handler: RawHandler, detail: str) -> None:
    server = raw(handler)
    with pytest.raises(ex.ResponseTooLargeError, match="max_header_bytes") as info:
        transport.send(post_to(server.base + "/v1"), 5)
    assert detail in str(info.value)
    with pytest.raises(ex.ResponseTooLargeError):
        transport.stream(post_to(server.base + "/v1"), 5)


def test_a_head_within_the_limit_passes(raw: Callable[[RawHandler], RawServer], transport: SyncTransport) -> None:
    server = raw(hostile.big_head(40, 1000))
    assert transport.send(post_to(server.base + "/v1"), 5).headers["x-filler-00039"].startswith("vvv")


@pytest.mark.parametrize("stream", [False, True])
def test_client_redirect_is_not_retried_and_reaches_no_other_origin(server: LoopbackServer, stream: bool) -> None:
    other = LoopbackServer().start()
    try:
        base = server.base + f"/redirect-to/{urlsplit(other.base).port}"
        with routerlib.Client(environ={}, sleep=lambda s: None) as client, pytest.raises(ex.RedirectError) as info:
            client.completion(MODEL, MESSAGES, api_base=base, api_key=SECRET, num_retries=3, stream=stream)
        assert len(info.value.attempts) == 1 and info.value.provider == "openai"
        assert len(server.requests) == 1 and other.connections == 0
        assert SECRET not in str(info.value)
    finally:
        other.stop()


# -- answers on a connection that will close: HTTP/1.0, `Connection: close`, read until close.
# http.client closes a connection as soon as it has read the head of such an answer, handing the
# socket to the answer; the body must still be read whole, and the connection never pooled.

SSE_BODY = b'data: {"i": 0}\n\ndata: [DONE]\n\n'
SSE_LINES = [b'data: {"i": 0}', b"", b"data: [DONE]", b""]
#: name: (HTTP version, framing headers); no Content-Length nor chunks: the body ends at close
CLOSING_FRAMINGS = {
    "http10-until-close": ("HTTP/1.0", ""),
    "http10-content-length": ("HTTP/1.0", "content-length"),
    "http11-close-content-length": ("HTTP/1.1", "connection: close\r\ncontent-length"),
    "http11-close-chunked": ("HTTP/1.1", "connection: close\r\ntransfer-encoding: chunked"),
    "http11-close-until-close": ("HTTP/1.1", "connection: close"),
}


class ClosingAnswers:
    """A RawServer handler: each answer says its connection will close, and comes in two writes
    (head, then body 50 ms later, so the body is not already buffered when the head is read).

    Framed by Content-Length or chunks, the server then waits for the client to close its end and
    records what it saw (``b""``: the client closed; request bytes: the connection was reused;
    ``"open"``: the client kept it open); read until close, the server ends the body by closing."""

    def __init__(self, framing: str, status: str = "200 OK", content_type: str = "text/event-stream",
                 body: bytes = SSE_BODY, extra: str = "") -> None:
        version, frame = CLOSING_FRAMINGS[framing]
        self.until_close = "content-length" not in frame and "chunked" not in frame
        head = [f"{version} {status}", f"content-type: {content_type}", *([extra] if extra else [])]
        if "content-length" in frame:
            head.append(f"{frame}: {len(body)}")
        elif frame:
            head.append(frame)
        self.head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        self.body = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if "chunked" in frame else body
        self.after: list[bytes | str] = []

    def __call__(self, sock: socket.socket, request: hostile.RawRequest, server: RawServer) -> bool:
        try:
            sock.sendall(self.head)
            time.sleep(0.05)
            sock.sendall(self.body)
            if self.until_close:
                return False
            sock.settimeout(5)
            try:
                self.after.append(sock.recv(65536))
            except TimeoutError:
                self.after.append("open")
        except OSError:
            pass
        return False


def _next_call_on_a_new_connection(server: RawServer, transport: SyncTransport) -> None:
    def keep_alive(sock: socket.socket, request: hostile.RawRequest, srv: RawServer) -> bool:
        sock.sendall(http_answer(hostile.OK_JSON))
        return True

    server.handler = keep_alive
    assert transport.send(post_to(server.base + "/next"), 5).body == hostile.OK_JSON
    assert len(server.requests) == 2, "each request was sent once"
    assert server.requests[0].port != server.requests[1].port, "the closing connection was not pooled"


@pytest.mark.parametrize("status", ["200 OK", "503 Service Unavailable"])
@pytest.mark.parametrize("framing", list(CLOSING_FRAMINGS))
def test_an_answer_on_a_closing_connection_is_read_whole(raw: Callable[[RawHandler], RawServer],
                                                         transport: SyncTransport, framing: str,
                                                         status: str) -> None:
    answers = ClosingAnswers(framing, status, "application/json", hostile.OK_JSON)
    server = raw(answers)
    response = transport.send(post_to(server.base + "/v1"), 5)
    assert (response.status, response.body) == (int(status[:3]), hostile.OK_JSON)
    if not answers.until_close:
        assert server.ended.wait(5)
        assert answers.after == [b""], "the client closed the connection once the body was read"
    _next_call_on_a_new_connection(server, transport)


@pytest.mark.parametrize("framing", list(CLOSING_FRAMINGS))
def test_a_stream_on_a_closing_connection_is_read_whole(raw: Callable[[RawHandler], RawServer],
                                                        transport: SyncTransport, framing: str) -> None:
    answers = ClosingAnswers(framing)
    server = raw(answers)
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    assert list(stream.lines()) == SSE_LINES
    if not answers.until_close:
        assert server.ended.wait(5)
        assert answers.after == [b""], "the client closed the connection at the end of the stream"
    stream.close()
    _next_call_on_a_new_connection(server, transport)


@pytest.mark.parametrize("framing", list(CLOSING_FRAMINGS))
def test_an_error_body_read_from_a_stream_on_a_closing_connection(raw: Callable[[RawHandler], RawServer],
                                                                  transport: SyncTransport, framing: str) -> None:
    answers = ClosingAnswers(framing, "429 Too Many Requests", "application/json", hostile.OK_JSON,
                             extra="retry-after: 1")
    server = raw(answers)
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    assert (stream.status, stream.headers["retry-after"]) == (429, "1")
    assert stream.read() == hostile.OK_JSON
    stream.close()
    if not answers.until_close:
        assert server.ended.wait(5)
        assert answers.after == [b""]
    _next_call_on_a_new_connection(server, transport)


def test_a_stream_closed_early_on_a_closing_connection_closes_it(raw: Callable[[RawHandler], RawServer],
                                                                 transport: SyncTransport) -> None:
    answers = ClosingAnswers("http11-close-chunked", body=SSE_BODY * 50)
    server = raw(answers)
    stream = transport.stream(post_to(server.base + "/v1"), 5)
    assert next(iter(stream.lines())) == SSE_LINES[0]
    stream.close()
    assert server.ended.wait(5)
    assert answers.after == [b""], "closing the stream closed its connection"
    _next_call_on_a_new_connection(server, transport)


def test_a_body_read_until_close_is_bounded_by_max_response_bytes(raw: Callable[[RawHandler], RawServer]) -> None:
    def endless(sock: socket.socket, request: hostile.RawRequest, server: RawServer) -> bool:
        try:
            sock.sendall(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n")
            time.sleep(0.05)
            for _ in range(4096):  # 64 MiB, never announced
                sock.sendall(b"x" * 16384)
        except OSError:
            pass
        return False

    server = raw(endless)
    transport = SyncTransport(limits=Limits(max_response_bytes=2**20))
    with pytest.raises(ex.ResponseTooLargeError, match=r"max_response_bytes \(1,048,576 bytes"):
        transport.send(post_to(server.base + "/v1"), 10)
    with pytest.raises(ex.ResponseTooLargeError):
        transport.stream(post_to(server.base + "/v1"), 10).read()
    transport.close()


@pytest.mark.parametrize("mode", ["send", "stream"])
def test_a_body_read_until_close_is_bounded_by_the_timeout(raw: Callable[[RawHandler], RawServer],
                                                           transport: SyncTransport, mode: str) -> None:
    def trickled(sock: socket.socket, request: hostile.RawRequest, server: RawServer) -> bool:
        sock.sendall(b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
        hostile.trickle(sock, b": keep-alive\n" * 200, 0.05)  # each byte well within the timeout
        return False

    server = raw(trickled)
    started = time.monotonic()
    with pytest.raises(ex.APITimeoutError):
        if mode == "send":
            transport.send(post_to(server.base + "/v1"), 1.0)
        else:
            list(transport.stream(post_to(server.base + "/v1"), 1.0, total=1.0).lines())
    assert time.monotonic() - started < 3
