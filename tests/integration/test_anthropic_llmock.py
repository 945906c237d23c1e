"""The Anthropic adapter end to end against llmock's Messages API: calls, streams, tools, faults.

llmock serves Anthropic's wire format under ``/anthropic``; every test counts what the server
received (its journal). The llmock servers are the shared ones of ``conftest.py``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import llmock_helpers
import pytest
from llmock_helpers import FAST, MESSAGES, WEATHER, provider, text_of
from servers import Llmock

import routerlib
from routerlib.cost import CostUnknownWarning

MODEL = "anthropic/claude-3-5-sonnet-20241022"
PRICED = "anthropic/claude-sonnet-4-5"  # in the packaged model map

pytestmark = pytest.mark.filterwarnings("ignore::routerlib.cost.CostUnknownWarning")

client = llmock_helpers.client  # the shared fixture (pytest finds fixtures among module attributes)
base, call = provider("/anthropic", MODEL)


# -- calls and streams --------------------------------------------------------------------------

def test_completion_sends_messages_and_normalises_the_answer(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "text": "Hello from Claude."})
    with pytest.warns(CostUnknownWarning):
        response = call(client, llmock)
    assert isinstance(response, routerlib.ModelResponse)
    assert response.provider == "anthropic"
    assert response.model == "claude-3-5-sonnet-20241022"
    assert response.choices[0].message.content == "Hello from Claude."
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert response.cost is not None and response.cost.total is None  # no price for this model
    (sent,) = llmock.requests()
    assert sent["path"] == "/anthropic/v1/messages"
    assert sent["body"]["system"] == "Be brief."
    assert sent["body"]["messages"] == [{"role": "user", "content": "hello there"}]
    assert sent["body"]["max_tokens"] == 4096


def test_priced_model_gets_a_cost(llmock: Llmock, client: routerlib.Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CostUnknownWarning)
        response = call(client, llmock, PRICED, max_tokens=64, temperature=0.2, stop=["END"])
    assert response.cost.total > 0 and response.cost.priced_as == "claude-sonnet-4-5"
    body = llmock.requests()[0]["body"]
    assert (body["max_tokens"], body["temperature"], body["stop_sequences"]) == (64, 0.2, ["END"])


def test_stream_yields_openai_chunks_and_prices_at_the_end(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "text": "One two three four."})
    stream = call(client, llmock, PRICED, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text_of(chunks) == "One two three four."
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert stream.response.choices[0].message.content == "One two three four."
    assert stream.cost.total > 0
    assert llmock.requests()[0]["body"]["stream"] is True


async def test_async_completion_and_stream(llmock: Llmock) -> None:
    llmock.scenario({"type": "reply", "text": "Async hello.", "times": 2})
    async with routerlib.Client(policy=FAST, environ={}) as client:
        response = await client.acompletion(PRICED, MESSAGES, api_base=base(llmock), api_key="x")
        stream = await client.acompletion(PRICED, MESSAGES, api_base=base(llmock), api_key="x", stream=True)
        chunks = [chunk async for chunk in stream]  # type: ignore[union-attr]
    assert isinstance(response, routerlib.ModelResponse)
    assert response.choices[0].message.content == "Async hello." == text_of(chunks)
    assert stream.response.usage.prompt_tokens == response.usage.prompt_tokens  # type: ignore[union-attr]
    assert len(llmock.requests()) == 2


def test_tool_call_round_trip(llmock: Llmock, client: routerlib.Client) -> None:
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    response = call(client, llmock, messages=messages, tools=WEATHER, tool_choice="required")
    call_ = response.choices[0].message.tool_calls[0]
    assert response.choices[0].finish_reason == "tool_calls"
    assert call_.function.name == "get_weather" and call_.id.startswith("toolu")
    assert isinstance(json.loads(call_.function.arguments)["city"], str)
    follow_up = [*messages, response.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call_.id, "content": "18 degrees"}]
    answer = call(client, llmock, messages=follow_up, tools=WEATHER)
    assert answer.choices[0].message.content
    sent = llmock.requests()[1]["body"]
    assert sent["messages"][1]["content"][0]["type"] == "tool_use"
    assert sent["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": call_.id,
                                                 "content": "18 degrees"}


def test_streamed_tool_call_reassembles(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "tool_calls": [{"name": "get_weather",
                                                    "arguments": {"city": "San Francisco, CA"}}]})
    stream = call(client, llmock, tools=WEATHER, stream=True)
    list(stream)
    message = stream.response.choices[0].message
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "San Francisco, CA"}
    assert stream.response.choices[0].finish_reason == "tool_calls"


def test_response_format_comes_back_as_json_content(llmock: Llmock, client: routerlib.Client) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    response = call(client, llmock, response_format=fmt)
    data = json.loads(response.choices[0].message.content)
    assert set(data) == {"name", "age"}
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"
    assert llmock.requests()[0]["body"]["tool_choice"] == {"type": "tool", "name": "json_output"}


# -- faults -------------------------------------------------------------------------------------

def test_429_is_a_typed_rate_limit_error_with_retry_after(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 1.5})
    with pytest.raises(routerlib.RateLimitError) as info:
        call(client, llmock, num_retries=0)
    assert info.value.retry_after == 1.5 and info.value.status_code == 429
    assert info.value.code == "rate_limit_error" and info.value.provider == "anthropic"
    assert [r["status"] for r in llmock.requests()] == [429]


def test_429_is_retried_after_the_wait_the_server_asked(llmock: Llmock) -> None:
    slept: list[float] = []
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 1.5})
    with routerlib.Client(environ={}, sleep=slept.append) as client:
        response = call(client, llmock, num_retries=2)
    assert slept == [1.5]
    assert [r["status"] for r in llmock.requests()] == [429, 200]
    assert [(a.outcome, a.status_code) for a in response.attempts] == [("error", 429), ("ok", None)]
    assert response.attempts[1].waited == 1.5


def test_529_overloaded_is_service_unavailable_and_retried(llmock: Llmock) -> None:
    llmock.scenario({"type": "fail", "status": 529, "times": 1})
    with routerlib.Client(environ={}, sleep=lambda s: None) as client:
        response = call(client, llmock, num_retries=1)
        assert response.attempts[0].error == "ServiceUnavailableError"
        llmock.reset()
        llmock.scenario({"type": "fail", "status": 529})
        with pytest.raises(routerlib.ServiceUnavailableError) as info:
            call(client, llmock, num_retries=0)
    assert info.value.code == "overloaded_error" and info.value.retryable
    assert [r["status"] for r in llmock.requests()] == [529]


def test_prompt_too_long_is_a_context_window_error_not_retried(llmock_with_window: Callable[[int], Llmock],
                                                               client: routerlib.Client) -> None:
    small_window = llmock_with_window(50)
    long = [{"role": "user", "content": "tell me a long story " * 30}]
    with pytest.raises(routerlib.ContextWindowExceededError) as info:
        call(client, small_window, messages=long, num_retries=3)
    assert "prompt is too long" in info.value.message
    assert len(small_window.requests()) == 1


def test_stream_truncated_after_content_raises_with_partial_text(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "text": "alpha beta gamma delta epsilon"},
                  {"type": "stream_fault", "kind": "truncate", "after_chunks": 5})
    stream = call(client, llmock, stream=True, num_retries=3)
    received: list[Any] = []
    with pytest.raises(routerlib.StreamInterruptedError) as info:
        for chunk in stream:
            received.append(chunk)
    assert info.value.partial_text == text_of(received) != ""
    assert len(llmock.requests()) == 1  # content reached the caller: no retry


def test_stream_disconnect_after_content_raises(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "disconnect", "after_chunks": 5})
    stream = call(client, llmock, stream=True, num_retries=3)
    with pytest.raises(routerlib.StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial_text


def test_stream_cut_before_content_is_retried(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "truncate", "after_chunks": 2})
    stream = call(client, llmock, PRICED, stream=True, num_retries=2)
    assert text_of(list(stream))
    assert len(llmock.requests(settle=0.1)) == 2
    assert [a.outcome for a in stream.attempts] == ["error", "ok"]


async def test_async_stream_disconnect_after_content_raises(llmock: Llmock) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "disconnect", "after_chunks": 5})
    async with routerlib.Client(policy=FAST, environ={}) as client:
        stream = await client.acompletion(MODEL, MESSAGES, api_base=base(llmock), api_key="x", stream=True)
        with pytest.raises(routerlib.StreamInterruptedError):
            async for _ in stream:  # type: ignore[union-attr]
                pass


def test_text_completion_through_anthropic_answers_as_text_in_streams_too(llmock: Llmock,
                                                                          client: routerlib.Client) -> None:
    whole = client.text_completion(MODEL, "Say hi", api_base=base(llmock), api_key="x")
    assert isinstance(whole, routerlib.TextCompletion) and whole.choices[0].text
    stream = client.text_completion(MODEL, "Say hi", api_base=base(llmock), api_key="x", stream=True)
    chunks = list(stream)  # type: ignore[arg-type]
    assert chunks and all(isinstance(c, routerlib.TextCompletion) for c in chunks)
    assert isinstance(stream.response, routerlib.TextCompletion)  # type: ignore[union-attr]
    assert stream.response.choices[0].text == "".join(c.choices[0].text for c in chunks if c.choices)  # type: ignore[union-attr]
