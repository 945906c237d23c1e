"""routerlib.streaming: SSE decoding, chunk accumulation, and the end-of-stream rules of Stream/AsyncStream."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from core_helpers import (
    KEY,
    MESSAGES,
    MODEL,
    USAGE,
    chunk,
    complete_stream,
    sent_json,
    sse,
    sse_response,
    usage_chunk,
)
from loopback_server import RawRequest, RawServer

import routerlib
from routerlib import exceptions as ex
from routerlib.streaming import StreamAccumulator, aiter_sse, iter_sse
from routerlib.transport import (
    AsyncMockTransport,
    AsyncTransport,
    HTTPRequest,
    HTTPResponse,
    MockTransport,
    SyncTransport,
)
from routerlib.transport._mock import MockAsyncStreamResponse, MockStreamResponse
from routerlib.types import ChatCompletionChunk, TextCompletion

# -- iter_sse


def events(body: bytes) -> list[tuple[str | None, bytes]]:
    return list(iter_sse(iter(body.split(b"\n"))))


def test_sse_basic_events() -> None:
    assert events(b"data: {\"a\":1}\n\ndata: [DONE]\n\n") == [(None, b"{\"a\":1}"), (None, b"[DONE]")]


def test_sse_multi_line_data_is_joined_with_newlines() -> None:
    assert events(b"data: first\ndata: second\ndata:third\n\n") == [(None, b"first\nsecond\nthird")]


def test_sse_comments_and_unused_fields_are_ignored() -> None:
    body = b": keep-alive\n\nid: 7\nretry: 1000\n: comment inside\ndata: x\n\n:\n\n"
    assert events(body) == [(None, b"x")]


def test_sse_event_names() -> None:
    body = b"event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\ndata: plain\n\n"
    assert events(body) == [("message_start", b"{}"), ("ping", b"{\"type\": \"ping\"}"), (None, b"plain")]


def test_sse_event_name_without_data_is_dropped_and_reset() -> None:
    assert events(b"event: orphan\n\ndata: x\n\n") == [(None, b"x")]


def test_sse_no_trailing_blank_line() -> None:
    assert events(b"data: a\n\ndata: last") == [(None, b"a"), (None, b"last")]


def test_sse_data_without_space_and_empty_data() -> None:
    assert events(b"data:x\n\ndata:\n\n") == [(None, b"x"), (None, b"")]


def test_sse_only_one_leading_space_is_stripped() -> None:
    assert events(b"data:  two spaces\n\n") == [(None, b" two spaces")]


def test_sse_crlf_lines_via_the_mock_stream() -> None:
    # Transports hand lines without their endings, "\r\n" included.
    response = MockStreamResponse(HTTPResponse(200, {}, b"event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: [DONE]\r\n\r\n"))
    assert list(iter_sse(response.lines())) == [("e", b"a\nb"), (None, b"[DONE]")]


async def test_aiter_sse_matches_iter_sse() -> None:
    body = b": c\nevent: x\ndata: 1\ndata: 2\n\ndata: 3\n\ndata: tail"

    async def lines() -> AsyncIterator[bytes]:
        for line in body.split(b"\n"):
            yield line

    assert [e async for e in aiter_sse(lines())] == events(body)


async def test_aiter_sse_crlf_via_the_mock_stream() -> None:
    response = MockAsyncStreamResponse(HTTPResponse(200, {}, b"data: a\r\n\r\ndata: b\r\n\r\n"))
    assert [e async for e in aiter_sse(response.lines())] == [(None, b"a"), (None, b"b")]


# -- SSE from a real server: the line endings SSE allows, split anywhere (issue 10, item 19)


def sse_server(*pieces: bytes) -> RawServer:
    """Answers with a chunked event stream sent as ``pieces``, each flushed on its own."""
    def handler(sock: socket.socket, request: RawRequest, server: RawServer) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in pieces:
            time.sleep(0.02)  # separate reads on the client
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        return True
    return RawServer(handler).start()


BARE_CR = (b"event: e\rdata: a\r", b"data: b\r\r", b"data: c\r", b"\ndata: d\r\n", b"\r", b"\n:x\n\n")
EXPECTED = [("e", b"a\nb"), (None, b"c\nd")]


def test_sse_lone_cr_and_split_crlf_line_endings_over_a_real_connection() -> None:
    server = sse_server(*BARE_CR)
    transport = SyncTransport()
    try:
        stream = transport.stream(HTTPRequest("POST", server.base + "/v1", {}, b"{}"), 5)
        assert list(iter_sse(stream.lines())) == EXPECTED
        stream.close()
    finally:
        transport.close()
        server.stop()


async def test_async_sse_lone_cr_and_split_crlf_line_endings_over_a_real_connection() -> None:
    server = sse_server(*BARE_CR)
    transport = AsyncTransport()
    try:
        stream = await transport.stream(HTTPRequest("POST", server.base + "/v1", {}, b"{}"), 5)
        assert [e async for e in aiter_sse(stream.lines())] == EXPECTED
        await stream.aclose()
    finally:
        await transport.aclose()
        server.stop()


def test_sse_event_name_that_is_not_utf8_does_not_raise() -> None:
    assert events(b"event: \xff\xfe\ndata: x\n\n") == [("\ufffd\ufffd", b"x")]


@pytest.mark.parametrize("done", [b"data: [DONE] ", b"data: [DONE]\t", b"data:[DONE]  "])
def test_done_with_trailing_whitespace_ends_a_stream(done: bytes) -> None:
    body = sse(chunk("", role="assistant"), chunk("Hi"), usage_chunk(), done=False) + done + b"\n\n"
    server = sse_server(body[: len(body) // 2], body[len(body) // 2:])
    try:
        with routerlib.Client(environ={}) as client:
            stream = client.completion(MODEL, MESSAGES, api_base=server.base + "/v1", api_key=KEY, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hi"
            assert stream.response is not None and stream.usage is not None
    finally:
        server.stop()


# -- StreamAccumulator

def parsed(data: dict[str, Any]) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(data)


def test_accumulator_content() -> None:
    acc = StreamAccumulator()
    assert acc.add(parsed(chunk("", role="assistant"))) is False
    assert acc.add(parsed(chunk("Hel"))) is True
    assert acc.add(parsed(chunk("lo"))) is True
    assert acc.add(parsed(chunk(finish="stop", system_fingerprint="fp_1"))) is False
    assert acc.add(parsed(usage_chunk())) is False
    assert acc.text == "Hello"
    assert acc.has_content
    assert acc.finish_reasons == {0: "stop"}
    response = acc.response()
    assert response.id == "chatcmpl-s"
    assert response.model == "gpt-4o-mini"
    assert response.system_fingerprint == "fp_1"
    assert response.choices[0].message.content == "Hello"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens == 9


def test_accumulator_tool_call_pieces_by_index() -> None:
    acc = StreamAccumulator()
    acc.add(parsed(chunk(role="assistant", tool_calls=[
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}])))
    acc.add(parsed(chunk(tool_calls=[
        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\""}}])))
    acc.add(parsed(chunk(tool_calls=[{"index": 0, "function": {"arguments": "{\"city\": "}}])))
    acc.add(parsed(chunk(tool_calls=[{"index": 0, "function": {"arguments": "\"Oslo\"}"}}])))
    acc.add(parsed(chunk(tool_calls=[{"index": 1, "function": {"arguments": ": \"UTC\"}"}}])))
    acc.add(parsed(chunk(finish="tool_calls")))
    message = acc.response().choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("call_a", "get_weather", {"city": "Oslo"}), ("call_b", "get_time", {"tz": "UTC"})]
    assert acc.response().choices[0].finish_reason == "tool_calls"


def test_accumulator_n_choices() -> None:
    acc = StreamAccumulator()
    for data in (chunk("a", index=0, role="assistant"), chunk("x", index=1, role="assistant"), chunk("b", index=0),
                 chunk("y", index=1), chunk(index=1, finish="length"), chunk(index=0, finish="stop")):
        acc.add(parsed(data))
    choices = acc.response().choices
    assert [(c.index, c.message.content, c.finish_reason) for c in choices] == [(0, "ab", "stop"), (1, "xy", "length")]
    assert acc.text == "ab", "text is the first choice's"


def test_accumulator_refusal_counts_as_content() -> None:
    acc = StreamAccumulator()
    assert acc.add(parsed({"id": "c", "choices": [{"index": 0, "delta": {"refusal": "I can't"}}]})) is True


def test_accumulator_text_completion_chunks() -> None:
    acc = StreamAccumulator()
    for text, finish in (("Hel", None), ("lo", None), ("", "stop")):
        acc.add(TextCompletion.model_validate({"id": "cmpl-1", "model": "m", "created": 5, "choices": [
            {"index": 0, "text": text, "finish_reason": finish}]}))
    response = acc.response()
    assert isinstance(response, TextCompletion)
    assert response.choices[0].text == "Hello"
    assert response.choices[0].finish_reason == "stop"
    assert acc.text == "Hello"


def test_accumulator_empty_stream_gives_one_empty_choice() -> None:
    response = StreamAccumulator().response()
    assert len(response.choices) == 1
    assert response.choices[0].message.content is None


# -- Stream: end-of-stream rules, through a client on an in-memory transport


class Recording(MockTransport):
    """A MockTransport that keeps the stream responses it opened (to check they were closed)."""

    def __init__(self, handler: Callable[[HTTPRequest], HTTPResponse]) -> None:
        super().__init__(handler)
        self.opened: list[MockStreamResponse] = []

    def stream(self, request: HTTPRequest, timeout: float) -> MockStreamResponse:
        response = super().stream(request, timeout)
        self.opened.append(response)
        return response


class AsyncRecording(AsyncMockTransport):
    def __init__(self, handler: Callable[[HTTPRequest], HTTPResponse]) -> None:
        super().__init__(handler)
        self.opened: list[MockAsyncStreamResponse] = []

    async def stream(self, request: HTTPRequest, timeout: float) -> MockAsyncStreamResponse:  # type: ignore[override]
        response = await super().stream(request, timeout)
        self.opened.append(response)
        return response


def stream_client(body: bytes) -> tuple[routerlib.Client, Recording]:
    transport = Recording(lambda request: sse_response(body))
    return routerlib.Client(transport=transport, environ={}, sleep=lambda s: None), transport


def open_stream(body: bytes, **params: Any) -> tuple[routerlib.Stream, Recording]:
    c, transport = stream_client(body)
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True, num_retries=0, **params)
    assert isinstance(stream, routerlib.Stream)
    return stream, transport


def contents(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_complete_stream_with_done_and_usage() -> None:
    stream, transport = open_stream(complete_stream())
    chunks = list(stream)
    assert contents(chunks) == "Hello"
    assert all(c.choices for c in chunks), "the usage chunk is not forwarded unless asked"
    assert stream.response is not None
    assert stream.response.choices[0].message.content == "Hello"
    assert stream.usage is not None and stream.usage.total_tokens == 9 and not stream.usage.estimated
    assert stream.cost is not None and stream.cost.total is not None and stream.cost.total > 0
    assert stream.response.cost == stream.cost
    assert stream.response.provider == "openai"
    assert [a.outcome for a in stream.attempts] == ["ok"]
    assert transport.opened[0].closed


def test_usage_is_always_requested_but_forwarded_only_when_asked() -> None:
    stream, transport = open_stream(complete_stream())
    chunks = list(stream)
    assert sent_json(transport)["stream_options"] == {"include_usage": True}
    assert [c.usage for c in chunks if not c.choices] == []

    stream, transport = open_stream(complete_stream(), stream_options={"include_usage": True})
    chunks = list(stream)
    assert sent_json(transport)["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 9


def test_complete_on_finish_reason_without_done() -> None:
    stream, _ = open_stream(sse(chunk("Hi"), chunk(finish="stop"), usage_chunk(), done=False))
    assert contents(list(stream)) == "Hi"
    assert stream.response is not None and stream.response.choices[0].finish_reason == "stop"


def test_complete_on_done_without_finish_reason() -> None:
    stream, _ = open_stream(sse(chunk("Hi"), usage_chunk(), done=True))
    assert contents(list(stream)) == "Hi"
    assert stream.response is not None


def test_end_without_finish_or_done_is_interrupted_with_partial_text_and_usage() -> None:
    stream, transport = open_stream(sse(chunk("Hel", role="assistant"), chunk("lo"), done=False))
    received: list[Any] = []
    with pytest.raises(ex.StreamInterruptedError) as info:
        for c in stream:
            received.append(c)
    assert contents(received) == "Hello", "the caller got every chunk before the error"
    error = info.value
    assert error.partial_text == "Hello"
    assert error.usage is not None and error.usage.estimated is True
    assert error.usage.completion_tokens >= 1
    assert error.cost is not None and error.cost.estimated
    assert [a.outcome for a in error.attempts] == ["error"]
    assert transport.opened[0].closed


def test_interrupted_keeps_provider_usage_when_sent() -> None:
    stream, _ = open_stream(sse(chunk("Hi"), usage_chunk(), done=False))
    with pytest.raises(ex.StreamInterruptedError) as info:
        list(stream)
    assert info.value.usage is not None
    assert info.value.usage.total_tokens == USAGE["total_tokens"]
    assert info.value.usage.estimated is False


def test_malformed_chunk_after_content_raises() -> None:
    stream, transport = open_stream(sse(chunk("Hi"), b"{\"id\": \"x\", \"choices\": [{", chunk(finish="stop")))
    with pytest.raises(ex.StreamInterruptedError, match="malformed stream chunk") as info:
        list(stream)
    assert info.value.partial_text == "Hi"
    assert isinstance(info.value.__cause__, ex.APIResponseValidationError)
    assert transport.opened[0].closed


def test_mid_stream_error_object_raises() -> None:
    body = sse(chunk("Hi"), {"error": {"message": "Internal error", "type": "server_error"}}, done=False)
    stream, _ = open_stream(body)
    with pytest.raises(ex.StreamInterruptedError, match="Internal error") as info:
        list(stream)
    assert isinstance(info.value.__cause__, ex.InternalServerError)


def test_malformed_first_chunk_is_retried_before_content() -> None:
    bodies = iter([sse(b"{broken", done=False), complete_stream()])
    transport = Recording(lambda request: sse_response(next(bodies)))
    c = routerlib.Client(transport=transport, environ={}, sleep=lambda s: None)
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True, num_retries=1)
    assert contents(list(stream)) == "Hello"
    assert len(transport.requests) == 2
    assert all(r.closed for r in transport.opened)


def test_close_early_releases_the_connection_and_prices_what_arrived() -> None:
    stream, transport = open_stream(complete_stream())
    iterator = iter(stream)
    first = next(iterator)
    assert first is not None
    stream.close()
    assert transport.opened[0].closed
    assert stream.response is not None
    assert stream.usage is not None and stream.usage.estimated
    assert stream.cost is not None and stream.cost.total is not None and stream.cost.total > 0
    assert [a.outcome for a in stream.attempts] == ["ok"]
    stream.close()  # idempotent
    assert len(stream.attempts) == 1


def test_context_manager_closes() -> None:
    stream, transport = open_stream(complete_stream())
    with stream as s:
        next(iter(s))
    assert transport.opened[0].closed
    assert stream.cost is not None


def test_stream_error_status_is_a_typed_error_and_closed() -> None:
    body = json.dumps({"error": {"message": "bad key", "code": "invalid_api_key"}}).encode()
    transport = Recording(lambda request: HTTPResponse(401, {}, body))
    c = routerlib.Client(transport=transport, environ={})
    with pytest.raises(ex.AuthenticationError, match="bad key"):
        c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert transport.opened[0].closed


def test_stream_n_choices_and_tool_calls_assemble() -> None:
    body = sse(chunk("a", index=0), chunk("b", index=1),
               chunk(index=0, tool_calls=[{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]),
               chunk(index=0, finish="tool_calls"), chunk(index=1, finish="stop"), usage_chunk())
    stream, _ = open_stream(body, n=2)
    list(stream)
    assert stream.response is not None
    choices = stream.response.choices
    assert [c.finish_reason for c in choices] == ["tool_calls", "stop"]
    assert choices[0].message.tool_calls is not None
    assert choices[0].message.tool_calls[0].function.name == "f"
    assert choices[1].message.content == "b"


def test_text_completion_stream() -> None:
    text_chunks = [{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
                    "choices": [{"index": 0, "text": t, "finish_reason": f, "logprobs": None}]}
                   for t, f in (("Hel", None), ("lo", None), ("", "stop"))]
    transport = Recording(lambda request: sse_response(sse(*text_chunks)))
    c = routerlib.Client(transport=transport, environ={})
    stream = c.text_completion("openai/gpt-3.5-turbo-instruct", "Say hello", api_key=KEY, stream=True)
    assert isinstance(stream, routerlib.Stream)
    chunks = list(stream)
    assert "".join(ch.choices[0].text for ch in chunks) == "Hello"
    assert isinstance(stream.response, TextCompletion)
    assert stream.response.choices[0].text == "Hello"
    assert stream.usage is not None and stream.usage.estimated


def test_mock_response_stream_is_priced_as_estimated() -> None:
    transport = Recording(lambda request: (_ for _ in ()).throw(AssertionError("no network")))
    c = routerlib.Client(transport=transport, environ={})
    stream = c.completion(MODEL, MESSAGES, stream=True, mock_response="Hello there, friend")
    assert isinstance(stream, routerlib.Stream)
    assert contents(list(stream)) == "Hello there, friend"
    assert transport.requests == []
    assert stream.usage is not None and stream.usage.estimated is True
    assert stream.cost is not None and stream.cost.estimated is True and stream.cost.total is not None
    assert len(stream.attempts) == 1


# -- AsyncStream

def async_stream_client(body: bytes) -> tuple[routerlib.Client, AsyncRecording]:
    transport = AsyncRecording(lambda request: sse_response(body))
    return routerlib.Client(async_transport=transport, environ={}), transport


async def test_async_complete_stream() -> None:
    c, transport = async_stream_client(complete_stream())
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert isinstance(stream, routerlib.AsyncStream)
    chunks = [x async for x in stream]
    assert contents(chunks) == "Hello"
    assert stream.usage is not None and stream.usage.total_tokens == 9
    assert stream.cost is not None
    assert transport.opened[0].closed


async def test_async_usage_chunk_forwarded_only_when_asked() -> None:
    c, _ = async_stream_client(complete_stream())
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True, stream_options={"include_usage": True})
    chunks = [x async for x in stream]
    assert chunks[-1].usage is not None and chunks[-1].choices == []


async def test_async_interrupted() -> None:
    c, transport = async_stream_client(sse(chunk("Hel"), chunk("lo"), done=False))
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True, num_retries=0)
    with pytest.raises(ex.StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.partial_text == "Hello"
    assert info.value.usage is not None
    assert transport.opened[0].closed


async def test_async_close_early() -> None:
    c, transport = async_stream_client(complete_stream())
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    async with stream:
        async for _ in stream:
            break
    assert transport.opened[0].closed
    assert stream.response is not None
    assert stream.cost is not None


# -- streams are iterators (LiteLLM's and OpenAI's are): next() / anext(), then a loop goes on


def test_next_then_for_reads_each_chunk_once() -> None:
    stream, transport = open_stream(complete_stream())
    assert iter(stream) is iter(stream), "one iterator: a loop after next() goes on from there"
    first = next(stream)
    rest = list(stream)
    assert contents([first, *rest]) == "Hello"
    assert first.choices[0].delta.role == "assistant"
    assert stream.response is not None and stream.response.choices[0].message.content == "Hello"
    assert transport.opened[0].closed
    with pytest.raises(StopIteration):
        next(stream)


def test_next_until_stop_iteration_completes_and_prices() -> None:
    stream, transport = open_stream(complete_stream())
    chunks = []
    while True:
        try:
            chunks.append(next(stream))
        except StopIteration:
            break
    assert contents(chunks) == "Hello"
    assert stream.cost is not None and stream.cost.total is not None
    assert [a.outcome for a in stream.attempts] == ["ok"]
    assert transport.opened[0].closed


def test_a_loop_left_by_break_still_closes_the_stream() -> None:
    """Leaving a for loop early releases the connection and records what arrived, as before next() existed."""
    stream, transport = open_stream(complete_stream())
    for _ in stream:
        break
    assert transport.opened[0].closed
    assert stream.response is not None and stream.cost is not None


def test_stream_is_an_iterator_for_isinstance_checks() -> None:
    import collections.abc

    stream, _ = open_stream(complete_stream())
    assert isinstance(stream, collections.abc.Iterator)
    stream.close()


async def test_anext_then_async_for_reads_each_chunk_once() -> None:
    c, transport = async_stream_client(complete_stream())
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert isinstance(stream, routerlib.AsyncStream)
    first = await stream.__anext__()
    second = await anext(stream)
    rest = [x async for x in stream]
    assert contents([first, second, *rest]) == "Hello"
    assert transport.opened[0].closed
    assert stream.cost is not None
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_anext_until_stop_async_iteration() -> None:
    import collections.abc

    c, transport = async_stream_client(complete_stream())
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert isinstance(stream, collections.abc.AsyncIterator)
    chunks = []
    while True:
        try:
            chunks.append(await stream.__anext__())
        except StopAsyncIteration:
            break
    assert contents(chunks) == "Hello"
    assert stream.response is not None and transport.opened[0].closed


def test_chunks_and_deltas_read_like_litellms() -> None:
    stream, _ = open_stream(complete_stream())
    chunks = list(stream)
    delta = chunks[1]["choices"][0]["delta"]
    assert delta.get("content") == "Hel" and delta["content"] == "Hel"
    assert delta.get("tool_calls") is None and delta.get("no_such_field", "dflt") == "dflt"
    assert "content" in delta and "no_such_field" not in delta
    assert chunks[1].get("model") == chunks[1].model
