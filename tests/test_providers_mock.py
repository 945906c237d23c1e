"""routerlib.providers.mock: LiteLLM's mock forms, answered in memory through the whole call core.

Every failure goes through the retry and fallback policy (each attempt recorded), as a real
provider's would; a mocked server asks for no wait, so no test here sleeps.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import routerlib
from routerlib._request import build_request
from routerlib.observe import Observer
from routerlib.planning import Planner
from routerlib.providers import ProviderRegistry
from routerlib.providers.mock import MOCK_ERRORS, MockAdapter, mocked

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "openai/gpt-4o-mini"
TOOL_CALLS = [{"id": "call_7", "type": "function",
               "function": {"name": "get_weather", "arguments": '{"city": "Paris, France"}'}}]


def client(**kwargs: Any) -> routerlib.Client:
    """No key in the environment: a mocked call needs none; any sleep would fail the test."""
    def no_sleep(seconds: float) -> None:
        assert seconds == 0, f"a mocked failure asked for a wait of {seconds} s"

    return routerlib.Client(environ={}, sleep=no_sleep, **kwargs)


@pytest.mark.parametrize("name", sorted(MOCK_ERRORS))
def test_every_litellm_error_name_raises_its_class_at_litellms_status(name: str) -> None:
    known = MOCK_ERRORS[name]
    with pytest.raises(routerlib.APIError) as caught:
        client().completion(MODEL, MESSAGES, mock_response=f"litellm.{name}")
    error = caught.value
    assert type(error) is known.kind and error.status_code == known.status
    assert error.message == known.message and error.provider == "openai" and error.llm_provider == "openai"
    retried = routerlib.RetryPolicy().should_retry(error)
    assert len(error.attempts) == (3 if retried else 1)  # the default policy: 2 retries, at once


def test_a_mocked_rate_limit_is_retried_then_falls_back_to_a_mocked_answer() -> None:
    with pytest.raises(routerlib.RateLimitError) as caught:
        client().completion(MODEL, MESSAGES, mock_response="litellm.RateLimitError", fallbacks=["openai/gpt-4o"])
    assert [a.model for a in caught.value.attempts] == ["gpt-4o-mini"] * 3 + ["gpt-4o"] * 3  # every target fails
    assert caught.value.retry_after == 0.0


def test_a_foreign_exception_becomes_api_error_with_the_original_chained() -> None:
    original = ValueError("boom")
    with pytest.raises(routerlib.APIError) as caught:
        client().completion(MODEL, MESSAGES, mock_response=original, fallbacks=["openai/gpt-4o"])
    error = caught.value
    assert type(error) is routerlib.APIError and error.message == "boom" and error.__cause__ is original
    assert len(error.attempts) == 1  # an APIError neither retries nor falls back


class _SDKError(Exception):
    """Shaped like the OpenAI SDK's and LiteLLM's errors: a status_code and a message."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def test_an_error_with_a_status_is_typed_by_it_and_falls_back() -> None:
    original = _SDKError("rate limited upstream", 429)
    with pytest.raises(routerlib.RateLimitError) as caught:
        client().completion(MODEL, MESSAGES, mock_response=original, num_retries=0, fallbacks=["openai/gpt-4o"])
    error = caught.value
    assert (error.status_code, error.message, error.__cause__) == (429, "rate limited upstream", original)
    assert [(a.model, a.status_code) for a in error.attempts] == [("gpt-4o-mini", 429), ("gpt-4o", 429)]


def test_a_routerlib_error_is_raised_as_built_a_fresh_copy_per_attempt() -> None:
    given = routerlib.ServiceUnavailableError("overloaded", status_code=503, code="busy", retry_after=0)
    with pytest.raises(routerlib.ServiceUnavailableError) as caught:
        client().completion(MODEL, MESSAGES, mock_response=given)
    error = caught.value
    assert error is not given and (error.message, error.code, error.status_code) == ("overloaded", "busy", 503)
    assert len(error.attempts) == 3 and given.attempts == () and given.history is None


