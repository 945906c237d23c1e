"""routerlib.otel through real client calls (in-memory transports): exactly one span per call and
per attempt, sync, async and streams (complete, closed early, broken off), with the exact tree."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import KEY, MESSAGES, MODEL, async_client, chat_body, client, complete_stream, ok, sse, sse_response
from core_helpers import chunk as sse_chunk
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from otel_helpers import BrokenProvider, Telemetry

import routerlib
from routerlib.otel import OpenTelemetryObserver
from routerlib.transport import HTTPRequest, HTTPResponse


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def observers(telemetry: Telemetry, **kwargs: Any) -> list[OpenTelemetryObserver]:
    return [OpenTelemetryObserver(telemetry.tracer_provider, telemetry.meter_provider, **kwargs)]


def tree(telemetry: Telemetry) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The one call span and its attempt spans (in start order); asserts nothing else was made."""
    spans = telemetry.finished()
    calls = [s for s in spans if s.kind == SpanKind.INTERNAL]
    attempts = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time or 0)
    assert len(calls) == 1 and len(calls) + len(attempts) == len(spans)
    (call,) = calls
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
        assert call.start_time is not None and attempt.start_time is not None and attempt.end_time is not None
        assert call.end_time is not None
        assert call.start_time <= attempt.start_time <= attempt.end_time <= call.end_time
    return call, attempts


def flaky_then_fallback(request: HTTPRequest) -> HTTPResponse:
    if b'"gpt-4o-mini"' in request.body:
        return HTTPResponse(429, {"retry-after": "0"}, b'{"error": {"message": "slow down", "type": "rate"}}')
    return ok(chat_body("from the fallback", model="gpt-4o-2024-08-06"))


def assert_retry_then_fallback(telemetry: Telemetry) -> None:
    call, attempts = tree(telemetry)
    assert call.name == "routerlib chat openai/gpt-4o-mini"
    assert [a.name for a in attempts] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "chat gpt-4o"]
    reasons = [(a.attributes or {})["routerlib.attempt.reason"] for a in attempts]
    assert reasons == ["first", "retry", "fallback"]
    assert [a.status.status_code for a in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert [(a.attributes or {}).get("error.type") for a in attempts] == ["RateLimitError", "RateLimitError", None]
    last = dict(attempts[2].attributes or {})
    assert last["routerlib.fallback.reason"] == "RateLimitError"
    assert last["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert (last["gen_ai.usage.input_tokens"], last["gen_ai.usage.output_tokens"]) == (9, 3)
    assert last["gen_ai.usage.cost.currency"] == "USD" and float(last["gen_ai.usage.cost.amount"]) > 0
    assert (last["server.address"], last["server.port"]) == ("api.openai.com", 443)
    summary = dict(call.attributes or {})
    assert summary["routerlib.outcome"] == "ok" and summary["routerlib.attempts"] == 3
    assert [e.name for e in call.events] == ["routerlib.retry", "routerlib.fallback"]
    points = telemetry.metrics()["gen_ai.client.operation.duration"].data.data_points
    assert sum(p.count for p in points) == 3


def test_sync_call_with_retry_and_fallback(telemetry: Telemetry) -> None:
    c, _ = client(flaky_then_fallback, observers=observers(telemetry))
    response = c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1, fallbacks=["openai/gpt-4o"])
    assert response.choices[0].message.content == "from the fallback"
    assert_retry_then_fallback(telemetry)
    call, attempts = tree(telemetry)
    assert (call.attributes or {})["routerlib.call.id"]
    assert [(a.attributes or {})["routerlib.deployment.id"] for a in attempts] == [
        a.deployment_id for a in response.attempts]


async def test_async_call_with_retry_and_fallback(telemetry: Telemetry) -> None:
    c, _ = async_client(flaky_then_fallback, observers=observers(telemetry))
    await c.acompletion(MODEL, MESSAGES, api_key=KEY, num_retries=1, fallbacks=["openai/gpt-4o"])
    assert_retry_then_fallback(telemetry)


def test_a_failed_call_is_one_error_span_per_attempt_and_one_for_the_call(telemetry: Telemetry) -> None:
    c, _ = client(HTTPResponse(503, {"retry-after": "0"}, b'{"error": {"message": "overloaded"}}'),
                  observers=observers(telemetry))
    with pytest.raises(routerlib.ServiceUnavailableError):
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=2)
    call, attempts = tree(telemetry)
    assert len(attempts) == 3 and call.status.status_code == StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "ServiceUnavailableError"
    assert all((a.attributes or {})["http.response.status_code"] == 503 for a in attempts)


