"""Shared by the observer tests: an OpenTelemetry SDK in memory, and calls scripted as events.

``Script`` emits one call's events in the order the core does (CallStart, then per attempt
AttemptStart [FirstToken] [StreamEnd] AttemptEnd, Retry/Fallback between, CallEnd), on a clock
the test sets by hand, so span times and the event-clock conversion can be checked exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from routerlib._request import build_request
from routerlib.exceptions import RouterlibError
from routerlib.observe import (
    AttemptEnd,
    AttemptStart,
    CallEnd,
    CallStart,
    Fallback,
    FirstToken,
    Retry,
    StreamEnd,
)
from routerlib.request import ChatRequest
from routerlib.types import Attempt, ChatCompletionMessage, Choice, Cost, ModelResponse, Usage

#: The wall clock at CallStart and the client's monotonic clock at the same instant.
WALL = 1_700_000_000.0
T0 = 500.0
MESSAGES: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
API_BASE = "https://api.openai.com/v1"


def ns(t: float) -> int:
    """The OpenTelemetry time (epoch ns) of client-clock time ``t`` in a Script."""
    return int(WALL * 1e9) - int(T0 * 1e9) + int(t * 1e9)


@dataclass
class Telemetry:
    """A tracer provider and a meter provider that keep everything in memory."""

    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def by_name(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def metrics(self) -> dict[str, Any]:
        """metric name -> the metric (with its data points), from one collection."""
        data = self.reader.get_metrics_data()
        out: dict[str, Any] = {}
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out[metric.name] = metric
        return out


def request(**params: Any) -> ChatRequest:
    return build_request({"model": "openai/gpt-4o", "messages": MESSAGES, **params})


def response(text: str = "Hi!", *, model: str = "gpt-4o-2024-08-06", finish: str | None = "stop",
             usage: Usage | None = None) -> ModelResponse:
    return ModelResponse(id="chatcmpl-42", model=model, usage=usage, choices=[
        Choice(message=ChatCompletionMessage(content=text), finish_reason=finish)])


def usage(prompt: int = 9, completion: int = 3, **details: Any) -> Usage:
    data: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                            "total_tokens": prompt + completion}
    if "cached" in details or "cache_creation" in details:
        data["prompt_tokens_details"] = {"cached_tokens": details.get("cached", 0),
                                         "cache_creation_tokens": details.get("cache_creation", 0)}
    if "reasoning" in details:
        data["completion_tokens_details"] = {"reasoning_tokens": details["reasoning"]}
    u = Usage.model_validate(data)
    u.estimated = bool(details.get("estimated", False))
    return u


def cost(total: str | None = "0.000125", source: Any = "model_map") -> Cost:
    return Cost(total=None if total is None else Decimal(total), source=source)


class Script:
    """One call's events, emitted to ``observer`` in the core's order."""

    def __init__(self, observer: Any, *, call_id: str = "call-1", model: str = "openai/gpt-4o",
                 stream: bool = False, req: ChatRequest | None = None, operation: Any = "chat") -> None:
        self.observer = observer
        self.call_id = call_id
        self.model = model
        self.stream = stream
        self.request = req if req is not None else request(stream=stream)
        self.operation = operation
        self.records: list[Attempt] = []

    def start(self, t: float = T0) -> Script:
        self.observer.on_call_start(CallStart(self.call_id, self.operation, self.model, self.stream, self.request,
                                              time=t, wall_time=WALL + (t - T0)))
        return self

    def attempt(self, n: int, t: float, end: float, *, outcome: Any = "ok", provider: str = "openai",
                model: str = "gpt-4o", api_base: str = API_BASE, reason: Any = "first", waited: float = 0.0,
                resp: ModelResponse | None = None, use: Usage | None = None, price: Cost | None = None,
                error: RouterlibError | None = None, first_token: float | None = None,
                stream_end: Any = None, message: str | None = None, streamed: bool = False) -> Script:
        """One attempt; ``streamed``: its AttemptEnd carries no response, as a stream's does."""
        deployment = f"{provider}/{model}@{api_base}"
        self.observer.on_attempt_start(AttemptStart(self.call_id, n, deployment, provider, model, api_base, reason,
                                                    waited, time=t))
        if first_token is not None:
            self.observer.on_first_token(FirstToken(self.call_id, n, deployment, first_token - t, time=first_token))
        if stream_end is not None:
            self.observer.on_stream_end(StreamEnd(self.call_id, n, deployment, stream_end, time=end))
        record = Attempt(model=model, provider=provider, api_base=api_base, outcome=outcome, latency=end - t,
                         waited=waited, cost=price, error=type(error).__name__ if error is not None else None,
                         status_code=getattr(error, "status_code", None),
                         message=message if error is None else getattr(error, "message", str(error))[:300])
        self.records.append(record)
        if outcome == "ok" and resp is None and not streamed:
            resp = response(usage=use)
        self.observer.on_attempt_end(AttemptEnd(self.call_id, n, deployment, provider, model, outcome, end - t,
                                                record, use, price, resp, error, time=end))
        return self

    def retry(self, n: int, t: float, wait: float, error: RouterlibError) -> Script:
        self.observer.on_retry(Retry(self.call_id, n, f"dep-{n}", error, wait, time=t))
        return self

    def fallback(self, n: int, t: float, error: RouterlibError) -> Script:
        self.observer.on_fallback(Fallback(self.call_id, n, f"dep-{n}", error, time=t))
        return self

    def end(self, t: float, *, resp: ModelResponse | None = None, error: RouterlibError | None = None,
            price: Cost | None = None) -> Script:
        outcome = "error" if error is not None else "ok"
        self.observer.on_call_end(CallEnd(self.call_id, outcome, resp, error, tuple(self.records), price,
                                          latency=t - T0, time=t))
        return self


class BrokenSpan:
    """A span whose attribute setters fail, as a buggy or hostile SDK might."""

    def __init__(self) -> None:
        self.ended = 0

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, *args: Any) -> None:
        raise RuntimeError("exporter bug")

    set_attributes = set_status = add_event = set_attribute

    def end(self, end_time: int | None = None) -> None:
        self.ended += 1

    def get_span_context(self) -> Any:
        return trace.INVALID_SPAN_CONTEXT


class BrokenTracer:
    def __init__(self) -> None:
        self.spans: list[BrokenSpan] = []

    def start_span(self, *args: Any, **kwargs: Any) -> BrokenSpan:
        self.spans.append(BrokenSpan())
        return self.spans[-1]


class BrokenProvider:
    def __init__(self) -> None:
        self.tracer = BrokenTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> BrokenTracer:
        return self.tracer
