"""Shared fakes for the core tests: wire bodies, SSE streams and clients on in-memory transports."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import routerlib
from routerlib.transport import AsyncMockTransport, HTTPRequest, HTTPResponse, MockTransport

MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "hello"}]
MODEL = "openai/gpt-4o-mini"
KEY = "sk-test-SECRET-0123456789"


def chat_body(text: str | None = "Hi!", *, usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": text}}],
        "usage": usage if usage is not None else {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    body.update(extra)
    return body


def ok(body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(200, headers or {"content-type": "application/json"},
                        json.dumps(body if body is not None else chat_body()).encode())


def chunk(content: str | None = None, *, finish: str | None = None, index: int = 0, role: str | None = None,
          tool_calls: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    out: dict[str, Any] = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1700000000,
                           "model": "gpt-4o-mini",
                           "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    out.update(extra)
    return out


USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def usage_chunk(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
            "choices": [], "usage": usage or USAGE}


def sse(*events: dict[str, Any] | bytes, done: bool = True, sep: bytes = b"\n\n") -> bytes:
    """An SSE body: each event as ``data: <json>`` (bytes are sent as they are), then [DONE]."""
    parts = [b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + sep for e in events]
    if done:
        parts.append(b"data: [DONE]" + sep)
    return b"".join(parts)


def complete_stream(*, usage: bool = True) -> bytes:
    events: list[dict[str, Any]] = [chunk("", role="assistant"), chunk("Hel"), chunk("lo"), chunk(finish="stop")]
    if usage:
        events.append(usage_chunk())
    return sse(*events)


def sse_response(body: bytes) -> HTTPResponse:
    return HTTPResponse(200, {"content-type": "text/event-stream"}, body)


def fixed(response: HTTPResponse) -> Callable[[HTTPRequest], HTTPResponse]:
    return lambda request: response


def client(response: HTTPResponse | Callable[[HTTPRequest], HTTPResponse],
           **kwargs: Any) -> tuple[routerlib.Client, MockTransport]:
    """A client whose sync transport answers every request with ``response``."""
    handler = response if callable(response) else fixed(response)
    transport = MockTransport(handler)
    kwargs.setdefault("environ", {})
    kwargs.setdefault("sleep", lambda seconds: None)
    return routerlib.Client(transport=transport, **kwargs), transport


def async_client(response: HTTPResponse | Callable[[HTTPRequest], HTTPResponse],
                 **kwargs: Any) -> tuple[routerlib.Client, AsyncMockTransport]:
    handler = response if callable(response) else fixed(response)
    transport = AsyncMockTransport(handler)
    kwargs.setdefault("environ", {})

    async def no_sleep(seconds: float) -> None:
        return None

    kwargs.setdefault("async_sleep", no_sleep)
    return routerlib.Client(async_transport=transport, **kwargs), transport


def never_called(request: HTTPRequest) -> HTTPResponse:
    raise AssertionError(f"the transport must not be called, got {request.method} {request.url}")


def sent_json(transport: MockTransport, index: int = -1) -> dict[str, Any]:
    body = json.loads(transport.requests[index].body)
    assert isinstance(body, dict)
    return body
