"""End to end over the wire: the SDK's real OTLP/HTTP exporters send routerlib's spans and metrics
to a receiver on 127.0.0.1 that decodes the protobuf (tests/integration/otlp_receiver.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otel_helpers import T0, WALL, Script, cost, ns, usage
from otlp_receiver import Receiver, attributes, otlp_receiver
from servers import Llmock

import routerlib
from routerlib import RetryPolicy
from routerlib.exceptions import RateLimitError
from routerlib.otel import OpenTelemetryObserver
from routerlib.otel.semconv import DURATION_BUCKETS


@dataclass
class Pipeline:
    receiver: Receiver
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def flush(self) -> None:
        assert self.tracer_provider.force_flush(10_000)
        assert self.meter_provider.force_flush(10_000)


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    with otlp_receiver() as receiver:
        resource = Resource.create({"service.name": "routerlib-test"})
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint +
                                                                               "/v1/traces", timeout=10)))
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=receiver.endpoint + "/v1/metrics",
                                                                  timeout=10), export_interval_millis=3_600_000)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        try:
            yield Pipeline(receiver, tracer_provider, meter_provider)
        finally:
            tracer_provider.shutdown()
            meter_provider.shutdown()


def test_scripted_retry_arrives_as_a_decoded_span_tree(pipeline: Pipeline) -> None:
    observer = OpenTelemetryObserver(pipeline.tracer_provider, pipeline.meter_provider)
    error = RateLimitError("slow down", status_code=429, provider="openai", model="gpt-4o")
    script = Script(observer).start()
    script.attempt(1, T0 + 0.01, T0 + 0.02, outcome="error", error=error).retry(1, T0 + 0.02, 0.5, error)
    script.attempt(2, T0 + 0.52, T0 + 0.8, reason="retry", waited=0.5, use=usage(11, 4), price=cost("0.003"))
    script.end(T0 + 0.8)
    pipeline.flush()

    spans = pipeline.receiver.wait_for_spans(3)
    by_kind: dict[int, list[ProtoSpan]] = {ProtoSpan.SPAN_KIND_CLIENT: [], ProtoSpan.SPAN_KIND_INTERNAL: []}
    for span in spans:
        by_kind[span.kind].append(span)
    (call,) = by_kind[ProtoSpan.SPAN_KIND_INTERNAL]
    first, second = sorted(by_kind[ProtoSpan.SPAN_KIND_CLIENT], key=lambda s: s.start_time_unix_nano)
    assert call.name == "routerlib chat openai/gpt-4o" and call.parent_span_id == b""
    assert [s.name for s in (first, second)] == ["chat gpt-4o", "chat gpt-4o"]
    assert first.parent_span_id == second.parent_span_id == call.span_id
    assert len({s.trace_id for s in spans}) == 1
    assert call.start_time_unix_nano == int(WALL * 1e9) and second.end_time_unix_nano == ns(T0 + 0.8)
    assert first.status.code == first.status.STATUS_CODE_ERROR and first.status.message == "slow down"
    one, two = attributes(first), attributes(second)
    assert one["error.type"] == "RateLimitError" and one["http.response.status_code"] == 429
    assert two["gen_ai.usage.input_tokens"] == 11 and two["gen_ai.usage.output_tokens"] == 4
    assert two["gen_ai.usage.cost.amount"] == pytest.approx(0.003) and two["gen_ai.usage.cost.currency"] == "USD"
    assert two["gen_ai.response.finish_reasons"] == ("stop",) and two["routerlib.attempt.waited"] == 0.5
    assert [e.name for e in call.events] == ["routerlib.retry"]
    (scope,) = {(s.name, s.version) for s in pipeline.receiver.scopes()}
    assert scope[0] == "routerlib"

    (duration,) = pipeline.receiver.metric("gen_ai.client.operation.duration")
    assert duration.unit == "s"
    points = duration.histogram.data_points
    assert sorted(p.count for p in points) == [1, 1]
    assert tuple(points[0].explicit_bounds) == DURATION_BUCKETS
    (tokens,) = pipeline.receiver.metric("gen_ai.client.token.usage")
    assert sorted((attributes(p)["gen_ai.token.type"], p.sum) for p in tokens.histogram.data_points) == [
        ("input", 11), ("output", 4)]


# -- real calls against llmock (a real HTTP server on 127.0.0.1), exported over OTLP/HTTP
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, jitter=0.0)
HELLO = [{"role": "user", "content": "hello there"}]


def tree_of(spans: list[ProtoSpan]) -> tuple[ProtoSpan, list[ProtoSpan]]:
    (call,) = [s for s in spans if s.kind == ProtoSpan.SPAN_KIND_INTERNAL]
    attempts = sorted((s for s in spans if s.kind == ProtoSpan.SPAN_KIND_CLIENT), key=lambda s: s.start_time_unix_nano)
    assert len(attempts) + 1 == len(spans)
    assert all(a.parent_span_id == call.span_id and a.trace_id == call.trace_id for a in attempts)
    return call, attempts


def test_real_retry_and_cross_provider_fallback_over_otlp(pipeline: Pipeline, llmock: Llmock) -> None:
    llmock.scenario({"type": "fail", "status": 429, "retry_after": 0.05, "match": {"model": "gpt-4o-mini"},
                     "times": None})
    observer = OpenTelemetryObserver(pipeline.tracer_provider, pipeline.meter_provider)
    with routerlib.Client(policy=FAST, environ={}, observers=[observer]) as client:
        response = client.completion("openai/gpt-4o-mini", HELLO, api_base=llmock.openai, api_key="k-test",
                                     num_retries=1, fallbacks=[{"model": "anthropic/claude-haiku-4-5",
                                                                "api_base": llmock.root + "/anthropic",
                                                                "api_key": "k-test"}])
    assert response.provider == "anthropic"
    pipeline.flush()
    call, attempts = tree_of(pipeline.receiver.wait_for_spans(4))
    port = int(llmock.root.rsplit(":", 1)[1])
    assert [a.name for a in attempts] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "chat claude-haiku-4-5"]
    first, second, third = (attributes(a) for a in attempts)
    assert [x["gen_ai.provider.name"] for x in (first, second, third)] == ["openai", "openai", "anthropic"]
    assert all((x["server.address"], x["server.port"]) == ("127.0.0.1", port) for x in (first, second, third))
    assert first["http.response.status_code"] == 429 and second["routerlib.attempt.waited"] == pytest.approx(0.05)
    assert third["routerlib.fallback.reason"] == "RateLimitError" and "error.type" not in third
    assert third["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens  # type: ignore[union-attr]
    assert third["gen_ai.response.id"] == response.id
    assert attributes(call)["routerlib.attempts"] == 3
    # the llmock journal and the spans agree on what was sent
    assert [r["status"] for r in llmock.requests()] == [429, 429, 200]


def test_real_stream_broken_off_mid_body_over_otlp(pipeline: Pipeline, llmock: Llmock) -> None:
    llmock.scenario({"type": "stream_fault", "kind": "disconnect", "after_chunks": 2})
    observer = OpenTelemetryObserver(pipeline.tracer_provider, pipeline.meter_provider)
    with routerlib.Client(policy=FAST, environ={}, observers=[observer]) as client:
        stream = client.completion("openai/gpt-4o-mini", HELLO, api_base=llmock.openai, api_key="k", stream=True)
        with pytest.raises(routerlib.StreamInterruptedError):
            for _ in stream:
                pass
    pipeline.flush()
    call, (attempt,) = tree_of(pipeline.receiver.wait_for_spans(2))
    assert attributes(attempt)["routerlib.stream.end"] == "interrupted"
    assert attributes(attempt)["error.type"] == "StreamInterruptedError"
    assert call.status.code == call.status.STATUS_CODE_ERROR
    (ttfc,) = pipeline.receiver.metric("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.histogram.data_points[0].count == 1


async def test_real_async_stream_over_otlp(pipeline: Pipeline, llmock: Llmock) -> None:
    observer = OpenTelemetryObserver(pipeline.tracer_provider, pipeline.meter_provider)
    async with routerlib.Client(policy=FAST, environ={}, observers=[observer]) as client:
        stream = await client.acompletion("openai/gpt-4o-mini", HELLO, api_base=llmock.openai, api_key="k",
                                          stream=True, stream_options={"include_usage": True})
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream  # type: ignore[union-attr]
                        if ch.choices])
    assert text
    pipeline.flush()
    _, (attempt,) = tree_of(pipeline.receiver.wait_for_spans(2))
    assert attributes(attempt)["routerlib.stream.end"] == "complete"
    assert attributes(attempt)["gen_ai.usage.output_tokens"] > 0
