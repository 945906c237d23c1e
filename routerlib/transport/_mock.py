"""In-memory transports for unit tests: a handler function answers every request.

``MockTransport(handler)`` serves both the sync and async seams. The handler receives the
``HTTPRequest`` and returns an ``HTTPResponse`` (its body is split into lines for streams,
by the same ``LineSplitter`` as the real transports) or raises a routerlib error to simulate
a connection failure. ``timeouts`` records the ``(timeout, total)`` each call was given.
Integration tests use real loopback servers instead; this is for fast, exact unit tests of
adapters and policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._base import DEFAULT_LIMITS, HTTPRequest, HTTPResponse, LineSplitter

if TYPE_CHECKING:
    from ..types import ModelResponse, TextCompletion

Handler = Callable[[HTTPRequest], HTTPResponse]


class MockStreamResponse:
    def __init__(self, response: HTTPResponse) -> None:
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self._body = response.body
        self.closed = False

    def lines(self) -> Iterator[bytes]:
        # Like the real transports: lines without their endings (CRLF, LF or CR), bounded.
        splitter = LineSplitter(DEFAULT_LIMITS.max_line_bytes)
        yield from splitter.feed(self._body)
        yield splitter.flush() or b""

    def read(self) -> bytes:
        return self._body

    def close(self) -> None:
        self.closed = True


class MockAsyncStreamResponse(MockStreamResponse):
    async def lines(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        for line in super().lines():
            yield line

    async def read(self) -> bytes:  # type: ignore[override]
        return self._body

    async def aclose(self) -> None:
        self.closed = True


class MockAnswerTransport:
    """Answers ``mock://`` requests (``routerlib.providers.mock``) in the OpenAI format, in memory.

    Mounted on every client. The request body says what to answer: a chat or text answer
    (``text``, ``tool_calls``), embeddings (``embedding``: a vector for each of ``count``
    inputs), or a failure (``fail``: its status, with an OpenAI error body and
    ``retry-after: 0``, since a mocked server never asks for a wait). Answers carry no usage,
    so the call counts it locally and marks it estimated, exactly as for a provider that
    reports none.
    """

    def _respond(self, request: HTTPRequest, stream: bool) -> HTTPResponse:
        spec = json.loads(request.body)
        if "fail" in spec:
            fail = spec["fail"]
            error = {"error": {"message": fail["message"], "type": "mock_error", "param": None, "code": None}}
            return HTTPResponse(int(fail["status"]), {"content-type": "application/json", "retry-after": "0"},
                                json.dumps(error).encode())
        if "embedding" in spec:
            body = json.dumps(_embeddings(spec)).encode()
        else:
            answer = _completion(spec)
            if stream:
                return mock_sse_response(answer)
            body = answer.model_dump_json().encode()
        return HTTPResponse(200, {"content-type": "application/json"}, body)

    def send(self, request: HTTPRequest, timeout: float, **kwargs: Any) -> HTTPResponse:
        return self._respond(request, False)

    def stream(self, request: HTTPRequest, timeout: float, **kwargs: Any) -> MockStreamResponse:
        return MockStreamResponse(self._respond(request, True))

    def close(self) -> None:
        pass


class AsyncMockAnswerTransport(MockAnswerTransport):
    async def send(self, request: HTTPRequest, timeout: float, **kwargs: Any) -> HTTPResponse:  # type: ignore[override]
        return self._respond(request, False)

    async def stream(self, request: HTTPRequest, timeout: float,  # type: ignore[override]
                     **kwargs: Any) -> MockAsyncStreamResponse:
        return MockAsyncStreamResponse(self._respond(request, True))

    async def aclose(self) -> None:
        pass


def _completion(spec: dict[str, Any]) -> ModelResponse | TextCompletion:
    """The mocked chat (or text) answer: the text, and the tool calls asked for."""
    import os
    import time

    from ..types import ChatCompletionMessage, Choice, ModelResponse, TextChoice, TextCompletion

    ident, now, model, text = "mock-" + os.urandom(8).hex(), int(time.time()), spec["model"], spec["text"]
    if spec["prompt"]:
        return TextCompletion(id=ident, created=now, model=model,
                              choices=[TextChoice(text=text or "", finish_reason="stop")])
    calls = spec["tool_calls"]
    if calls:
        message = ChatCompletionMessage.model_validate({"content": text, "tool_calls": calls})
    else:
        message = ChatCompletionMessage(content=text)
    return ModelResponse(id=ident, created=now, model=model, choices=[
        Choice(message=message, finish_reason="tool_calls" if calls else "stop")])


def _embeddings(spec: dict[str, Any]) -> dict[str, Any]:
    """The mocked embedding list: the same vector for every input."""
    embedding = spec["embedding"]
    vector = embedding["vector"]
    if vector is None:
        raise ValueError("a mocked embedding needs a vector (mock_response=[...])")
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(embedding["count"])]
    return {"object": "list", "data": data, "model": spec["model"]}


class MockTransport:
    """Answers every request with ``handler(request)``; records what was sent in ``requests``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[HTTPRequest] = []
        self.timeouts: list[tuple[float, float | None]] = []

    def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
        self.requests.append(request)
        self.timeouts.append((timeout, None))
        return self.handler(request)

    def stream(self, request: HTTPRequest, timeout: float, total: float | None = None) -> MockStreamResponse:
        self.requests.append(request)
        self.timeouts.append((timeout, total))
        return MockStreamResponse(self.handler(request))

    def close(self) -> None:
        pass


