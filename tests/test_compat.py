"""routerlib._compat: LiteLLM's stream_chunk_builder and batch_completion on routerlib's types."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from core_helpers import KEY, MESSAGES, MODEL, chat_body, chunk, client, complete_stream, sse_response

import routerlib
from routerlib._compat import batch_completion, stream_chunk_builder
from routerlib.exceptions import InvalidRequestError, RateLimitError
from routerlib.tokens import count_messages, count_text
from routerlib.transport import HTTPRequest, HTTPResponse, MockTransport
from routerlib.types import ChatCompletionChunk, ModelResponse, TextCompletion

# -- stream_chunk_builder


def streamed_chunks(**params: Any) -> list[ChatCompletionChunk]:
    c = routerlib.Client(transport=MockTransport(lambda r: sse_response(complete_stream())), environ={})
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True, **params)
    assert isinstance(stream, routerlib.Stream)
    return list(stream)


def test_rebuilds_the_response_from_routerlib_chunks_with_their_usage() -> None:
    built = stream_chunk_builder(streamed_chunks(stream_options={"include_usage": True}))
    assert isinstance(built, ModelResponse)
    assert built.choices[0].message.content == "Hello" and built.choices[0].finish_reason == "stop"
    assert built.usage is not None and built.usage.total_tokens == 9 and not built.usage.estimated


def test_counts_usage_when_no_chunk_carried_it() -> None:
    built = stream_chunk_builder(streamed_chunks(), messages=MESSAGES)
    assert built is not None and built.usage is not None and built.usage.estimated
    assert built.usage.prompt_tokens == count_messages("gpt-4o-mini", MESSAGES)
    assert built.usage.completion_tokens == count_text("gpt-4o-mini", "Hello")
    assert routerlib.completion_cost(built) > 0


def test_rebuilds_from_openai_shaped_dicts_with_tool_calls() -> None:
    call_start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    call_more = {"index": 0, "function": {"arguments": "{\"city\": \"Paris\"}"}}
    chunks = [chunk(role="assistant", tool_calls=[call_start]), chunk(tool_calls=[call_more]),
              chunk(finish="tool_calls")]
    built = stream_chunk_builder(chunks)
    assert built is not None and isinstance(built, ModelResponse)
    call = built.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "get_weather", "{\"city\": \"Paris\"}")
    assert built["choices"][0]["finish_reason"] == "tool_calls"


def test_rebuilds_a_text_completion_stream() -> None:
    chunks = [{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
               "choices": [{"index": 0, "text": text, "finish_reason": finish}]}
              for text, finish in (("Hel", None), ("lo", "stop"))]
    built = stream_chunk_builder(chunks)
    assert isinstance(built, TextCompletion) and built.choices[0].text == "Hello"


def test_no_chunks_is_none_and_bad_chunks_are_typed_errors() -> None:
    assert stream_chunk_builder([]) is None
    with pytest.raises(InvalidRequestError, match="must be a list of chunks"):
        stream_chunk_builder("data: {}")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"chunks\[1\]"):
        stream_chunk_builder([chunk("a"), 42])
    with pytest.raises(InvalidRequestError,
                       match=r"chunks\[0\]\): not a chunk \(choices: Input should be a valid list\)"):
        stream_chunk_builder([{"choices": "nope"}])


# -- batch_completion


def echo_client(delay: float = 0.0) -> tuple[routerlib.Client, MockTransport, dict[str, int]]:
    """A client whose server answers with the user message it got, failing 'fail' with a 429."""
    seen = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def handler(request: HTTPRequest) -> HTTPResponse:
        with lock:
            seen["now"] += 1
            seen["peak"] = max(seen["peak"], seen["now"])
        time.sleep(delay)
        with lock:
            seen["now"] -= 1
        text = json.loads(request.body)["messages"][-1]["content"]
        if text == "fail":
            return HTTPResponse(429, {}, json.dumps({"error": {"message": "slow down"}}).encode())
        return HTTPResponse(200, {}, json.dumps(chat_body(f"echo {text}")).encode())

    c, transport = client(handler)
    return c, transport, seen


def test_results_come_back_in_order_with_errors_in_place() -> None:
    c, _, _ = echo_client()
    conversations = [[{"role": "user", "content": str(i)}] for i in range(5)]
    conversations.insert(2, [{"role": "user", "content": "fail"}])
    results = batch_completion(MODEL, conversations, client=c, api_key=KEY, num_retries=0)
    assert isinstance(results[2], RateLimitError)
    texts = [r.choices[0].message.content for r in results if isinstance(r, ModelResponse)]
    assert texts == [f"echo {i}" for i in range(5)]


def test_threads_are_bounded_by_max_workers() -> None:
    c, transport, seen = echo_client(delay=0.02)
    conversations = [[{"role": "user", "content": str(i)}] for i in range(12)]
    results = batch_completion(MODEL, conversations, client=c, api_key=KEY, max_workers=3)
    assert len(results) == 12 and all(isinstance(r, ModelResponse) for r in results)
    assert len(transport.requests) == 12
    assert 1 <= seen["peak"] <= 3


def test_module_level_batch_completion_uses_the_default_client() -> None:
    results = routerlib.batch_completion("openai/gpt-4o-mini", [MESSAGES, MESSAGES], mock_response="hi")
    assert [r.choices[0].message.content for r in results] == ["hi", "hi"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("messages", "kwargs", "match"), [
    (MESSAGES, {}, "list of message lists"),
    ("hi", {}, "list of message lists"),
    ([MESSAGES], {"max_workers": 0}, "max_workers=0"),
    ([MESSAGES], {"max_workers": True}, "max_workers=True"),
])
def test_bad_arguments_are_typed_errors(messages: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        batch_completion(MODEL, messages, **kwargs)


def test_an_invalid_parameter_is_an_error_per_call_not_a_crash() -> None:
    results = batch_completion(MODEL, [MESSAGES, MESSAGES], temperature=9, mock_response="x")
    assert all(isinstance(r, InvalidRequestError) for r in results)
    assert batch_completion(MODEL, []) == []