def test_mock_testing_fallbacks_fails_the_primary_and_answers_from_the_fallback() -> None:
    response = client().completion(MODEL, MESSAGES, mock_response="from the fallback", mock_testing_fallbacks=True,
                                   fallbacks=["openai/gpt-4o"])
    assert response.choices[0].message.content == "from the fallback" and response.model == "gpt-4o"
    assert [(a.model, a.status_code) for a in response.attempts] == [("gpt-4o-mini", 500)] * 3 + [("gpt-4o", None)]
    assert "to trigger a fallback. Fallbacks=['openai/gpt-4o']" in (response.attempts[0].message or "")


def test_mock_testing_fallbacks_fails_every_model_list_deployment() -> None:
    entries = [{"model_name": "g", "model": "openai/gpt-4o-mini"}, {"model_name": "g", "model": "openai/gpt-4o"}]
    with pytest.raises(routerlib.InternalServerError) as caught:
        client().completion("g", MESSAGES, model_list=entries, mock_testing_fallbacks=True, num_retries=0,
                            mock_response="x")
    assert [a.model for a in caught.value.attempts] == ["gpt-4o-mini", "gpt-4o"]


def test_mock_tool_calls_are_the_answer() -> None:
    response = client().completion(MODEL, MESSAGES, mock_tool_calls=TOOL_CALLS)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    assert [c.model_dump(exclude_none=True) for c in choice.message.tool_calls] == TOOL_CALLS


def test_mock_tool_calls_get_an_id_and_json_arguments() -> None:
    response = client().completion(MODEL, MESSAGES, mock_response="calling",
                                   mock_tool_calls=[{"function": {"name": "f", "arguments": {"a": 1}}}])
    (call,) = response.choices[0].message.tool_calls or []
    assert (call.id, call.type, call.function.arguments) == ("call_mock_0", "function", '{"a": 1}')
    assert response.choices[0].message.content == "calling"


def test_mock_tool_calls_stream_in_pieces_and_rebuild() -> None:
    stream = client().completion(MODEL, MESSAGES, mock_tool_calls=TOOL_CALLS, stream=True)
    chunks = list(stream)
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks
              if c.choices and c.choices[0].delta.tool_calls]
    assert len(pieces) > 2 and "".join(pieces) == TOOL_CALLS[0]["function"]["arguments"]
    assert stream.response is not None
    (call,) = stream.response.choices[0].message.tool_calls or []
    assert call.id == "call_7" and call.function.name == "get_weather"
    assert stream.response.choices[0].finish_reason == "tool_calls"


def test_mock_tool_calls_async_stream() -> None:
    async def main() -> Any:
        stream = await client().acompletion(MODEL, MESSAGES, mock_tool_calls=TOOL_CALLS, stream=True)
        async for _ in stream:
            pass
        return stream.response

    response = asyncio.run(main())
    assert response.choices[0].message.tool_calls[0].function.arguments == TOOL_CALLS[0]["function"]["arguments"]


@pytest.mark.parametrize(("calls", "said"), [
    ([{"type": "function"}], "mock_tool_calls[0]: each tool call needs function.name"),
    ([{"function": {"name": ""}}], "mock_tool_calls[0]: each tool call needs function.name"),
    ([{"function": {"name": "f", "arguments": 3}}], "arguments: a JSON string or a dict"),
])
def test_bad_mock_tool_calls_are_refused(calls: Any, said: str) -> None:
    with pytest.raises(routerlib.InvalidRequestError) as caught:
        client().completion(MODEL, MESSAGES, mock_tool_calls=calls)
    assert said in str(caught.value)


def test_mock_tool_calls_on_a_text_completion_are_refused() -> None:
    with pytest.raises(routerlib.InvalidRequestError, match="only for chat completions"):
        client().text_completion("openai/gpt-3.5-turbo-instruct", "x", mock_tool_calls=TOOL_CALLS)


