"""routerlib.transport._sync: the pooled http.client transport against a real loopback server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from core_helpers import MESSAGES, MODEL
from loopback_server import LoopbackServer, free_port

import routerlib
from routerlib import exceptions as ex
from routerlib.testing import MockServer
from routerlib.transport import HTTPRequest, SyncTransport

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


def test_a_stream_with_a_content_length_leaves_a_usable_connection(server: LoopbackServer,
                                                                 transport: SyncTransport) -> None:
    """Regression: read to its end, a content-length SSE body left its response open in the pooled
    connection, and the next request on it failed with ResponseNotReady."""
    for _ in range(3):
        stream = transport.stream(post(server, "/sse-length?n=2"), 5)
        assert list(stream.lines())[-2:] == [b"data: [DONE]", b""]
        stream.close()
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
