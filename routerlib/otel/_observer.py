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

Cost when nothing records: with a no-op tracer and a no-op meter (the API's ``NoOp*Provider``,
or an SDK with ``OTEL_SDK_DISABLED``) the observer subscribes to no event, so the core builds
none. A call whose span is not recording (sampled out) gets no attempt spans and no attribute
work; only its metrics are recorded.

A failure inside the observer never reaches the call (the dispatcher catches it too) and never
leaves a span open: span ends sit in ``finally`` blocks.
"""

from __future__ import annotations

import logging
import threading
from types import MethodType
from typing import Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as exc:  # tests/test_otel.py: test_without_the_extra_the_import_error_names_it
    raise ImportError("routerlib.otel needs the OpenTelemetry API: pip install 'routerlib[otel]'") from exc

from ..observe.events import (
    METHODS,
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
from ..request import Request
from ..types import EmbeddingResponse, ModelResponse, TextCompletion
from . import _content
from ._attributes import (
    PROVIDER_NAMES,
    Attributes,
    call_summary,
    cost_attributes,
    error_description,
    error_type,
    parse_server,
    request_attributes,
    response_attributes,
    usage_attributes,
)
from ._metrics import Instruments
from .semconv import Semconv, resolve

logger = logging.getLogger("routerlib")
Response = ModelResponse | TextCompletion | EmbeddingResponse


class _Attempt:
    __slots__ = ("metric_attributes", "span")

    def __init__(self, span: Span | None, metric_attributes: Attributes) -> None:
        self.span = span
        self.metric_attributes = metric_attributes


class _Call:
    """One call in flight. ``span`` is None when its span is not recording (then: metrics only)."""

    __slots__ = ("attempts", "context", "deferred", "fallback_reason", "offset_ns", "operation", "request",
                 "request_attributes", "span")

    def __init__(self, span: Span | None, offset_ns: int, operation: str, request: Request,
                 request_attributes: Attributes) -> None:
        self.span = span
        self.context: Context | None = trace.set_span_in_context(span) if span is not None else None
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
        self._instruments = Instruments(meter, self.semconv)
        self._metrics = not isinstance(meter, metrics.NoOpMeter)
        self._calls: dict[str, _Call] = {}
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[str, int] | None] = {}
        self._failed = False
        if isinstance(self._tracer, trace.NoOpTracer) and not self._metrics:
            # Nothing can record: subscribe to nothing (the dispatcher sees the base class's
            # methods), so the core builds no event for this observer at all.
            for name in METHODS.values():
                setattr(self, name, MethodType(getattr(Observer, name), self))

    # -- call
    def on_call_start(self, event: CallStart) -> None:
        try:
            span: Span | None = None
            start = int(event.wall_time * 1e9)
            attributes: Attributes = {"routerlib.call.id": event.call_id, "routerlib.request.model": event.model}
            if event.stream:
                attributes["routerlib.stream"] = True
            started = self._tracer.start_span(f"routerlib {event.operation} {event.model}", kind=SpanKind.INTERNAL,
                                              attributes=attributes, start_time=start)
            if started.is_recording():
                span = started
            elif not self._metrics:
                return
            call = _Call(span, start - int(event.time * 1e9), event.operation, event.request,
                         request_attributes(event.request, self.semconv) if span is not None else {})
            with self._lock:
                self._calls[event.call_id] = call
                overflow = len(self._calls) - self.max_calls
                evicted = [self._calls.pop(next(iter(self._calls))) for _ in range(overflow)] if overflow > 0 else []
            for old in evicted:
                _abandon(old)
        except Exception:
            self._failure(event)

    def on_call_end(self, event: CallEnd) -> None:
        call = self._calls.pop(event.call_id, None)
        if call is None:
            return
        span = call.span
        end = call.ns(event.time)
        try:
            deferred, call.deferred = call.deferred, None
            if deferred is not None:
                self._finish_attempt(call, call.attempts.pop(deferred.attempt), deferred, event.response)
            for attempt in call.attempts.values():  # an attempt with no AttemptEnd: never left open
                if attempt.span is not None:
                    attempt.span.set_attribute("routerlib.outcome", "abandoned")
                    attempt.span.end(end)
            if span is not None:
                span.set_attributes(call_summary(event))
                if event.error is not None:
                    span.set_status(Status(StatusCode.ERROR, error_description(event.error)))
        except Exception:
            self._failure(event)
        finally:
            if span is not None:
                span.end(end)

    # -- attempt
    def on_attempt_start(self, event: AttemptStart) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            return
        try:
            provider = PROVIDER_NAMES.get(event.provider, event.provider)
            base: Attributes = {"gen_ai.operation.name": call.operation, "gen_ai.provider.name": provider,
                                "gen_ai.request.model": event.model}
            server = self._server(event.api_base)
            if server is not None:
                base["server.address"], base["server.port"] = server
            span = None
            if call.span is not None:
                span = self._tracer.start_span(f"{call.operation} {event.model}", context=call.context,
                                               kind=SpanKind.CLIENT, attributes=self._attempt_attributes(
                                                   call, event, base), start_time=call.ns(event.time))
            call.attempts[event.attempt] = _Attempt(span, base)
        except Exception:
            self._failure(event)

    def on_first_token(self, event: FirstToken) -> None:
        attempt = self._attempt(event.call_id, event.attempt)
        if attempt is None:
            return
        try:
            if attempt.span is not None:
                attempt.span.set_attribute("gen_ai.response.time_to_first_chunk", event.seconds)
            if self._metrics:
                self._instruments.time_to_first_chunk.record(event.seconds, attempt.metric_attributes)
        except Exception:
            self._failure(event)

    def on_stream_end(self, event: StreamEnd) -> None:
        attempt = self._attempt(event.call_id, event.attempt)
        if attempt is not None and attempt.span is not None:
            try:
                attempt.span.set_attribute("routerlib.stream.end", event.kind)
            except Exception:
                self._failure(event)

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

    def _finish_attempt(self, call: _Call, attempt: _Attempt, event: AttemptEnd, response: Response | None) -> None:
        span = attempt.span
        try:
            if span is not None:
                self._describe_attempt(span, event, response)
            if self._metrics and event.outcome != "skipped":
                cost = event.cost
                self._instruments.record_attempt(
                    attempt.metric_attributes, event.latency, event.usage,
                    float(cost.total) if cost is not None and cost.total is not None else None,
                    response.model if response is not None else None,
                    error_type(event.error) if event.error is not None else None, event.outcome != "cache_hit")
        except Exception:
            self._failure(event)
        finally:
            if span is not None:
                span.end(call.ns(event.time))

    # -- between attempts
    def on_retry(self, event: Retry) -> None:
        call = self._calls.get(event.call_id)
        if call is not None and call.span is not None:
            try:
                call.span.add_event("routerlib.retry", {"routerlib.attempt": event.attempt,
                                                        "routerlib.retry.wait": event.wait,
                                                        "error.type": error_type(event.error)}, call.ns(event.time))
            except Exception:
                self._failure(event)

    def on_fallback(self, event: Fallback) -> None:
        call = self._calls.get(event.call_id)
        if call is None or call.span is None:
            return
        try:
            call.fallback_reason = error_type(event.error)
            call.span.add_event("routerlib.fallback", {"routerlib.attempt": event.attempt,
                                                       "routerlib.deployment.id": event.deployment_id,
                                                       "error.type": call.fallback_reason}, call.ns(event.time))
        except Exception:
            self._failure(event)

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
        server = parse_server(api_base)
        if len(self._servers) >= 1024:  # bounded: api_base can come from callers
            self._servers.clear()
        self._servers[api_base] = server
        return server

    def _attempt_attributes(self, call: _Call, event: AttemptStart, base: Attributes) -> Attributes:
        """Everything known when the attempt starts (the sampling-relevant ones included)."""
        attributes = dict(base)
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
        request = call.request
        if self.capture_content and request.operation == "chat":  # an embedding's input is no message
            attributes["gen_ai.input.messages"] = _content.input_messages(request.messages, request.prompt)
        return attributes

    def _describe_attempt(self, span: Span, event: AttemptEnd, response: Response | None) -> None:
        attributes: Attributes = {"routerlib.outcome": event.outcome}
        if response is not None:
            attributes.update(response_attributes(response, event.outcome))
            if self.capture_content and not isinstance(response, EmbeddingResponse):
                attributes["gen_ai.output.messages"] = _content.output_messages(response)
        if event.usage is not None:
            attributes.update(usage_attributes(event.usage, self.semconv))
        if event.cost is not None:
            attributes.update(cost_attributes(event.cost))
        if event.outcome == "skipped" and event.record.message:
            attributes["routerlib.skip.reason"] = event.record.message
        if event.error is not None:
            attributes["error.type"] = error_type(event.error)
            if event.record.status_code is not None:
                attributes["http.response.status_code"] = event.record.status_code
            span.set_status(Status(StatusCode.ERROR, event.record.message or error_type(event.error)))
        span.set_attributes(attributes)

    def _failure(self, event: Any) -> None:
        """Never let a tracing bug escape into the call; say so once, loudly, then quietly."""
        level = logging.DEBUG if self._failed else logging.WARNING
        self._failed = True
        logger.log(level, "routerlib OpenTelemetryObserver failed on %s; the call is unaffected",
                   type(event).__name__, exc_info=True)


def _abandon(call: _Call) -> None:
    """End an evicted call's spans now, marked, rather than hold them forever."""
    done = call.deferred.attempt if call.deferred is not None else None
    try:
        for number, attempt in call.attempts.items():
            if attempt.span is not None:
                attempt.span.set_attribute("routerlib.outcome", "ok" if number == done else "abandoned")
                attempt.span.end()
        if call.span is not None:
            call.span.set_attribute("routerlib.outcome", "abandoned")
    finally:
        if call.span is not None:
            call.span.end()