def test_sync_stream_read_to_the_end(telemetry: Telemetry) -> None:
    c, _ = client(sse_response(complete_stream()), observers=observers(telemetry))
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True, stream_options={"include_usage": True})
    assert telemetry.finished() == []  # the first chunk is in, the stream is open: nothing ended yet
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == "Hello"
    _, (attempt,) = tree(telemetry)
    attributes = dict(attempt.attributes or {})
    assert attributes["gen_ai.request.stream"] is True and attributes["routerlib.stream.end"] == "complete"
    assert attributes["gen_ai.response.id"] == "chatcmpl-s" and attributes["gen_ai.response.finish_reasons"] == (
        "stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 7 and "gen_ai.response.time_to_first_chunk" in attributes
    assert "gen_ai.client.operation.time_to_first_chunk" in telemetry.metrics()


def test_sync_stream_closed_early(telemetry: Telemetry) -> None:
    body = sse(sse_chunk("", role="assistant"), sse_chunk("a"), sse_chunk("b"), sse_chunk(finish="stop"))
    c, _ = client(sse_response(body), observers=observers(telemetry))
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    for _ in stream:
        break
    stream.close()
    stream.close()
    call, (attempt,) = tree(telemetry)
    assert (attempt.attributes or {})["routerlib.stream.end"] == "closed"
    assert (call.attributes or {})["routerlib.outcome"] == "ok"


def test_sync_stream_broken_off(telemetry: Telemetry) -> None:
    body = sse(sse_chunk("", role="assistant"), sse_chunk("partial"), done=False)
    c, _ = client(sse_response(body), observers=observers(telemetry))
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    with pytest.raises(routerlib.StreamInterruptedError):
        list(stream)
    call, (attempt,) = tree(telemetry)
    assert (attempt.attributes or {})["routerlib.stream.end"] == "interrupted"
    assert (attempt.attributes or {})["error.type"] == "StreamInterruptedError"
    assert call.status.status_code == StatusCode.ERROR


async def test_async_stream_read_and_closed_early(telemetry: Telemetry) -> None:
    body = sse(sse_chunk("", role="assistant"), sse_chunk("a"), sse_chunk("b"), sse_chunk(finish="stop"))
    c, _ = async_client(sse_response(body), observers=observers(telemetry))
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    async for _ in stream:  # type: ignore[union-attr]
        break
    await stream.aclose()  # type: ignore[union-attr]
    await stream.aclose()  # type: ignore[union-attr]
    _, (attempt,) = tree(telemetry)
    assert (attempt.attributes or {})["routerlib.stream.end"] == "closed"

    second = Telemetry()
    c, _ = async_client(sse_response(complete_stream()), observers=observers(second))
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert [ch async for ch in stream]  # type: ignore[union-attr]
    _, (attempt,) = tree(second)
    assert (attempt.attributes or {})["routerlib.stream.end"] == "complete"


def test_a_stream_that_fails_before_content_is_retried_as_a_sibling(telemetry: Telemetry) -> None:
    answers = iter([sse_response(sse(done=False)), sse_response(complete_stream())])
    c, _ = client(lambda request: next(answers), observers=observers(telemetry))
    assert list(c.completion(MODEL, MESSAGES, api_key=KEY, stream=True, num_retries=1))
    _, attempts = tree(telemetry)
    assert [(a.attributes or {})["routerlib.outcome"] for a in attempts] == ["error", "ok"]


def test_text_completion_is_its_operation(telemetry: Telemetry) -> None:
    body = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": "4", "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    c, _ = client(ok(body), observers=observers(telemetry, capture_content=True))
    c.text_completion("openai/gpt-3.5-turbo-instruct", "2+2=", api_key=KEY)
    call, (attempt,) = tree(telemetry)
    assert call.name == "routerlib text_completion openai/gpt-3.5-turbo-instruct"
    assert attempt.name == "text_completion gpt-3.5-turbo-instruct"
    attributes = dict(attempt.attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "2+2="}]}]
    assert json.loads(str(attributes["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "4"


def test_a_context_window_skip_is_a_span_too(telemetry: Telemetry) -> None:
    c, _ = client(ok(), observers=observers(telemetry))
    c.register_model("tiny", litellm_provider="openai", max_input_tokens=10, max_output_tokens=10,
                     input_cost_per_token="0.000001", output_cost_per_token="0.000002")
    c.completion("openai/tiny", [{"role": "user", "content": "story " * 100}], api_key=KEY,
                 fallbacks=["openai/gpt-4o-mini"])
    _, attempts = tree(telemetry)
    assert [(a.attributes or {})["routerlib.outcome"] for a in attempts] == ["skipped", "ok"]
    assert (attempts[1].attributes or {})["routerlib.attempt.reason"] == "context_window"


def test_a_broken_tracer_never_breaks_a_real_call(telemetry: Telemetry) -> None:
    provider = BrokenProvider()
    c, _ = client(sse_response(complete_stream()),
                  observers=[OpenTelemetryObserver(provider, NoOpMeterProvider())])  # type: ignore[arg-type]
    assert "".join(ch.choices[0].delta.content or "" for ch in c.completion(MODEL, MESSAGES, api_key=KEY,
                                                                             stream=True) if ch.choices) == "Hello"
    assert [s.ended for s in provider.tracer.spans] == [1, 1]


def test_the_call_span_is_a_child_of_the_callers_span(telemetry: Telemetry) -> None:
    c, _ = client(ok(), observers=observers(telemetry))
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as outer:
        c.completion(MODEL, MESSAGES, api_key=KEY)
    call = telemetry.by_name("routerlib chat openai/gpt-4o-mini")[0]
    assert call.parent is not None and call.parent.span_id == outer.get_span_context().span_id


def test_a_key_quoted_back_by_the_provider_is_in_no_span(telemetry: Telemetry) -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}.", "code": "invalid_api_key"}})
    c, _ = client(HTTPResponse(401, {}, body.encode()), observers=observers(telemetry, capture_content=True))
    with pytest.raises(routerlib.AuthenticationError):
        c.completion(MODEL, MESSAGES, api_key=KEY)
    call, (attempt,) = tree(telemetry)
    assert attempt.status.description == "Incorrect API key provided: <hidden>."
    for span in (call, attempt):
        seen = json.dumps([dict(span.attributes or {}), span.status.description,
                           [dict(e.attributes or {}) for e in span.events]])
        assert KEY not in seen


def test_an_embedding_is_its_operation_with_its_own_attributes(telemetry: Telemetry) -> None:
    body = {"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 3, "total_tokens": 3},
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]}
    c, _ = client(ok(body), observers=observers(telemetry, capture_content=True))
    c.embedding("openai/text-embedding-3-small", "secret words", api_key=KEY, dimensions=2, encoding_format="float")
    call, (attempt,) = tree(telemetry)
    assert call.name == "routerlib embeddings openai/text-embedding-3-small"
    assert attempt.name == "embeddings text-embedding-3-small"
    attributes = dict(attempt.attributes or {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.embeddings.dimension.count"] == 2
    assert list(attributes["gen_ai.request.encoding_formats"]) == ["float"]  # type: ignore[arg-type]
    assert attributes["gen_ai.usage.input_tokens"] == 3 and attributes["gen_ai.response.model"] == (
        "text-embedding-3-small")
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes
    assert "gen_ai.response.finish_reasons" not in attributes
    assert attempt.status.status_code == StatusCode.UNSET
