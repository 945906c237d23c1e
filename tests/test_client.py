"""routerlib.client: the four calls agree; mock_response; keys; drop_params; what reaches the wire."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from core_helpers import (
    KEY,
    MESSAGES,
    MODEL,
    async_client,
    chat_body,
    client,
    complete_stream,
    never_called,
    ok,
    sent_json,
    sse_response,
)

import routerlib
from routerlib import exceptions as ex
from routerlib.transport import AsyncMockTransport, HTTPRequest, HTTPResponse, MockTransport

TEXT_BODY = {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "gpt-3.5-turbo-instruct",
             "choices": [{"index": 0, "text": "Hi!", "finish_reason": "stop", "logprobs": None}],
             "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}}


def comparable(response: Any) -> dict[str, Any]:
    """What must be equal between the sync and async twins (latencies differ)."""
    return {"dump": response.model_dump(), "provider": response.provider, "cost": response.cost,
            "attempts": [a.model_copy(update={"latency": 0.0}) for a in response.attempts],
            "dropped": response.dropped_params}


# -- the four calls


async def test_completion_and_acompletion_are_equivalent() -> None:
    sync_client, sync_transport = client(ok())
    async_c, async_transport = async_client(ok())
    params: dict[str, Any] = {"api_key": KEY, "temperature": 0.3, "max_tokens": 20}
    sync_result = sync_client.completion(MODEL, MESSAGES, **params)
    async_result = await async_c.acompletion(MODEL, MESSAGES, **params)
    assert isinstance(sync_result, routerlib.ModelResponse)
    assert isinstance(async_result, routerlib.ModelResponse)
    assert comparable(sync_result) == comparable(async_result)
    assert sync_transport.requests == async_transport.requests
    assert sync_result.cost is not None and isinstance(sync_result.cost.total, Decimal)
    assert sync_result.provider == "openai"
    assert [a.outcome for a in sync_result.attempts] == ["ok"]


async def test_text_completion_and_atext_completion_are_equivalent() -> None:
    answer = HTTPResponse(200, {}, json.dumps(TEXT_BODY).encode())
    sync_client, sync_transport = client(answer)
    async_c, async_transport = async_client(answer)
    model = "openai/gpt-3.5-turbo-instruct"
    sync_result = sync_client.text_completion(model, "Say hi", api_key=KEY, max_tokens=5)
    async_result = await async_c.atext_completion(model, "Say hi", api_key=KEY, max_tokens=5)
    assert isinstance(sync_result, routerlib.TextCompletion)
    assert sync_result.choices[0].text == "Hi!"
    assert comparable(sync_result) == comparable(async_result)
    assert sync_transport.requests[0].url.endswith("/v1/completions")
    assert sent_json(sync_transport) == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5}
    assert sync_transport.requests == async_transport.requests


def test_text_completion_prompt_list() -> None:
    c, transport = client(HTTPResponse(200, {}, json.dumps(TEXT_BODY).encode()))
    c.text_completion("openai/gpt-3.5-turbo-instruct", ["a", "b"], api_key=KEY)
    assert sent_json(transport)["prompt"] == ["a", "b"]


async def test_streams_are_equivalent() -> None:
    sync_client, _ = client(sse_response(complete_stream()))
    async_c, _ = async_client(sse_response(complete_stream()))
    sync_stream = sync_client.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    async_stream = await async_c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert isinstance(sync_stream, routerlib.Stream) and isinstance(async_stream, routerlib.AsyncStream)
    sync_chunks = [c.model_dump() for c in sync_stream]
    async_chunks = [c.model_dump() async for c in async_stream]
    assert sync_chunks == async_chunks
    assert sync_stream.response is not None and async_stream.response is not None
    assert sync_stream.response.model_dump() == async_stream.response.model_dump()
    assert sync_stream.cost == async_stream.cost


def test_what_reaches_the_wire() -> None:
    c, transport = client(ok())
    c.completion(MODEL, MESSAGES, api_key=KEY, headers={"x-a": "1"}, extra_headers={"x-b": "2"},
                 temperature=0, stop=["\n"], metadata={"team": "search"}, num_retries=0)
    request = transport.requests[0]
    assert request.method == "POST"
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-a"] == "1" and request.headers["x-b"] == "2"
    assert sent_json(transport) == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0, "stop": ["\n"]}


def test_api_base_points_at_any_openai_compatible_server() -> None:
    c, transport = client(ok())
    with pytest.warns(UserWarning, match="unknown"):  # no price for a local model: said, not a silent zero
        response = c.completion("my-local-model", MESSAGES, base_url="http://127.0.0.1:9/v1/", api_key="none")
    assert transport.requests[0].url == "http://127.0.0.1:9/v1/chat/completions"
    assert sent_json(transport)["model"] == "my-local-model"
    assert response.cost is None or response.cost.total is None


def test_bare_known_model_name_resolves_its_provider() -> None:
    c, transport = client(ok())
    response = c.completion("gpt-4o-mini", MESSAGES, api_key=KEY)
    assert response.provider == "openai"
    assert transport.requests[0].url.startswith("https://api.openai.com/")


def test_unknown_bare_model_is_a_clear_error() -> None:
    c, transport = client(never_called)
    with pytest.raises(ex.InvalidRequestError, match="provider/model"):
        c.completion("no-such-model-xyz", MESSAGES, api_key=KEY)
    assert transport.requests == []


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        routerlib.Client(timeout=0)


# -- mock_response


def test_mock_response_needs_no_network_and_no_key() -> None:
    c, transport = client(never_called)
    response = c.completion(MODEL, MESSAGES, mock_response="It is sunny.")
    assert isinstance(response, routerlib.ModelResponse)
    assert response.choices[0].message.content == "It is sunny."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.estimated
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert response.cost is not None and response.cost.total is not None and response.cost.total > 0
    assert response.cost.estimated
    assert [(a.provider, a.model, a.outcome) for a in response.attempts] == [("openai", "gpt-4o-mini", "ok")]
    assert transport.requests == []


def test_mock_response_still_validates() -> None:
    c, _ = client(never_called)
    with pytest.raises(ex.InvalidRequestError, match="top_p"):
        c.completion(MODEL, MESSAGES, mock_response="x", top_p=3)


async def test_mock_response_async_and_text() -> None:
    c, transport = async_client(never_called)
    response = await c.acompletion(MODEL, MESSAGES, mock_response="Hi there")
    assert isinstance(response, routerlib.ModelResponse)
    assert response.choices[0].message.content == "Hi there"
    assert response.usage is not None and response.usage.estimated and response.cost is not None
    text = await c.atext_completion("openai/gpt-3.5-turbo-instruct", "Say hi", mock_response="Hi")
    assert isinstance(text, routerlib.TextCompletion)
    assert text.choices[0].text == "Hi"
    assert text.usage is not None and text.usage.estimated and text.cost is not None
    assert transport.requests == []


def test_mock_response_stream() -> None:
    c, transport = client(never_called)
    stream = c.completion(MODEL, MESSAGES, mock_response="one two three", stream=True,
                          stream_options={"include_usage": True})
    assert isinstance(stream, routerlib.Stream)
    chunks = list(stream)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "one two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert stream.usage is not None and stream.usage.estimated
    assert stream.cost is not None and stream.cost.estimated and stream.cost.total is not None
    assert len(stream.attempts) == 1
    assert transport.requests == []


async def test_mock_response_async_stream() -> None:
    c, transport = async_client(never_called)
    stream = await c.acompletion(MODEL, MESSAGES, mock_response="one two", stream=True)
    assert isinstance(stream, routerlib.AsyncStream)
    text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert text == "one two"
    assert stream.usage is not None and stream.usage.estimated
    assert stream.cost is not None and stream.cost.total is not None
    assert transport.requests == []


def test_mock_response_text_completion_stream() -> None:
    c, transport = client(never_called)
    stream = c.text_completion("openai/gpt-3.5-turbo-instruct", "x", mock_response="a b", stream=True)
    assert isinstance(stream, routerlib.Stream)
    assert "".join(ch.choices[0].text for ch in stream) == "a b"  # type: ignore[attr-defined]
    assert isinstance(stream.response, routerlib.TextCompletion)
    assert stream.response.choices[0].text == "a b"
    assert transport.requests == []


# -- keys


def test_missing_api_key_names_the_environment_variable() -> None:
    c, transport = client(never_called, environ={})
    with pytest.raises(ex.MissingAPIKeyError) as info:
        c.completion(MODEL, MESSAGES)
    assert "OPENAI_API_KEY" in str(info.value)
    assert isinstance(info.value, ex.AuthenticationError)
    assert info.value.status_code is None
    assert transport.requests == []


def test_api_key_from_the_environment_mapping() -> None:
    c, transport = client(ok(), environ={"OPENAI_API_KEY": "sk-from-env"})
    c.completion(MODEL, MESSAGES)
    assert transport.requests[0].headers["authorization"] == "Bearer sk-from-env"


def test_api_key_argument_wins_over_the_environment() -> None:
    c, transport = client(ok(), environ={"OPENAI_API_KEY": "sk-from-env"})
    c.completion(MODEL, MESSAGES, api_key=KEY)
    assert transport.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_api_key_never_in_errors_or_attempts() -> None:
    body = json.dumps({"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}}).encode()
    c, _ = client(HTTPResponse(401, {}, body))
    with pytest.raises(ex.AuthenticationError) as info:
        c.completion(MODEL, MESSAGES, api_key=KEY, fallbacks=[{"model": "openai/gpt-4o", "api_key": KEY}])
    error = info.value
    texts = [str(error), repr(error), repr(error.attempts), repr(error.body), repr(error.__dict__)]
    assert all(KEY not in text for text in texts)
    assert len(error.attempts) == 2


def test_api_key_never_in_response_attempts() -> None:
    c, _ = client(ok())
    response = c.completion(MODEL, MESSAGES, api_key=KEY)
    assert KEY not in repr(response)
    assert KEY not in repr(response.attempts)


# -- drop_params / UnsupportedParamsError


def test_unsupported_param_raises_before_sending() -> None:
    c, transport = client(never_called)
    with pytest.raises(ex.UnsupportedParamsError) as info:
        c.completion(MODEL, MESSAGES, api_key=KEY, repetition_penalty=1.2)
    assert "repetition_penalty" in str(info.value)
    assert "drop_params" in str(info.value)
    assert transport.requests == []


def test_drop_params_drops_and_records() -> None:
    c, transport = client(ok())
    response = c.completion(MODEL, MESSAGES, api_key=KEY, repetition_penalty=1.2, router_preference="balanced",
                            temperature=0.1, drop_params=True)
    assert response.dropped_params == ("repetition_penalty", "router_preference")
    body = sent_json(transport)
    assert "repetition_penalty" not in body and "router_preference" not in body
    assert body["temperature"] == 0.1


def test_nothing_dropped_records_nothing() -> None:
    c, _ = client(ok())
    assert c.completion(MODEL, MESSAGES, api_key=KEY, drop_params=True).dropped_params == ()


def test_drop_params_recorded_on_a_stream_response() -> None:
    c, _ = client(sse_response(complete_stream()))
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True, repetition_penalty=1.2, drop_params=True)
    list(stream)
    assert stream.response is not None
    assert stream.response.dropped_params == ("repetition_penalty",)


def test_unsupported_params_error_names_the_deployment_model() -> None:
    c, _ = client(never_called)
    with pytest.raises(ex.UnsupportedParamsError) as info:
        c.completion(MODEL, MESSAGES, api_key=KEY, repetition_penalty=1.2)
    assert info.value.provider == "openai"
    assert info.value.model == "gpt-4o-mini"
    assert "openai/openai/" not in str(info.value)


# -- errors through the client


def test_provider_error_is_typed_with_request_id_and_attempts() -> None:
    body = json.dumps({"error": {"message": "This model's maximum context length is 8192 tokens.",
                                 "type": "invalid_request_error", "code": "context_length_exceeded"}}).encode()
    c, transport = client(HTTPResponse(400, {"x-request-id": "req_42"}, body))
    with pytest.raises(ex.ContextWindowExceededError) as info:
        c.completion(MODEL, MESSAGES, api_key=KEY)
    error = info.value
    assert error.status_code == 400
    assert error.request_id == "req_42"
    assert error.provider == "openai" and error.model == "gpt-4o-mini"
    assert [(a.outcome, a.status_code) for a in error.attempts] == [("error", 400)]
    assert error.history is not None and "1 attempt" in error.history
    assert len(transport.requests) == 1, "a context window error is not retried"


def test_retryable_error_is_retried_then_raised_with_history() -> None:
    c, transport = client(HTTPResponse(503, {"retry-after": "0"}, b'{"error": {"message": "busy"}}'))
    with pytest.raises(ex.ServiceUnavailableError) as info:
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=2)
    assert len(transport.requests) == 3
    assert len(info.value.attempts) == 3
    assert "3 attempts" in str(info.value)


def test_num_retries_zero_means_one_request() -> None:
    c, transport = client(HTTPResponse(500, {}, b"{}"))
    with pytest.raises(ex.InternalServerError):
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=0)
    assert len(transport.requests) == 1


def test_connection_error_from_the_transport_is_recorded() -> None:
    def refuse(request: HTTPRequest) -> HTTPResponse:
        raise ex.APIConnectionError("connection refused")

    c, transport = client(refuse)
    with pytest.raises(ex.APIConnectionError) as info:
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1)
    assert len(transport.requests) == 2
    assert [a.error for a in info.value.attempts] == ["APIConnectionError", "APIConnectionError"]


def test_usage_missing_from_the_provider_is_estimated() -> None:
    c, _ = client(ok(chat_body("Hello there", usage=None) | {"usage": None}))
    response = c.completion(MODEL, MESSAGES, api_key=KEY)
    assert response.usage is not None and response.usage.estimated
    assert response.cost is not None and response.cost.estimated


def test_client_context_managers_close_transports() -> None:
    closed: list[str] = []

    class Closing(MockTransport):
        def close(self) -> None:
            closed.append("sync")

    class AsyncClosing(AsyncMockTransport):
        async def aclose(self) -> None:
            closed.append("async")

    with routerlib.Client(transport=Closing(never_called), environ={}):
        pass
    assert closed == ["sync"]

    async def run() -> None:
        async with routerlib.Client(transport=Closing(never_called),
                                    async_transport=AsyncClosing(never_called), environ={}):
            pass

    import asyncio

    asyncio.run(run())
    assert closed == ["sync", "async", "sync"]


def test_mock_response_counts_a_prompt_list() -> None:
    c, _ = client(never_called)
    response = c.text_completion("openai/gpt-3.5-turbo-instruct", ["a long first prompt", "and a second one"],
                                 mock_response="x")
    assert response.usage is not None
    assert response.usage.prompt_tokens > 0



@pytest.mark.parametrize("mode", ["sync", "async"])
def test_deadline_bounds_a_stream_kept_alive_by_comments(mode: str) -> None:
    import asyncio
    import time

    from loopback_server import LoopbackServer

    server = LoopbackServer().start()
    try:
        params = {"api_base": server.base + "/keepalive", "api_key": KEY, "stream": True, "deadline": 0.5,
                  "num_retries": 0}
        started = time.monotonic()
        with pytest.raises(ex.APITimeoutError):
            if mode == "sync":
                list(routerlib.Client().completion(MODEL, MESSAGES, **params))  # type: ignore[arg-type]
            else:
                async def run() -> None:
                    async with routerlib.Client() as c:
                        stream = await c.acompletion(MODEL, MESSAGES, **params)  # type: ignore[arg-type]
                        async for _ in stream:  # type: ignore[union-attr]
                            pass
                asyncio.run(run())
        assert time.monotonic() - started < 1.2
    finally:
        server.stop()


def test_mock_response_checks_provider_params_like_a_real_call() -> None:
    c = routerlib.Client(environ={})
    with pytest.raises(ex.UnsupportedParamsError, match="logit_bias"):
        c.completion("anthropic/claude-sonnet-4-5", MESSAGES, mock_response="hi", logit_bias={"1": 1})
    response = c.completion("anthropic/claude-sonnet-4-5", MESSAGES, mock_response="hi", logit_bias={"1": 1},
                            drop_params=True)
    assert response.dropped_params == ("logit_bias",)  # type: ignore[union-attr]
    stream = c.completion("anthropic/claude-sonnet-4-5", MESSAGES, mock_response="hi", seed=1,
                          drop_params=True, stream=True)
    list(stream)  # type: ignore[arg-type]
    assert stream.response is not None and stream.response.dropped_params == ("seed",)  # type: ignore[union-attr]


def test_unknown_cost_warning_points_at_the_callers_line() -> None:
    import warnings

    from routerlib.cost import CostUnknownWarning

    c, _ = client(ok())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.completion("openai/a-model-with-no-price", MESSAGES, api_key=KEY)
    (warning,) = [w for w in caught if issubclass(w.category, CostUnknownWarning)]
    assert warning.filename == __file__


def test_a_key_quoted_back_by_the_provider_is_hidden_everywhere() -> None:
    secret = "sk-proj-" + "QUOTEDBACK1234567890"
    body = {"error": {"message": f"Incorrect API key provided: {secret}. See your dashboard.",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}
    c, _ = client(lambda request: HTTPResponse(401, {}, json.dumps(body).encode()))
    with pytest.raises(ex.AuthenticationError) as info:
        c.completion(MODEL, MESSAGES, api_key=secret, num_retries=0)
    error = info.value
    shown = [str(error), repr(error), error.message, json.dumps(error.body),
             *(a.message or "" for a in error.attempts)]
    assert all(secret not in text for text in shown)
    assert "Incorrect API key provided: <hidden>" in error.message


def test_a_client_loads_a_users_model_map_file_and_keeps_it_to_itself(tmp_path: Any) -> None:
    from pathlib import Path

    path = Path(tmp_path) / "prices.json"
    path.write_text(json.dumps({
        "my-local-llm": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 8000,
                         "max_output_tokens": 1000, "input_cost_per_token": 0.000001,
                         "output_cost_per_token": 0.000002},
        "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 0.1,
                        "output_cost_per_token": 0.1},
    }))
    mine = routerlib.Client(model_map=path, environ={})
    own = mine.completion("openai/my-local-llm", MESSAGES, mock_response="hi")
    assert own.cost is not None and own.cost.total is not None and own.cost.source == "model_map"  # type: ignore[union-attr]
    overridden = mine.completion("openai/gpt-4o-mini", MESSAGES, mock_response="hi")
    default = routerlib.Client(environ={}).completion("openai/gpt-4o-mini", MESSAGES, mock_response="hi")
    assert overridden.cost.total > 100 * default.cost.total  # type: ignore[union-attr,operator]


def test_limits_reach_both_transports_and_bad_values_are_refused() -> None:
    import pytest

    from routerlib import Limits
    from routerlib.testing import MockServer

    with pytest.raises(TypeError, match="Limits"):
        routerlib.Client(limits={"max_response_bytes": 10})  # type: ignore[arg-type]
    with MockServer(reply="x" * 5000) as server:
        client = routerlib.Client(limits=Limits(max_response_bytes=1024))
        with pytest.raises(routerlib.ResponseTooLargeError):
            client.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], api_base=server.url,
                              api_key="k", num_retries=0)


@pytest.mark.parametrize("kwargs", [{"timeout": "30"}, {"timeout": float("nan")}, {"policy": "aggressive"},
                                    {"ledger": "spend.db"}, {"budgets": "5"}, {"observers": 3}, {"environ": 1}])
def test_a_bad_constructor_argument_is_a_typed_error_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(routerlib.ConfigurationError) as info:
        routerlib.Client(**kwargs)
    assert isinstance(info.value, TypeError | ValueError)  # what Python code usually catches
    assert next(iter(kwargs)) in str(info.value)


def test_the_cache_a_client_or_router_uses_is_public() -> None:
    from routerlib.cache import MemoryCache

    assert routerlib.Client().cache is None
    cache = MemoryCache()
    assert routerlib.Client(cache=cache).cache is cache
    router = routerlib.Router([{"model_name": "chat", "litellm_params": {"model": "openai/gpt-4o-mini",
                                                                         "api_key": "sk-test-0123456789"}}],
                              cache_responses=True, environ={})
    assert isinstance(router.cache, MemoryCache)
    router.cache.clear()