class AsyncMockTransport(MockTransport):
    async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:  # type: ignore[override]
        self.requests.append(request)
        self.timeouts.append((timeout, None))
        return self.handler(request)

    async def stream(self, request: HTTPRequest, timeout: float,  # type: ignore[override]
                     total: float | None = None) -> MockAsyncStreamResponse:
        self.requests.append(request)
        self.timeouts.append((timeout, total))
        return MockAsyncStreamResponse(self.handler(request))

    async def aclose(self) -> None:
        pass


def mock_sse_response(response: ModelResponse | TextCompletion, *, include_usage: bool = True) -> HTTPResponse:
    """An OpenAI SSE body streaming ``response`` word by word, then (by default) a usage chunk, then [DONE].

    A ``TextCompletion`` streams as /completions chunks (``text``), a ``ModelResponse`` as
    chat chunks (``delta``). An estimated usage keeps its ``estimated`` flag on the wire, so
    that a ``mock_response`` stream is priced as estimated like its non-streamed twin.
    """
    from ..types import TextCompletion

    text_mode = isinstance(response, TextCompletion)
    text = (response.choices[0].text if isinstance(response, TextCompletion)
            else response.choices[0].message.content) or ""
    pieces = re.findall(r"\s*\S+|\s+$", text)
    if isinstance(response, TextCompletion):
        events = [_text_chunk(response, piece) for piece in pieces]
        events.append(_text_chunk(response, "", finish="stop"))
    else:
        events = [_chunk(response, {"role": "assistant", "content": ""})]
        events += [_chunk(response, {"content": piece}) for piece in pieces]
        events += _tool_call_chunks(response)
        events.append(_chunk(response, {}, finish=response.choices[0].finish_reason or "stop"))
    if include_usage and response.usage is not None:
        usage = response.usage.model_dump(exclude_none=True)
        if response.usage.estimated:
            usage["estimated"] = True
        events.append({"id": response.id, "object": "text_completion" if text_mode else "chat.completion.chunk",
                       "created": response.created, "model": response.model, "choices": [], "usage": usage})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return HTTPResponse(200, {"content-type": "text/event-stream"}, body)


def _tool_call_chunks(response: ModelResponse) -> list[dict[str, Any]]:
    """A tool call streams as OpenAI's do: its id and name first, then its arguments in pieces."""
    events = []
    for index, call in enumerate(response.choices[0].message.tool_calls or ()):
        head = {"index": index, "id": call.id, "type": call.type, "function": {"name": call.function.name,
                                                                              "arguments": ""}}
        events.append(_chunk(response, {"tool_calls": [head]}))
        arguments = call.function.arguments
        for start in range(0, len(arguments), _ARGUMENT_PIECE):
            piece = arguments[start:start + _ARGUMENT_PIECE]
            events.append(_chunk(response, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    return events


#: Characters of tool-call arguments per streamed chunk.
_ARGUMENT_PIECE = 16


def _chunk(response: Any, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": response.id, "object": "chat.completion.chunk", "created": response.created,
            "model": response.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _text_chunk(response: Any, text: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": response.id, "object": "text_completion", "created": response.created,
            "model": response.model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]}
