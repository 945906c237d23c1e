"""The Gemini adapter end to end against llmock's Gemini API, and a cross-provider fallback chain.

llmock serves Gemini's wire format under ``/gemini/v1beta``; every test counts what the server
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

MODEL = "gemini/gemini-1.5-pro"
PRICED = "gemini/gemini-2.5-flash"  # in the packaged model map

pytestmark = pytest.mark.filterwarnings("ignore::routerlib.cost.CostUnknownWarning")

client = llmock_helpers.client  # the shared fixture (pytest finds fixtures among module attributes)
base, call = provider("/gemini/v1beta", MODEL)


# -- calls and streams --------------------------------------------------------------------------

def test_completion_sends_contents_and_normalises_the_answer(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "text": "Hello from Gemini."})
    with pytest.warns(CostUnknownWarning):
        response = call(client, llmock, max_tokens=100, temperature=0.3, top_p=0.9, stop="END", seed=3)
    assert isinstance(response, routerlib.ModelResponse)
    assert response.provider == "gemini" and response.model == "gemini-1.5-pro"
    assert response.choices[0].message.content == "Hello from Gemini."
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert response.cost is not None and response.cost.total is None  # no price for this model
    (sent,) = llmock.requests()
    assert sent["path"] == "/gemini/v1beta/models/gemini-1.5-pro:generateContent"
    assert sent["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["body"]["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    assert sent["body"]["generationConfig"] == {"temperature": 0.3, "topP": 0.9, "seed": 3,
                                                "maxOutputTokens": 100, "stopSequences": ["END"]}


def test_priced_model_gets_a_cost(llmock: Llmock, client: routerlib.Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CostUnknownWarning)
        response = call(client, llmock, PRICED)
    assert response.cost.total > 0 and response.cost.priced_as == "gemini/gemini-2.5-flash"


def test_stream_uses_sse_and_completes_at_the_finish_reason(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "text": "One two three four."})
    stream = call(client, llmock, PRICED, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text_of(chunks) == "One two three four."
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert stream.response.choices[0].message.content == "One two three four."
    assert stream.cost.total > 0
    assert llmock.requests()[0]["path"] == "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"


async def test_async_completion_and_stream(llmock: Llmock) -> None:
    llmock.scenario({"type": "reply", "text": "Async hello.", "times": 2})
    async with routerlib.Client(policy=FAST, environ={}) as client:
        response = await client.acompletion(PRICED, MESSAGES, api_base=base(llmock), api_key="x")
        stream = await client.acompletion(PRICED, MESSAGES, api_base=base(llmock), api_key="x", stream=True)
        chunks = [chunk async for chunk in stream]  # type: ignore[union-attr]
    assert isinstance(response, routerlib.ModelResponse)
    assert response.choices[0].message.content == "Async hello." == text_of(chunks)
    assert stream.response.usage.prompt_tokens == response.usage.prompt_tokens  # type: ignore[union-attr]


def test_function_call_round_trip(llmock: Llmock, client: routerlib.Client) -> None:
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    response = call(client, llmock, messages=messages, tools=WEATHER, tool_choice="required")
    tool_call = response.choices[0].message.tool_calls[0]
    assert response.choices[0].finish_reason == "tool_calls"
    assert tool_call.function.name == "get_weather" and tool_call.id
    follow_up = [*messages, response.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": tool_call.id, "content": "18 degrees"}]
    answer = call(client, llmock, messages=follow_up, tools=WEATHER)
    assert answer.choices[0].message.content
    first, second = (r["body"] for r in llmock.requests())
    assert first["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert second["contents"][1]["role"] == "model"
    assert second["contents"][1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert second["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"content": "18 degrees"}}}]


def test_streamed_function_call(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
    stream = call(client, llmock, tools=WEATHER, stream=True)
    list(stream)
    message = stream.response.choices[0].message
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert stream.response.choices[0].finish_reason == "tool_calls"


def test_response_format_json_schema(llmock: Llmock, client: routerlib.Client) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    response = call(client, llmock, response_format=fmt)
    assert set(json.loads(response.choices[0].message.content)) == {"name", "age"}
    config = llmock.requests()[0]["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "additionalProperties" not in config["responseSchema"]


# -- faults -------------------------------------------------------------------------------------

def test_429_resource_exhausted_is_a_rate_limit_error(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 1.5})
    with pytest.raises(routerlib.RateLimitError) as info:
        call(client, llmock, num_retries=0)
    assert info.value.retry_after == 1.5 and info.value.code == "RESOURCE_EXHAUSTED"
    assert [r["status"] for r in llmock.requests()] == [429]


def test_429_is_retried_after_the_wait_the_server_asked(llmock: Llmock) -> None:
    slept: list[float] = []
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 1.5})
    with routerlib.Client(environ={}, sleep=slept.append) as client:
        response = call(client, llmock, num_retries=2)
    assert slept == [1.5]
    assert [r["status"] for r in llmock.requests()] == [429, 200]
    assert [a.outcome for a in response.attempts] == ["error", "ok"]


def test_503_unavailable_is_service_unavailable(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 503})
    with pytest.raises(routerlib.ServiceUnavailableError) as info:
        call(client, llmock, num_retries=0)
    assert info.value.code == "UNAVAILABLE" and info.value.retryable


def test_input_token_count_is_a_context_window_error(llmock_with_window: Callable[[int], Llmock],
                                                     client: routerlib.Client) -> None:
    small_window = llmock_with_window(50)
    long = [{"role": "user", "content": "tell me a long story " * 30}]
    with pytest.raises(routerlib.ContextWindowExceededError) as info:
        call(client, small_window, messages=long, num_retries=3)
    assert "exceeds the maximum number of tokens" in info.value.message
    assert len(small_window.requests()) == 1


def test_stream_truncated_after_content_raises(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "text": "alpha beta gamma delta epsilon"},
                  {"type": "stream_fault", "kind": "truncate", "after_chunks": 2})
    stream = call(client, llmock, stream=True, num_retries=3)
    received: list[Any] = []
    with pytest.raises(routerlib.StreamInterruptedError) as info:
        for chunk in stream:
            received.append(chunk)
    assert info.value.partial_text == text_of(received) == "alpha beta "
    assert len(llmock.requests()) == 1


def test_stream_cut_before_content_is_retried(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "disconnect", "after_chunks": 0})
    stream = call(client, llmock, PRICED, stream=True, num_retries=2)
    assert text_of(list(stream))
    assert len(llmock.requests(settle=0.1)) == 2


async def test_async_stream_truncated_after_content_raises(llmock: Llmock) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "truncate", "after_chunks": 2})
    async with routerlib.Client(policy=FAST, environ={}) as client:
        stream = await client.acompletion(MODEL, MESSAGES, api_base=base(llmock), api_key="x", stream=True)
        with pytest.raises(routerlib.StreamInterruptedError):
            async for _ in stream:  # type: ignore[union-attr]
                pass


# -- a cross-provider fallback chain ------------------------------------------------------------

def chain(server: Llmock, anthropic_status: str | None, gemini_model: str = PRICED) -> list[Any]:
    anthropic_entry: dict[str, Any] = {"model": "anthropic/claude-3-5-sonnet-20241022",
                                       "api_base": server.root + "/anthropic", "api_key": "x"}
    if anthropic_status:
        anthropic_entry["headers"] = {"x-llmock-force-status": anthropic_status}
    return [anthropic_entry, {"model": gemini_model, "api_base": base(server), "api_key": "x"}]


def test_fallback_openai_to_anthropic(llmock: Llmock, client: routerlib.Client) -> None:
    with pytest.warns(CostUnknownWarning, match="cost of"):
        response = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="x",
                                     headers={"x-llmock-force-status": "503"}, num_retries=0,
                                     fallbacks=chain(llmock, None))
    assert response.provider == "anthropic"
    assert [(a.provider, a.outcome, a.status_code) for a in response.attempts] == [
        ("openai", "error", 503), ("anthropic", "ok", None)]
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0
    assert response.cost.total is None  # claude-3-5-sonnet-20241022 has no price: the warning says so
    assert [r["provider"] for r in llmock.requests()] == ["openai", "anthropic"]


def test_fallback_openai_to_anthropic_to_gemini(llmock: Llmock, client: routerlib.Client) -> None:
    response = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="x",
                                 headers={"x-llmock-force-status": "503"}, num_retries=0,
                                 fallbacks=chain(llmock, "529"))
    assert response.provider == "gemini" and response.model == "gemini-2.5-flash"
    assert [(a.provider, a.error) for a in response.attempts] == [
        ("openai", "ServiceUnavailableError"), ("anthropic", "ServiceUnavailableError"), ("gemini", None)]
    usage = response.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens_details.reasoning_tokens == 0
    assert response.cost.total > 0 and response.cost.priced_as == "gemini/gemini-2.5-flash"
    assert response.attempts[-1].cost == response.cost
    journal = llmock.requests()
    assert [(r["provider"], r["status"]) for r in journal] == [("openai", 503), ("anthropic", 529), ("gemini", 200)]
    assert "x-llmock-force-status" not in json.dumps(journal[2]["body"])


async def test_async_fallback_chain_streams_from_gemini(llmock: Llmock) -> None:
    async with routerlib.Client(policy=FAST, environ={}) as client:
        stream = await client.acompletion("openai/gpt-4o-mini", MESSAGES, api_base=llmock.openai, api_key="x",
                                          headers={"x-llmock-force-status": "503"}, num_retries=0,
                                          stream=True, fallbacks=chain(llmock, "529"))
        chunks = [chunk async for chunk in stream]  # type: ignore[union-attr]
    assert text_of(chunks)
    assert stream.provider == "gemini"  # type: ignore[union-attr]
    assert stream.cost.total > 0  # type: ignore[union-attr]
    assert [a.provider for a in stream.attempts] == ["openai", "anthropic", "gemini"]  # type: ignore[union-attr]