def test_a_misspelt_error_name_is_refused_not_sent_as_text() -> None:
    with pytest.raises(routerlib.InvalidRequestError, match="names no LiteLLM error"):
        client().completion(MODEL, MESSAGES, mock_response="litellm.RateLimitErorr")
    text = client().completion(MODEL, MESSAGES, mock_response="litellm.ai is a library")
    assert text.choices[0].message.content == "litellm.ai is a library"


def test_mocked_embeddings_one_vector_per_input_priced_and_failing_like_real_ones() -> None:
    response = client().embedding("openai/text-embedding-3-small", ["a b", "c"], mock_response=[0.5, 0.25])
    assert [d.embedding for d in response.data] == [[0.5, 0.25], [0.5, 0.25]]
    assert response.usage is not None and response.usage.estimated and response.cost is not None
    with pytest.raises(routerlib.RateLimitError):
        client().embedding("openai/text-embedding-3-small", "x", mock_response="litellm.RateLimitError")


def test_a_mocked_embedding_is_refused_where_the_provider_has_none() -> None:
    with pytest.raises(routerlib.UnsupportedParamsError, match="anthropic has no embeddings API"):
        client().embedding("anthropic/claude-3-5-haiku-latest", "x", mock_response=[1.0])


def test_mock_testing_fallbacks_keeps_a_fallback_real() -> None:
    registry = ProviderRegistry.with_builtins()
    planner = Planner(registry, None, environ={"OPENAI_API_KEY": "k"})
    request = build_request({"model": MODEL, "messages": MESSAGES, "mock_testing_fallbacks": True})
    deployment = planner.deployment(MODEL)
    assert isinstance(mocked(deployment, request, primary=True).adapter, MockAdapter)
    assert mocked(deployment, request, primary=False) is deployment
    text = build_request({"model": MODEL, "messages": MESSAGES, "mock_response": "hi"})
    assert isinstance(mocked(deployment, text, primary=False).adapter, MockAdapter)


def test_litellm_bridge_takes_a_text_mock_itself_but_not_an_exception() -> None:
    planner = Planner(ProviderRegistry.with_builtins(), None, environ={})
    bridge = planner.deployment("litellm/openai/gpt-4o-mini")
    text = build_request({"model": "litellm/openai/gpt-4o-mini", "messages": MESSAGES, "mock_response": "hi"})
    assert mocked(bridge, text, primary=True) is bridge
    failing = build_request({"model": "litellm/openai/gpt-4o-mini", "messages": MESSAGES,
                             "mock_response": ValueError("x")})
    assert isinstance(mocked(bridge, failing, primary=True).adapter, MockAdapter)


class _Events(Observer):
    def __init__(self) -> None:
        self.operations: list[str] = []
        self.ends: list[str] = []

    def on_call_start(self, event: Any) -> None:
        self.operations.append(event.operation)

    def on_attempt_end(self, event: Any) -> None:
        self.ends.append(event.outcome)


def test_observers_see_mocked_failures_as_attempts() -> None:
    events = _Events()
    with pytest.raises(routerlib.InternalServerError):
        client(observers=[events]).completion(MODEL, MESSAGES, mock_response="litellm.InternalServerError",
                                              num_retries=1)
    client(observers=[events]).embedding("openai/text-embedding-3-small", "x", mock_response=[1.0])
    assert events.operations == ["chat", "embeddings"] and events.ends == ["error", "error", "ok"]


def test_what_the_mocked_server_is_asked() -> None:
    deployment = Planner(ProviderRegistry.with_builtins(), None, environ={}).deployment(MODEL, {"api_key": "k"})
    request = build_request({"model": MODEL, "messages": MESSAGES, "mock_response": "litellm.NotFoundError"})
    adapter = mocked(deployment, request, primary=True).adapter
    assert isinstance(adapter, MockAdapter)
    sent = adapter.build_request(request, {}, deployment)
    assert sent.url == "mock://openai" and json.loads(sent.body) == {
        "fail": {"status": 404, "message": "this is a mock not found error"}}
