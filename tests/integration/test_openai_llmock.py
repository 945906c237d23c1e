"""routerlib's OpenAI-compatible path against llmock, a third-party fault-injecting server on 127.0.0.1.

Every test counts what the server received from its journal (GET /_llmock/requests).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from servers import Llmock

import routerlib
from routerlib import exceptions as ex

MESSAGES = [{"role": "user", "content": "What is the weather like in Oslo today?"}]
MODEL = "openai/gpt-4o-mini"
KEY = "sk-llmock-SECRET-4242"
REPLY = "Simulated success from gpt-4o-mini."
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def client() -> Iterator[routerlib.Client]:
    # Retries would sleep for llmock's Retry-After (1 s): tests never sleep for real.
    with routerlib.Client(environ={}, sleep=lambda s: None, async_sleep=_no_sleep) as c:
        yield c


def call(client: routerlib.Client, server: Llmock, **params: Any) -> Any:
    return client.completion(MODEL, MESSAGES, api_base=server.openai, api_key=KEY, **params)


async def acall(client: routerlib.Client, server: Llmock, **params: Any) -> Any:
    return await client.acompletion(MODEL, MESSAGES, api_base=server.openai, api_key=KEY, **params)


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- answers


def test_plain_completion(llmock: Llmock, client: routerlib.Client) -> None:
    response = call(client, llmock, temperature=0.2, max_tokens=40)
    assert isinstance(response, routerlib.ModelResponse)
    assert response.choices[0].message.content == REPLY
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.completion_tokens > 0 and not response.usage.estimated
    assert response.provider == "openai" and response.model == "gpt-4o-mini"
    assert response.cost is not None and response.cost.total is not None and response.cost.total > 0
    journal = llmock.requests()
    assert len(journal) == 1
    assert journal[0]["path"] == "/v1/chat/completions"
    assert journal[0]["body"] == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2,
                                  "max_tokens": 40}


def test_sync_stream(llmock: Llmock, client: routerlib.Client) -> None:
    stream = call(client, llmock, stream=True)
    chunks = list(stream)
    assert text_of(chunks) == REPLY
    assert all(c.choices for c in chunks), "the usage chunk is not forwarded unless asked"
    assert stream.response.choices[0].message.content == REPLY
    assert stream.usage is not None and not stream.usage.estimated, "usage came from the provider"
    assert stream.cost is not None and stream.cost.total is not None
    journal = llmock.requests()
    assert len(journal) == 1
    assert journal[0]["body"]["stream"] is True
    assert journal[0]["body"]["stream_options"] == {"include_usage": True}
    assert journal[0]["completed"] is True


def test_sync_stream_forwards_usage_when_asked(llmock: Llmock, client: routerlib.Client) -> None:
    chunks = list(call(client, llmock, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_async_stream(llmock: Llmock, client: routerlib.Client) -> None:
    stream = await acall(client, llmock, stream=True)
    chunks = [c async for c in stream]
    assert text_of(chunks) == REPLY
    assert stream.usage is not None and not stream.usage.estimated
    assert stream.cost is not None
    assert llmock.requests()[0]["body"]["stream_options"] == {"include_usage": True}


async def test_async_plain_matches_sync(llmock: Llmock, client: routerlib.Client) -> None:
    sync_response = call(client, llmock)
    async_response = await acall(client, llmock)
    assert async_response.choices[0].message.content == sync_response.choices[0].message.content
    assert async_response.usage == sync_response.usage
    assert async_response.cost == sync_response.cost
    assert len(llmock.requests()) == 2


def test_tool_call(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    response = call(client, llmock, tools=[WEATHER_TOOL], tool_choice="auto")
    message = response.choices[0].message
    assert response.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    assert llmock.requests()[0]["body"]["tools"] == [WEATHER_TOOL]


def test_tool_call_streamed_in_pieces(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
    stream = call(client, llmock, tools=[WEATHER_TOOL], stream=True)
    list(stream)
    calls = stream.response.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert calls[0].id
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}


def test_n_choices(llmock: Llmock, client: routerlib.Client) -> None:
    response = call(client, llmock, n=2)
    assert [c.index for c in response.choices] == [0, 1]
    assert all(c.message.content == REPLY for c in response.choices)
    assert llmock.requests()[0]["body"]["n"] == 2


def test_n_choices_streamed(llmock: Llmock, client: routerlib.Client) -> None:
    stream = call(client, llmock, n=2, stream=True)
    list(stream)
    assert [(c.index, c.message.content, c.finish_reason) for c in stream.response.choices] == [
        (0, REPLY, "stop"), (1, REPLY, "stop")]


# -- errors, typed, with the requests the server saw


@pytest.mark.parametrize(("status", "cls", "requests"), [
    (401, ex.AuthenticationError, 1),
    (404, ex.NotFoundError, 1),
    (429, ex.RateLimitError, 3),
    (500, ex.InternalServerError, 3),
    (503, ex.ServiceUnavailableError, 3),
])
def test_error_statuses_by_header(llmock: Llmock, client: routerlib.Client, status: int,
                                  cls: type[ex.APIStatusError], requests: int) -> None:
    with pytest.raises(cls) as info:
        call(client, llmock, num_retries=2, headers={"x-llmock-force-status": str(status)})
    error = info.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.provider == "openai" and error.model == "gpt-4o-mini"
    assert len(error.attempts) == requests
    assert [r["status"] for r in llmock.requests()] == [status] * requests
    assert KEY not in str(error)


def test_rate_limit_carries_retry_after(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 1.5})
    with pytest.raises(ex.RateLimitError) as info:
        call(client, llmock, num_retries=0)
    assert info.value.retry_after == 1.5, "retry-after-ms wins over the rounded retry-after"
    assert info.value.code == "rate_limit_exceeded"
    assert len(llmock.requests()) == 1


def test_scenario_failures_then_success(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 500, "times": 2})
    response = call(client, llmock, num_retries=2)
    assert response.choices[0].message.content == REPLY
    assert [a.status_code for a in response.attempts] == [500, 500, None]
    assert [r["status"] for r in llmock.requests()] == [500, 500, 200]


def test_401_then_fallback_to_another_deployment(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "fail", "status": 401, "match": {"model": "gpt-4o-mini"}})
    response = call(client, llmock, fallbacks=["openai/gpt-4o"])
    assert response.model == "gpt-4o"
    assert [(a.model, a.status_code) for a in response.attempts] == [("gpt-4o-mini", 401), ("gpt-4o", None)]
    assert [r["model"] for r in llmock.requests()] == ["gpt-4o-mini", "gpt-4o"]


async def test_async_errors(llmock: Llmock, client: routerlib.Client) -> None:
    with pytest.raises(ex.RateLimitError):
        await acall(client, llmock, num_retries=1, headers={"x-llmock-force-status": "429"})
    assert len(llmock.requests()) == 2


def test_timeout(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "delay", "seconds": 2})
    with pytest.raises(ex.APITimeoutError):
        call(client, llmock, timeout=0.3, num_retries=0)


def test_context_window_exceeded(llmock_small: Llmock, client: routerlib.Client) -> None:
    long_prompt = [{"role": "user", "content": "lorem ipsum " * 200}]
    with pytest.raises(ex.ContextWindowExceededError) as info:
        client.completion(MODEL, long_prompt, api_base=llmock_small.openai, api_key=KEY, num_retries=3)
    assert info.value.status_code == 400
    assert info.value.retryable is False
    assert len(llmock_small.requests()) == 1, "a context window error is not retried"


# -- stream faults


def test_truncated_stream_after_content_raises_with_partial_text(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "truncate", "after_chunks": 3})
    stream = call(client, llmock, stream=True)
    received: list[Any] = []
    with pytest.raises(ex.StreamInterruptedError) as info:
        for chunk in stream:
            received.append(chunk)
    error = info.value
    assert error.partial_text == "Simulated success "
    assert text_of(received) == error.partial_text
    assert error.usage is not None and error.usage.estimated
    assert error.cost is not None
    assert len(llmock.requests()) == 1, "no retry once content reached the caller"


def test_truncated_stream_before_content_is_retried(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "truncate", "after_chunks": 1})
    stream = call(client, llmock, stream=True, num_retries=1)
    assert text_of(list(stream)) == REPLY
    assert len(llmock.requests()) == 2
    assert [a.outcome for a in stream.attempts] == ["error", "ok"]


def test_malformed_chunk_is_an_error(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "malformed", "after_chunks": 2})
    stream = call(client, llmock, stream=True)
    with pytest.raises(ex.StreamInterruptedError, match="malformed") as info:
        list(stream)
    assert info.value.partial_text == "Simulated "
    assert isinstance(info.value.__cause__, ex.APIResponseValidationError)


async def test_async_truncated_stream(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "truncate", "after_chunks": 3})
    stream = await acall(client, llmock, stream=True)
    with pytest.raises(ex.StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.partial_text == "Simulated success "


def test_disconnect_mid_stream(llmock: Llmock, client: routerlib.Client) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "disconnect", "after_chunks": 3})
    stream = call(client, llmock, stream=True)
    with pytest.raises(ex.StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial_text.startswith("Simulated")
    # the broken connection is not reused: the next call works
    assert call(client, llmock).choices[0].message.content == REPLY
