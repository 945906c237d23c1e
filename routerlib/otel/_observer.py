"""The observer that turns routerlib's call events into OpenTelemetry spans and metrics.

One call becomes one INTERNAL span with one CLIENT span per attempt under it, so retries and
fallbacks are siblings::

    routerlib chat openai/gpt-4o                       INTERNAL   CallStart .. CallEnd
    ├── chat gpt-4o             routerlib.attempt=1    CLIENT     AttemptStart .. AttemptEnd (429)
    ├── chat gpt-4o             routerlib.attempt=2    CLIENT     (retry, waited 0.5 s)
    └── chat claude-haiku-4-5   routerlib.attempt=3    CLIENT     (fallback, reason RateLimitError)

Spans start and end inside observer callbacks, not around code, so each is kept in a table keyed
by call id and attempt number and given explicit start and end times taken from the events. The
events carry the client's monotonic clock; ``CallStart`` also carries the wall clock, so each
call keeps one offset (wall minus monotonic, in nanoseconds) and every later event of the call
is placed on OpenTelemetry's epoch-nanosecond time line with it: durations stay monotonic-exact
and a wall-clock step during a call cannot make a span end before it started.

The table is bounded (``max_calls``): a call that never ends (a stream neither read to the end
nor closed, in a process that keeps it alive) is ended as ``routerlib.outcome=abandoned`` when
the table is full, so no span is held forever. A call's spans always end at its ``CallEnd``.

Only attempt spans carry ``gen_ai.*`` usage and cost, so a backend that sums GenAI spans counts
each token once; the call span carries routerlib's own summary under ``routerlib.*``.

A failure inside the observer never reaches the call (the dispatcher catches it too) and never
leaves a span open: span ends sit in ``finally`` blocks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("routerlib.otel needs the OpenTelemetry API: pip install 'routerlib[otel]'") from exc

from ..observe.events import (
    AttemptEnd,
    AttemptStart,
    CallEnd,
    CallStart,
    Fallback,
    FirstToken,
    Observer,
    Retry,
    StreamEnd,
)
from ..request import ChatRequest
from ..types import Cost, ModelResponse, TextCompletion, Usage
from . import _content
from .semconv import DURATION_BUCKETS, TOKEN_BUCKETS, TOKEN_KINDS, Semconv, resolve

logger = logging.getLogger("routerlib")

Attributes = dict[str, AttributeValue]
F = TypeVar("F", bound=Callable[..., None])

#: routerlib provider names -> the conventions' well-known ``gen_ai.provider.name`` values.
#: Others are sent as routerlib names them (the conventions allow custom values).
PROVIDER_NAMES: Mapping[str, str] = {
    "anthropic": "anthropic", "azure": "azure.ai.openai", "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock", "cohere": "cohere", "deepseek": "deepseek", "gemini": "gcp.gemini",
    "groq": "groq", "mistral": "mistral_ai", "moonshot": "moonshot_ai", "openai": "openai",
    "perplexity": "perplexity", "vertex_ai": "gcp.vertex_ai", "watsonx": "ibm.watsonx.ai", "xai": "x_ai",
}


class _Attempt:
    __slots__ = ("metric_attributes", "span")

    def __init__(self, span: Span, metric_attributes: Attributes) -> None:
        self.span = span
        self.metric_attributes = metric_attributes


class _Call:
    __slots__ = ("attempts", "context", "deferred", "fallback_reason", "offset_ns", "operation", "request",
                 "request_attributes", "span")

    def __init__(self, span: Span, offset_ns: int, operation: str, request: ChatRequest,
                 request_attributes: Attributes) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.offset_ns = offset_ns
        self.operation = operation
        self.request = request
        self.request_attributes = request_attributes
        self.attempts: dict[int, _Attempt] = {}
        self.fallback_reason: str | None = None
        #: A stream's successful AttemptEnd, which carries no response: finished at CallEnd, which does.
        self.deferred: AttemptEnd | None = None

    def ns(self, time: float) -> int:
        """An event time (the client's clock) as OpenTelemetry epoch nanoseconds."""
        return self.offset_ns + int(time * 1e9)


def _guarded(method: F) -> F:
    """Never let a tracing bug escape into the call; say so once, loudly, then quietly."""

    @wraps(method)
    def guarded(self: OpenTelemetryObserver, event: Any) -> None:
        try:
            method(self, event)
        except Exception:
            level = logging.DEBUG if self._failed else logging.WARNING
            self._failed = True
            logger.log(level, "routerlib OpenTelemetryObserver failed on %s; the call is unaffected",
                       type(event).__name__, exc_info=True)

    return guarded  # type: ignore[return-value]


class OpenTelemetryObserver(Observer):
    """GenAI spans and metrics for every call of the client it is given to.

    ``Client(observers=[OpenTelemetryObserver()])`` uses the global tracer and meter providers;
    pass ``tracer_provider`` / ``meter_provider`` to use others. ``capture_content=True`` adds
    the messages and answers to the attempt spans (off by default: they may hold personal data).
    ``semconv`` picks the version of the conventions (see ``routerlib.otel.semconv``).
    ``max_calls`` bounds the calls tracked at once (see the module docstring).
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None, *, capture_content: bool = False,
                 semconv: str | Semconv | None = None, max_calls: int = 10_000) -> None:
        if max_calls < 1:
            raise ValueError(f"max_calls={max_calls!r}: must be at least 1")
        from .. import __version__

        self.semconv = resolve(semconv)
        self.capture_content = capture_content
        self.max_calls = max_calls
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(
            "routerlib", __version__, schema_url=self.semconv.schema_url)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(
            "routerlib", __version__, schema_url=self.semconv.schema_url)
        self._instruments = _Instruments(meter, self.semconv)
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[str, int] | None] = {}
        self._failed = False

    # -- call
    @_guarded
    def on_call_start(self, event: CallStart) -> None:
        attributes: Attributes = {"routerlib.call.id": event.call_id, "routerlib.request.model": event.model}
        if event.stream:
            attributes["routerlib.stream"] = True
        start = int(event.wall_time * 1e9)
        span = self._tracer.start_span(f"routerlib {event.operation} {event.model}", kind=SpanKind.INTERNAL,
                                       attributes=attributes, start_time=start)
        request_attributes = _request_attributes(event.request, self.semconv) if span.is_recording() else {}
        call = _Call(span, start - int(event.time * 1e9), event.operation, event.request, request_attributes)
        with self._lock:
            self._calls[event.call_id] = call
            overflow = len(self._calls) - self.max_calls
            evicted = [self._calls.pop(next(iter(self._calls))) for _ in range(overflow)] if overflow > 0 else []
        for old in evicted:
            _abandon(old)

    @_guarded
    def on_call_end(self, event: CallEnd) -> None:
        call = self._calls.pop(event.call_id, None)
        if call is None:
            return
        end = call.ns(event.time)
        try:
            deferred, call.deferred = call.deferred, None
            if deferred is not None:
                self._finish_attempt(call, call.attempts.pop(deferred.attempt), deferred, event.response)
            for attempt in call.attempts.values():  # an attempt with no AttemptEnd: never left open
                attempt.span.set_attribute("routerlib.outcome", "abandoned")
                attempt.span.end(end)
            span = call.span
            if span.is_recording():
                span.set_attributes(_call_summary(event))
                if event.error is not None:
                    span.set_status(Status(StatusCode.ERROR, _error_description(event.error)))
        finally:
            call.span.end(end)

    # -- attempt
    @_guarded
    def on_attempt_start(self, event: AttemptStart) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            return
        provider = PROVIDER_NAMES.get(event.provider, event.provider)
        metric_attributes: Attributes = {"gen_ai.operation.name": call.operation, "gen_ai.provider.name": provider,
                                         "gen_ai.request.model": event.model}
        server = self._server(event.api_base)
        if server is not None:
            metric_attributes["server.address"], metric_attributes["server.port"] = server
        attributes = dict(metric_attributes)
        attributes.update(call.request_attributes)
        attributes["routerlib.attempt"] = event.attempt
        attributes["routerlib.attempt.reason"] = event.reason
        attributes["routerlib.deployment.id"] = event.deployment_id
        attributes["routerlib.provider"] = event.provider
        if event.waited:
            attributes["routerlib.attempt.waited"] = event.waited
        if call.fallback_reason is not None and event.reason != "retry":
            attributes["routerlib.fallback.reason"] = call.fallback_reason
            call.fallback_reason = None
        if self.capture_content and call.span.is_recording():
            attributes["gen_ai.input.messages"] = _content.input_messages(call.request.messages, call.request.prompt)
        span = self._tracer.start_span(f"{call.operation} {event.model}", context=call.context, kind=SpanKind.CLIENT,
                                       attributes=attributes, start_time=call.ns(event.time))
        call.attempts[event.attempt] = _Attempt(span, metric_attributes)

    @_guarded
    def on_first_token(self, event: FirstToken) -> None:
        attempt = self._attempt(event.call_id, event.attempt)
        if attempt is not None:
            attempt.span.set_attribute("gen_ai.response.time_to_first_chunk", event.seconds)
            self._instruments.time_to_first_chunk.record(event.seconds, attempt.metric_attributes)

    @_guarded
    def on_stream_end(self, event: StreamEnd) -> None:
        attempt = self._attempt(event.call_id, event.attempt)
        if attempt is not None:
            attempt.span.set_attribute("routerlib.stream.end", event.kind)

    @_guarded
    def on_attempt_end(self, event: AttemptEnd) -> None:
        call = self._calls.get(event.call_id)
        attempt = call.attempts.get(event.attempt) if call is not None else None
        if call is None or attempt is None:
            return
        if event.response is None and event.outcome == "ok" and call.request.stream:
            # A stream's attempt ends right before its CallEnd, which carries the assembled
            # response (id, model, finish reasons): finish the span there, at this event's time.
            call.deferred = event
            return
        del call.attempts[event.attempt]
        self._finish_attempt(call, attempt, event, event.response)

    def _finish_attempt(self, call: _Call, attempt: _Attempt, event: AttemptEnd,
                        response: ModelResponse | TextCompletion | None) -> None:
        span = attempt.span
        try:
            if span.is_recording():
                self._describe_attempt(span, event, response)
            if event.outcome != "skipped":
                self._record_metrics(attempt.metric_attributes, event, response)
        finally:
            span.end(call.ns(event.time))

    # -- between attempts
    @_guarded
    def on_retry(self, event: Retry) -> None:
        call = self._calls.get(event.call_id)
        if call is not None and call.span.is_recording():
            call.span.add_event("routerlib.retry", {"routerlib.attempt": event.attempt,
                                                    "routerlib.retry.wait": event.wait,
                                                    "error.type": _error_type(event.error)}, call.ns(event.time))

    @_guarded
    def on_fallback(self, event: Fallback) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            return
        call.fallback_reason = _error_type(event.error)
        if call.span.is_recording():
            call.span.add_event("routerlib.fallback", {"routerlib.attempt": event.attempt,
                                                       "routerlib.deployment.id": event.deployment_id,
                                                       "error.type": call.fallback_reason}, call.ns(event.time))

    # -- helpers
    def _attempt(self, call_id: str, number: int) -> _Attempt | None:
        call = self._calls.get(call_id)
        return call.attempts.get(number) if call is not None else None

    def _server(self, api_base: str) -> tuple[str, int] | None:
        """``server.address`` and ``server.port`` of an api_base, parsed once per distinct base."""
        try:
            return self._servers[api_base]
        except KeyError:
            pass
        server = _parse_server(api_base)
        if len(self._servers) >= 1024:  # bounded: api_base can come from callers
            self._servers.clear()
        self._servers[api_base] = server
        return server

    def _describe_attempt(self, span: Span, event: AttemptEnd,
                          response: ModelResponse | TextCompletion | None) -> None:
        attributes: Attributes = {"routerlib.outcome": event.outcome}
        if response is not None:
            attributes.update(_response_attributes(response, event.outcome))
            if self.capture_content:
                attributes["gen_ai.output.messages"] = _content.output_messages(response)
        if event.usage is not None:
            attributes.update(_usage_attributes(event.usage, self.semconv))
        if event.cost is not None:
            attributes.update(_cost_attributes(event.cost))
        if event.outcome == "skipped" and event.record.message:
            attributes["routerlib.skip.reason"] = event.record.message
        if event.error is not None:
            attributes["error.type"] = _error_type(event.error)
            if event.record.status_code is not None:
                attributes["http.response.status_code"] = event.record.status_code
            span.set_status(Status(StatusCode.ERROR, event.record.message or _error_type(event.error)))
        span.set_attributes(attributes)

    def _record_metrics(self, base: Attributes, event: AttemptEnd,
                        response: ModelResponse | TextCompletion | None) -> None:
        attributes = dict(base)
        if response is not None and response.model:
            attributes["gen_ai.response.model"] = response.model
        if event.error is not None:
            attributes["error.type"] = _error_type(event.error)
        instruments = self._instruments
        instruments.duration.record(event.latency, attributes)
        usage = event.usage
        if event.outcome != "cache_hit":
            instruments.record_tokens(usage if usage is not None and not usage.estimated else None, attributes)
        cost = event.cost
        if cost is not None and cost.total is not None:
            instruments.cost.add(float(cost.total), attributes)


class _Instruments:
    """The metric instruments of one semconv profile, with the conventions' bucket advice."""

    def __init__(self, meter: metrics.Meter, semconv: Semconv) -> None:
        self.semconv = semconv
        self.duration = meter.create_histogram(
            semconv.duration_metric, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.time_to_first_chunk = meter.create_histogram(
            semconv.time_to_first_chunk_metric, unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.token_usage = None if semconv.token_histogram is None else meter.create_histogram(
            semconv.token_histogram, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.token_counters = {kind: meter.create_counter(name, unit="{token}", description=f"GenAI {kind} tokens.")
                               for kind, name in semconv.token_counters.items()}
        self.token_histograms = {kind: meter.create_histogram(
            name, unit="{token}", description=f"GenAI {kind} tokens per operation.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
            for kind, name in semconv.token_operation_histograms.items()}
        #: Not a convention yet (semantic-conventions-genai#443 proposes one): routerlib's own name.
        self.cost = meter.create_counter("routerlib.client.cost", unit="{USD}",
                                         description="Cost of GenAI operations in USD, as routerlib priced them.")

    def record_tokens(self, usage: Usage | None, attributes: Attributes) -> None:
        """1.41: only counts the provider reported ("MUST NOT report" otherwise); genai-0.1: 0 when absent."""
        if self.token_usage is not None and usage is not None:
            self.token_usage.record(usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"})
            self.token_usage.record(usage.completion_tokens, {**attributes, "gen_ai.token.type": "output"})
        if not self.token_counters:
            return
        counts = dict.fromkeys(TOKEN_KINDS, 0) if usage is None else {
            "input": usage.prompt_tokens, "output": usage.completion_tokens, "cache_read": usage.cached_tokens,
            "cache_write": usage.cache_creation_tokens, "reasoning": usage.reasoning_tokens}
        by_modality = {**attributes, "gen_ai.token.modality": "unknown"}  # routerlib does not split by modality
        for kind, counter in self.token_counters.items():
            if counts[kind] or kind in ("input", "output"):
                counter.add(counts[kind], by_modality)
        for kind, histogram in self.token_histograms.items():
            histogram.record(counts[kind], attributes)


# -- attribute builders (pure functions of the events' values)
def _request_attributes(request: ChatRequest, semconv: Semconv) -> Attributes:
    """The request parameters the conventions list, computed once per call."""
    attributes: Attributes = {}
    if request.temperature is not None:
        attributes["gen_ai.request.temperature"] = float(request.temperature)
    if request.top_p is not None:
        attributes["gen_ai.request.top_p"] = float(request.top_p)
    max_tokens = request.max_completion_tokens or request.max_tokens
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    if request.seed is not None:
        attributes["gen_ai.request.seed"] = request.seed
    if request.stop is not None:
        stop = request.stop
        attributes["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if request.n is not None and request.n != 1:
        attributes["gen_ai.request.choice.count"] = request.n
    if request.frequency_penalty is not None:
        attributes["gen_ai.request.frequency_penalty"] = float(request.frequency_penalty)
    if request.presence_penalty is not None:
        attributes["gen_ai.request.presence_penalty"] = float(request.presence_penalty)
    if request.stream:
        attributes["gen_ai.request.stream"] = True
    if request.response_format is not None:
        kind = request.response_format.get("type")
        attributes["gen_ai.output.type"] = "json" if kind in ("json_object", "json_schema") else "text"
    if semconv.reasoning_level and request.reasoning_effort is not None:
        attributes["gen_ai.request.reasoning.level"] = request.reasoning_effort
    return attributes


def _response_attributes(response: ModelResponse | TextCompletion, outcome: str) -> Attributes:
    attributes: Attributes = {}
    if response.id:
        attributes["gen_ai.response.id"] = response.id
    if response.model:
        attributes["gen_ai.response.model"] = response.model
    missing = "error" if outcome == "error" else None
    reasons = [c.finish_reason or missing for c in response.choices]
    finish_reasons = [r for r in reasons if r is not None]
    if finish_reasons:
        attributes["gen_ai.response.finish_reasons"] = finish_reasons
    return attributes


def _usage_attributes(usage: Usage, semconv: Semconv) -> Attributes:
    """Usage in OpenAI's meaning, which is the conventions' (input includes cached; output, reasoning)."""
    attributes: Attributes = {"gen_ai.usage.input_tokens": usage.prompt_tokens,
                              "gen_ai.usage.output_tokens": usage.completion_tokens}
    if usage.cached_tokens:
        attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
    if usage.cache_creation_tokens:
        attributes[semconv.cache_write_attribute] = usage.cache_creation_tokens
    if usage.reasoning_tokens:
        attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    if usage.estimated:
        attributes["routerlib.usage.estimated"] = True
    return attributes


def _cost_attributes(cost: Cost) -> Attributes:
    """Provisional: the names of the open proposal semantic-conventions-genai#443.

    ``source`` there is ``provider`` (a price found in the response) or ``local`` (computed by
    the recorder); routerlib always prices locally, and says from what in ``routerlib.cost.source``.
    """
    if cost.total is None:  # an unknown price is never a zero
        return {"routerlib.cost.source": cost.source}
    attributes: Attributes = {"gen_ai.usage.cost.amount": float(cost.total), "gen_ai.usage.cost.currency": "USD",
                              "gen_ai.usage.cost.source": "local", "routerlib.cost.exact": str(cost.total),
                              "routerlib.cost.source": cost.source}
    if cost.estimated:
        attributes["routerlib.cost.estimated"] = True
    return attributes


def _call_summary(event: CallEnd) -> Attributes:
    attributes: Attributes = {"routerlib.outcome": event.outcome, "routerlib.attempts": len(event.attempts)}
    response = event.response
    if response is not None and response.provider:
        attributes["routerlib.response.provider"] = response.provider
        attributes["routerlib.response.model"] = response.model
    cost = event.cost
    if cost is not None and cost.total is not None:
        attributes["routerlib.cost.total"] = float(cost.total)
        attributes["routerlib.cost.exact"] = str(cost.total)
    if event.error is not None:
        attributes["error.type"] = _error_type(event.error)
    return attributes


def _error_type(error: BaseException) -> str:
    """Low-cardinality, as ``error.type`` asks: the routerlib error class (RateLimitError, ...)."""
    return type(error).__name__


def _error_description(error: BaseException) -> str:
    """The status description: the error's message (keys already hidden by the core), bounded."""
    message = getattr(error, "message", None) or str(error)
    return message[:300]


def _parse_server(api_base: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(api_base)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (host, port) if host else None


def _abandon(call: _Call) -> None:
    """End an evicted call's spans now, marked, rather than hold them forever."""
    done = call.deferred.attempt if call.deferred is not None else None
    try:
        for number, attempt in call.attempts.items():
            attempt.span.set_attribute("routerlib.outcome", "ok" if number == done else "abandoned")
            attempt.span.end()
        call.span.set_attribute("routerlib.outcome", "abandoned")
    finally:
        call.span.end()
