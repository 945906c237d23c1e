"""routerlib.transport._mock: the in-memory server of mocked calls, and the handler transports."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from routerlib.streaming import iter_sse
from routerlib.transport import HTTPRequest, HTTPResponse
from routerlib.transport._mock import AsyncMockAnswerTransport, MockAnswerTransport, MockTransport


def ask(body: dict[str, Any]) -> HTTPRequest:
    return HTTPRequest("POST", "mock://openai", {}, json.dumps(body).encode())


CHAT = {"model": "gpt-4o-mini", "text": None, "prompt": False, "stream": False,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "lookup", "arguments": '{"query": "a fairly long query"}'}}]}


def test_a_failure_is_its_status_with_an_openai_error_body_and_no_wait() -> None:
    answer = MockAnswerTransport().send(ask({"fail": {"status": 429, "message": "slow down"}}), 1.0)
    assert answer.status == 429 and answer.headers["retry-after"] == "0"
    assert json.loads(answer.body)["error"]["message"] == "slow down"


def test_embeddings_get_the_vector_once_per_input() -> None:
    answer = MockAnswerTransport().send(ask({"model": "m", "embedding": {"vector": [0.5], "count": 3}}), 1.0)
    body = json.loads(answer.body)
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and body["data"][2]["embedding"] == [0.5]
    assert body["object"] == "list" and "usage" not in body  # counted locally by the call


def test_tool_calls_answer_with_finish_reason_tool_calls() -> None:
    body = json.loads(MockAnswerTransport().send(ask(CHAT), 1.0).body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"


def _events(answer: HTTPResponse) -> list[dict[str, Any]]:
    lines = iter(answer.body.split(b"\n"))
    return [json.loads(data) for _, data in iter_sse(lines) if data != b"[DONE]"]


def test_a_streamed_tool_call_comes_as_openai_sends_it() -> None:
    answer = MockAnswerTransport().stream(ask({**CHAT, "stream": True}), 1.0)
    events = _events(HTTPResponse(answer.status, answer.headers, answer.read()))
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    assert all(set(c) == {"index", "function"} for c in calls[1:]) and len(calls) > 2
    assert "".join(c["function"]["arguments"] for c in calls) == CHAT["tool_calls"][0]["function"]["arguments"]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_the_async_twin_answers_the_same() -> None:
    async def main() -> tuple[HTTPResponse, bytes]:
        transport = AsyncMockAnswerTransport()
        sent = await transport.send(ask({"fail": {"status": 503, "message": "x"}}), 1.0)
        stream = await transport.stream(ask({**CHAT, "stream": True}), 1.0)
        lines = [line async for line in stream.lines()]
        return sent, b"\n".join(lines)

    sent, streamed = asyncio.run(main())
    assert sent.status == 503 and b'"tool_calls"' in streamed and streamed.rstrip().endswith(b"data: [DONE]")


def test_a_handler_transport_records_what_it_was_sent() -> None:
    transport = MockTransport(lambda request: HTTPResponse(200, {}, request.body))
    assert transport.send(ask({"a": 1}), 2.0).body == b'{"a": 1}'
    assert len(transport.requests) == 1 and transport.timeouts == [(2.0, None)]
