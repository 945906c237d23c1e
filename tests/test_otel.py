"""routerlib.otel: spans, attributes, metrics and robustness, from events built by hand.

Every test reads what the OpenTelemetry SDK recorded (in-memory span exporter, in-memory metric
reader). The end-to-end tests through real calls are in tests/test_otel_calls.py and
tests/integration/test_otel_otlp.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from otel_helpers import API_BASE, T0, WALL, BrokenProvider, Script, Telemetry, cost, ns, request, response, usage

from routerlib.exceptions import InternalServerError, RateLimitError
from routerlib.observe import AttemptStart, FirstToken, Observers
from routerlib.otel import SEMCONV_1_41, SEMCONV_GENAI_0_1, OpenTelemetryObserver
from routerlib.otel.semconv import DURATION_BUCKETS, TOKEN_BUCKETS, resolve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def observer(telemetry: Telemetry, **kwargs: Any) -> OpenTelemetryObserver:
    return OpenTelemetryObserver(telemetry.tracer_provider, telemetry.meter_provider, **kwargs)


def rate_limited() -> RateLimitError:
    return RateLimitError("Rate limit reached for gpt-4o", status_code=429, provider="openai", model="gpt-4o")


# -- the span tree
def test_one_call_is_one_internal_span_with_one_client_span_per_attempt(telemetry: Telemetry) -> None:
    script = Script(observer(telemetry)).start()
    script.attempt(1, T0 + 0.010, T0 + 0.250, use=usage(9, 3), price=cost())
    script.end(T0 + 0.260, resp=response(), price=cost())

    spans = telemetry.finished()
    assert [s.name for s in spans] == ["chat gpt-4o", "routerlib chat openai/gpt-4o"]
    attempt, call = spans
    assert (attempt.kind, call.kind) == (SpanKind.CLIENT, SpanKind.INTERNAL)
    assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    assert attempt.context.trace_id == call.context.trace_id
    assert call.parent is None
    # explicit times from the events, on the wall clock of CallStart
    assert call.start_time == int(WALL * 1e9) and call.end_time == ns(T0 + 0.260)
    assert (attempt.start_time, attempt.end_time) == (ns(T0 + 0.010), ns(T0 + 0.250))
    assert attempt.status.status_code == StatusCode.UNSET


def test_attempt_span_attributes_follow_the_conventions(telemetry: Telemetry) -> None:
    req = request(temperature=0.2, top_p=0.9, max_tokens=100, seed=7, stop=["END"], n=2, frequency_penalty=0.5,
                  presence_penalty=-0.5, response_format={"type": "json_object"}, reasoning_effort="low")
    script = Script(observer(telemetry), req=req).start()
    script.attempt(1, T0 + 0.01, T0 + 0.2, use=usage(120, 30, cached=100, cache_creation=20, reasoning=10),
                   price=cost("0.00042"))
    script.end(T0 + 0.2)
    attempt = telemetry.by_name("chat gpt-4o")[0]
    assert dict(attempt.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.choice.count": 2,
        "gen_ai.request.frequency_penalty": 0.5,
        "gen_ai.request.presence_penalty": -0.5,
        "gen_ai.output.type": "json",
        "routerlib.attempt": 1,
        "routerlib.attempt.reason": "first",
        "routerlib.deployment.id": f"openai/gpt-4o@{API_BASE}",
        "routerlib.provider": "openai",
        "routerlib.outcome": "ok",
        "gen_ai.response.id": "chatcmpl-42",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_creation.input_tokens": 20,
        "gen_ai.usage.reasoning.output_tokens": 10,
        "gen_ai.usage.cost.amount": 0.00042,
        "gen_ai.usage.cost.currency": "USD",
        "gen_ai.usage.cost.source": "local",
        "routerlib.cost.exact": "0.00042",
        "routerlib.cost.source": "model_map",
    }


def test_call_span_carries_routerlib_summary_and_no_gen_ai_usage(telemetry: Telemetry) -> None:
    answer = response()
    answer.provider = "openai"
    script = Script(observer(telemetry)).start()
    script.attempt(1, T0 + 0.01, T0 + 0.2, use=usage(), price=cost("0.5"))
    script.end(T0 + 0.3, resp=answer, price=cost("0.5"))
    call = telemetry.by_name("routerlib chat openai/gpt-4o")[0]
    assert dict(call.attributes or {}) == {
        "routerlib.call.id": "call-1", "routerlib.request.model": "openai/gpt-4o", "routerlib.outcome": "ok",
        "routerlib.attempts": 1, "routerlib.response.provider": "openai",
        "routerlib.response.model": "gpt-4o-2024-08-06", "routerlib.cost.total": 0.5, "routerlib.cost.exact": "0.5"}


def test_retries_and_fallbacks_are_sibling_attempt_spans_under_the_call(telemetry: Telemetry) -> None:
    script = Script(observer(telemetry)).start()
    script.attempt(1, T0 + 0.01, T0 + 0.02, outcome="error", error=rate_limited())
    script.retry(1, T0 + 0.02, 0.5, rate_limited())
    script.attempt(2, T0 + 0.52, T0 + 0.53, outcome="error", reason="retry", waited=0.5, error=rate_limited())
    script.fallback(2, T0 + 0.53, rate_limited())
    script.attempt(3, T0 + 0.53, T0 + 0.9, provider="anthropic", model="claude-haiku-4-5",
                   api_base="http://127.0.0.1:8080", reason="fallback", use=usage(), price=cost())
    script.end(T0 + 0.9, resp=response())

    call = telemetry.by_name("routerlib chat openai/gpt-4o")[0]
    attempts = [s for s in telemetry.finished() if s.kind == SpanKind.CLIENT]
    assert [s.name for s in attempts] == ["chat gpt-4o", "chat gpt-4o", "chat claude-haiku-4-5"]
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id for s in attempts)
    first, second, third = (dict(s.attributes or {}) for s in attempts)
    assert [a["routerlib.attempt"] for a in (first, second, third)] == [1, 2, 3]
    assert first["error.type"] == "RateLimitError" and first["http.response.status_code"] == 429
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert attempts[0].status.description == "Rate limit reached for gpt-4o"
    assert "routerlib.attempt.waited" not in first and second["routerlib.attempt.waited"] == 0.5
    assert second["routerlib.attempt.reason"] == "retry" and "routerlib.fallback.reason" not in second
    assert third["routerlib.fallback.reason"] == "RateLimitError"
    assert third["gen_ai.provider.name"] == "anthropic"
    assert (third["server.address"], third["server.port"]) == ("127.0.0.1", 8080)
    assert "error.type" not in third
    assert [(e.name, dict(e.attributes or {})) for e in call.events] == [
        ("routerlib.retry", {"routerlib.attempt": 1, "routerlib.retry.wait": 0.5, "error.type": "RateLimitError"}),
        ("routerlib.fallback", {"routerlib.attempt": 2, "routerlib.deployment.id": "dep-2",
                                "error.type": "RateLimitError"})]
    assert call.events[0].timestamp == ns(T0 + 0.02)


def test_a_failed_call_marks_its_span_with_the_last_error(telemetry: Telemetry) -> None:
    error = InternalServerError("upstream down", status_code=503)
    error.history = "1 attempt on 1 model: openai/gpt-4o 503"
    Script(observer(telemetry)).start().attempt(1, T0, T0 + 0.1, outcome="error", error=error).end(T0 + 0.1,
                                                                                                    error=error)
    call = telemetry.by_name("routerlib chat openai/gpt-4o")[0]
    assert call.status.status_code == StatusCode.ERROR and call.status.description == "upstream down"
    assert (call.attributes or {})["error.type"] == "InternalServerError"
    assert (call.attributes or {})["routerlib.outcome"] == "error"


def test_a_skipped_attempt_is_a_span_without_metrics(telemetry: Telemetry) -> None:
    script = Script(observer(telemetry)).start()
    script.attempt(1, T0, T0, outcome="skipped", message="prompt of 9000 tokens exceeds the context window")
    script.end(T0)
    attempt = telemetry.by_name("chat gpt-4o")[0]
    assert (attempt.attributes or {})["routerlib.outcome"] == "skipped"
    assert (attempt.attributes or {})["routerlib.skip.reason"] == "prompt of 9000 tokens exceeds the context window"
    assert "gen_ai.client.operation.duration" not in telemetry.metrics()


def test_stream_attempt_records_first_chunk_and_how_it_ended(telemetry: Telemetry) -> None:
    script = Script(observer(telemetry), stream=True).start()
    script.attempt(1, T0 + 0.01, T0 + 2.0, first_token=T0 + 0.31, stream_end="closed", use=usage(), price=cost())
    script.end(T0 + 2.0)
    attempt = telemetry.by_name("chat gpt-4o")[0]
    attributes = dict(attempt.attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.30)
    assert attributes["routerlib.stream.end"] == "closed"
    assert attempt.end_time == ns(T0 + 2.0)
    ttfc = telemetry.metrics()["gen_ai.client.operation.time_to_first_chunk"]
    point = ttfc.data.data_points[0]
    assert point.count == 1 and point.sum == pytest.approx(0.30)
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS


def test_a_streams_attempt_takes_its_response_from_call_end_and_keeps_its_own_end_time(
        telemetry: Telemetry) -> None:
    script = Script(observer(telemetry, capture_content=True), stream=True).start()
    script.attempt(1, T0 + 0.01, T0 + 1.5, first_token=T0 + 0.2, stream_end="complete", use=usage(), price=cost(),
                   streamed=True)
    assert telemetry.finished() == []  # held until CallEnd, which carries the assembled response
    script.end(T0 + 1.6, resp=response("Hello", finish="length"))
    attempt = telemetry.by_name("chat gpt-4o")[0]
    attributes = dict(attempt.attributes or {})
    assert attempt.end_time == ns(T0 + 1.5)
    assert attributes["gen_ai.response.id"] == "chatcmpl-42"
    assert attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert json.loads(str(attributes["gen_ai.output.messages"]))[0]["parts"] == [{"type": "text", "content": "Hello"}]
    assert attributes["routerlib.outcome"] == "ok"
    point = telemetry.metrics()["gen_ai.client.operation.duration"].data.data_points[0]
    assert point.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"


def test_stream_spans_end_only_when_the_stream_ends(telemetry: Telemetry) -> None:
    obs = observer(telemetry)
    Script(obs, stream=True).start()
    obs.on_attempt_start(AttemptStart("call-1", 1, "d", "openai", "gpt-4o", API_BASE, "first", 0.0, time=T0))
    obs.on_first_token(FirstToken("call-1", 1, "d", 0.1, time=T0 + 0.1))
    assert telemetry.finished() == []  # the first chunk reached the caller; the stream is still open


# -- metrics
def test_metrics_use_the_conventions_names_units_and_buckets(telemetry: Telemetry) -> None:
    script = Script(observer(telemetry)).start()
    script.attempt(1, T0, T0 + 0.02, outcome="error", error=rate_limited())
    script.attempt(2, T0 + 0.5, T0 + 0.75, reason="retry", use=usage(100, 20), price=cost("0.25"))
    script.end(T0 + 0.75)
    metrics = telemetry.metrics()
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    points = {p.attributes.get("error.type"): p for p in duration.data.data_points}
    assert set(points) == {"RateLimitError", None}
    assert points[None].sum == pytest.approx(0.25) and points["RateLimitError"].sum == pytest.approx(0.02)
    assert tuple(points[None].explicit_bounds) == DURATION_BUCKETS
    assert dict(points[None].attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06", "server.address": "api.openai.com", "server.port": 443}
    tokens = metrics["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens.data.data_points}
    assert (by_type["input"].sum, by_type["output"].sum) == (100, 20)
    assert tuple(by_type["input"].explicit_bounds) == TOKEN_BUCKETS
    spent = metrics["routerlib.client.cost"]
    assert spent.unit == "{USD}" and [p.value for p in spent.data.data_points] == [pytest.approx(0.25)]


def test_estimated_usage_is_on_the_span_but_not_in_the_token_metric(telemetry: Telemetry) -> None:
    Script(observer(telemetry)).start().attempt(1, T0, T0 + 0.1, use=usage(5, 5, estimated=True)).end(T0 + 0.1)
    assert (telemetry.by_name("chat gpt-4o")[0].attributes or {})["routerlib.usage.estimated"] is True
    assert "gen_ai.client.token.usage" not in telemetry.metrics()  # "MUST NOT report" counts it did not get


def test_an_unknown_price_is_never_a_zero_cost(telemetry: Telemetry) -> None:
    Script(observer(telemetry)).start().attempt(1, T0, T0 + 0.1, use=usage(), price=cost(None, "unknown")).end(
        T0 + 0.1)
    attributes = dict(telemetry.by_name("chat gpt-4o")[0].attributes or {})
    assert "gen_ai.usage.cost.amount" not in attributes and attributes["routerlib.cost.source"] == "unknown"
    assert "routerlib.client.cost" not in telemetry.metrics()


def test_genai_0_1_profile_names(telemetry: Telemetry) -> None:
    obs = observer(telemetry, semconv="genai-0.1")
    req = request(reasoning_effort="high")
    script = Script(obs, stream=True, req=req.model_copy(update={"stream": True})).start()
    script.attempt(1, T0, T0 + 1.0, first_token=T0 + 0.2, use=usage(50, 10, cached=40, cache_creation=5, reasoning=4))
    script.attempt(2, T0 + 1.0, T0 + 1.1, outcome="error", error=rate_limited())
    script.end(T0 + 1.1)
    first = dict(telemetry.by_name("chat gpt-4o")[0].attributes or {})
    assert first["gen_ai.usage.cache_write.input_tokens"] == 5
    assert "gen_ai.usage.cache_creation.input_tokens" not in first
    assert first["gen_ai.request.reasoning.level"] == "high"
    metrics = telemetry.metrics()
    assert {"gen_ai.client.inference.duration", "gen_ai.client.inference.time_to_first_chunk"} <= set(metrics)
    assert "gen_ai.client.token.usage" not in metrics and "gen_ai.client.operation.duration" not in metrics

    def sums(name: str) -> dict[str | None, int]:
        return {p.attributes.get("error.type"): p.value for p in metrics[name].data.data_points}

    prefix = "gen_ai.client.inference.usage."
    assert sums(prefix + "input_tokens") == {None: 50, "RateLimitError": 0}  # failed ones count 0
    assert sums(prefix + "cache_read.input_tokens") == {None: 40}
    assert sums(prefix + "cache_write.input_tokens") == {None: 5}
    assert sums(prefix + "reasoning.output_tokens") == {None: 4}
    point = metrics[prefix + "input_tokens"].data.data_points[0]
    assert point.attributes["gen_ai.token.modality"] == "unknown"
    histogram = metrics["gen_ai.client.inference.operation.output_tokens"].data.data_points
    assert sorted(p.sum for p in histogram) == [0, 10]
    assert tuple(histogram[0].explicit_bounds) == TOKEN_BUCKETS


# -- content
def test_content_is_never_recorded_by_default(telemetry: Telemetry) -> None:
    Script(observer(telemetry)).start().attempt(1, T0, T0 + 0.1, resp=response("secret answer")).end(T0 + 0.1)
    for span in telemetry.finished():
        text = json.dumps(dict(span.attributes or {}))
        assert "hello" not in text and "secret answer" not in text and "Be brief" not in text
        assert not any(k.startswith(("gen_ai.input", "gen_ai.output.messages", "gen_ai.system")) for k in
                       (span.attributes or {}))


def test_capture_content_records_messages_in_the_conventions_json_shape(telemetry: Telemetry) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is in"}, image]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"x": 1}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}]
    req = request().model_copy(update={"messages": tuple(messages)})
    Script(observer(telemetry, capture_content=True), req=req).start().attempt(
        1, T0, T0 + 0.1, resp=response("A cat.", finish="stop")).end(T0 + 0.1)
    attributes = dict(telemetry.by_name("chat gpt-4o")[0].attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is in"}, {"type": "image_url"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": {"x": 1}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}]}]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "A cat."}], "finish_reason": "stop"}]
    assert "AAAA" not in str(attributes["gen_ai.input.messages"])


# -- lifetimes and robustness
def test_a_call_that_never_ends_is_ended_as_abandoned_when_the_table_is_full(telemetry: Telemetry) -> None:
    obs = observer(telemetry, max_calls=2)
    stuck = Script(obs, call_id="stuck", stream=True).start()
    obs.on_attempt_start(AttemptStart("stuck", 1, "d", "openai", "gpt-4o", API_BASE, "first", 0.0, time=T0))
    Script(obs, call_id="two").start()
    assert telemetry.finished() == []
    Script(obs, call_id="three").start()  # over the bound: the oldest call is ended, not leaked
    ended = telemetry.finished()
    assert [(s.name, (s.attributes or {})["routerlib.outcome"]) for s in ended] == [
        ("chat gpt-4o", "abandoned"), ("routerlib chat openai/gpt-4o", "abandoned")]
    assert (ended[1].attributes or {})["routerlib.call.id"] == "stuck"
    stuck.end(T0 + 1)  # its CallEnd arriving later changes nothing
    assert len(telemetry.finished()) == 2


def test_call_end_closes_an_attempt_that_never_ended(telemetry: Telemetry) -> None:
    obs = observer(telemetry)
    script = Script(obs).start()
    obs.on_attempt_start(AttemptStart("call-1", 1, "d", "openai", "gpt-4o", API_BASE, "first", 0.0, time=T0))
    script.end(T0 + 3)
    attempt = telemetry.by_name("chat gpt-4o")[0]
    assert (attempt.attributes or {})["routerlib.outcome"] == "abandoned" and attempt.end_time == ns(T0 + 3)


def test_events_of_unknown_calls_are_ignored(telemetry: Telemetry) -> None:
    obs = observer(telemetry)
    script = Script(obs, call_id="never-started")
    script.attempt(1, T0, T0 + 1).retry(1, T0, 0.1, rate_limited()).fallback(1, T0, rate_limited()).end(T0 + 1)
    assert telemetry.finished() == []


def test_a_failing_tracer_never_raises_and_never_leaves_a_span_open(caplog: pytest.LogCaptureFixture) -> None:
    provider = BrokenProvider()
    obs = OpenTelemetryObserver(provider, NoOpMeterProvider())  # type: ignore[arg-type]
    script = Script(obs).start()
    script.attempt(1, T0, T0 + 0.1, outcome="error", error=rate_limited()).attempt(2, T0, T0 + 0.2).end(T0 + 0.3)
    assert [s.ended for s in provider.tracer.spans] == [1, 1, 1]
    warnings = [r for r in caplog.records if "OpenTelemetryObserver failed" in r.getMessage()]
    assert warnings and warnings[0].levelname == "WARNING"  # said once, loudly
    assert all(r.levelname == "DEBUG" for r in warnings[1:])


def test_with_no_op_providers_the_observer_subscribes_to_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """So the core builds no event for it: a disabled tracer costs a call nothing."""
    api = OpenTelemetryObserver(trace.NoOpTracerProvider(), NoOpMeterProvider(), capture_content=True)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # the SDK's own no-op tracer and meter
    sdk = OpenTelemetryObserver(TracerProvider(), MeterProvider())
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    for obs in (api, sdk):
        assert not Observers([obs])
        script = Script(obs, stream=True).start()  # called directly anyway: harmless no-ops
        script.attempt(1, T0, T0 + 1, first_token=T0 + 0.1, stream_end="complete", use=usage(), price=cost())
        script.end(T0 + 1)
        assert obs._calls == {}
    assert Observers([OpenTelemetryObserver(trace.NoOpTracerProvider(), MeterProvider())])  # metrics still on


def test_a_sampled_out_call_has_no_spans_but_its_metrics(telemetry: Telemetry) -> None:
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.spans))
    obs = OpenTelemetryObserver(tracer_provider, telemetry.meter_provider)
    script = Script(obs).start().attempt(1, T0, T0 + 0.1, outcome="error", error=rate_limited())
    script.fallback(1, T0 + 0.1, rate_limited()).attempt(2, T0 + 0.1, T0 + 0.3, use=usage(), price=cost())
    script.end(T0 + 0.3)
    assert telemetry.finished() == [] and obs._calls == {}
    points = telemetry.metrics()["gen_ai.client.operation.duration"].data.data_points
    assert sorted(p.count for p in points) == [1, 1]


def test_the_global_providers_are_used_when_none_are_given() -> None:
    obs = OpenTelemetryObserver()
    assert obs._tracer is not None  # a proxy that follows trace.set_tracer_provider later


# -- configuration
def test_semconv_profiles_and_environment_opt_in() -> None:
    assert resolve("1.41") is SEMCONV_1_41 and resolve("genai-0.1") is SEMCONV_GENAI_0_1
    assert resolve(SEMCONV_GENAI_0_1) is SEMCONV_GENAI_0_1
    assert resolve(None, {}) is SEMCONV_1_41
    assert resolve(None, {"OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"}) is SEMCONV_GENAI_0_1
    with pytest.raises(ValueError, match=r"semconv='1\.99'.*'1\.41', 'genai-0\.1'"):
        resolve("1.99")
    with pytest.raises(ValueError, match="max_calls=0"):
        OpenTelemetryObserver(max_calls=0)


@pytest.mark.parametrize(("api_base", "server"), [
    ("https://api.openai.com/v1", ("api.openai.com", 443)), ("http://127.0.0.1:8080/v1", ("127.0.0.1", 8080)),
    ("http://gpu-box/v1", ("gpu-box", 80)), ("", None), ("http://[::1]:99999/", None)])
def test_server_address_and_port_from_api_base(api_base: str, server: tuple[str, int] | None) -> None:
    from routerlib.otel._attributes import parse_server as _parse_server

    assert _parse_server(api_base) == server


def test_provider_names_map_to_the_conventions_well_known_values(telemetry: Telemetry) -> None:
    obs = observer(telemetry)
    for i, (provider, expected) in enumerate([("gemini", "gcp.gemini"), ("azure", "azure.ai.openai"),
                                              ("xai", "x_ai"), ("mistral", "mistral_ai"),
                                              ("openrouter", "openrouter")]):
        Script(obs, call_id=f"c{i}").start().attempt(1, T0, T0 + 0.1, provider=provider).end(T0 + 0.1)
        span = [s for s in telemetry.finished() if s.kind == SpanKind.CLIENT][-1]
        assert (span.attributes or {})["gen_ai.provider.name"] == expected


def test_import_routerlib_does_not_import_opentelemetry() -> None:
    code = ("import sys, routerlib, routerlib.observe, routerlib.observe.logging\n"
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'routerlib.otel'))))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_the_extra_the_import_error_names_it() -> None:
    code = ("import sys\n"
            "sys.modules['opentelemetry'] = None  # as if opentelemetry-api were not installed\n"
            "try:\n"
            "    import routerlib.otel\n"
            "except ImportError as error:\n"
            "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "pip install 'routerlib[otel]'" in result.stdout
