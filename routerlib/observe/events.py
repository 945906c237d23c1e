"""What a call tells its observers, and the ``Observer`` base class that listens.

Every call emits, in this order and exactly once each (sync, async and streams alike)::

    CallStart
      AttemptStart -> [FirstToken] -> [StreamEnd] -> AttemptEnd     one pair per attempt
      [Retry | Fallback]                                             between attempts
    CallEnd

A stream's attempt (and its call) ends when the stream ends: read to the end, broken off,
or closed by the caller; ``FirstToken`` marks the first content chunk. A deployment skipped
before sending (the prompt cannot fit) is an ``AttemptStart``/``AttemptEnd`` pair with
outcome ``"skipped"`` and no network time, so every attempt a response lists was observed.

Events carry the call id, the attempt number (1-based within the call), the deployment id
and the timings, so a tracer can build spans and a router's health store can count
failures, latency and in-flight calls from the same stream of facts. Observers watch; they
cannot change a call. One that raises is logged (logger ``routerlib``) and ignored.

Events are plain slotted dataclasses (not frozen: building one must cost next to nothing on
the hot path); treat them as read-only.

Times are the client's clock (``time.monotonic`` unless injected): use them for durations,
not as wall-clock timestamps (``CallStart.wall_time`` is the wall clock).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .._embedding import Request
    from ..exceptions import RouterlibError
    from ..types import Attempt, Cost, EmbeddingResponse, ModelResponse, TextCompletion, Usage

__all__ = [
    "AttemptEnd",
    "AttemptStart",
    "CallEnd",
    "CallStart",
    "Fallback",
    "FirstToken",
    "Observer",
    "Observers",
    "Retry",
    "StreamEnd",
]

logger = logging.getLogger("routerlib")

Operation = Literal["chat", "text_completion", "embeddings"]
#: Why an attempt was made: the call's first, a retry of the same target, a switch to a
#: sibling deployment of a group, a fallback target, or the context-window mapping.
AttemptReason = Literal["first", "retry", "switch", "fallback", "context_window"]
AttemptOutcome = Literal["ok", "error", "skipped", "cache_hit"]
#: "abandoned": the stream was garbage-collected without being read to its end or closed.
StreamEndKind = Literal["complete", "interrupted", "closed", "abandoned"]


@dataclass(slots=True)
class CallStart:
    call_id: str
    operation: Operation
    #: The model as the caller named it (a provider/model string, or a router group).
    model: str
    stream: bool
    #: The validated request: a ``ChatRequest``, or an ``EmbeddingRequest`` (operation "embeddings").
    request: Request
    time: float
    wall_time: float


@dataclass(slots=True)
class AttemptStart:
    call_id: str
    attempt: int
    deployment_id: str
    provider: str
    model: str
    api_base: str
    reason: AttemptReason
    #: Seconds slept before this attempt (a retry's backoff or the server's Retry-After).
    waited: float
    time: float


@dataclass(slots=True)
class FirstToken:
    call_id: str
    attempt: int
    deployment_id: str
    #: Seconds from the attempt's start to its first content chunk.
    seconds: float
    time: float


@dataclass(slots=True)
class StreamEnd:
    call_id: str
    attempt: int
    deployment_id: str
    kind: StreamEndKind
    time: float


@dataclass(slots=True)
class AttemptEnd:
    call_id: str
    attempt: int
    deployment_id: str
    provider: str
    model: str
    outcome: AttemptOutcome
    #: Seconds from the attempt's start to its end (for a stream: to the stream's end).
    latency: float
    record: Attempt
    usage: Usage | None
    cost: Cost | None
    response: ModelResponse | TextCompletion | EmbeddingResponse | None
    error: RouterlibError | None
    time: float


@dataclass(slots=True)
class Retry:
    call_id: str
    attempt: int
    deployment_id: str
    error: RouterlibError
    #: Seconds the call will wait before its next attempt.
    wait: float
    time: float


@dataclass(slots=True)
class Fallback:
    call_id: str
    attempt: int
    deployment_id: str
    error: RouterlibError
    time: float


@dataclass(slots=True)
class CallEnd:
    call_id: str
    outcome: Literal["ok", "error"]
    response: ModelResponse | TextCompletion | EmbeddingResponse | None
    error: RouterlibError | None
    attempts: tuple[Attempt, ...]
    cost: Cost | None
    #: Seconds from the call's start to its end (a stream's: to the stream's end).
    latency: float
    time: float


Event = CallStart | AttemptStart | FirstToken | StreamEnd | AttemptEnd | Retry | Fallback | CallEnd

#: Observer method for each event type.
METHODS: dict[type[Any], str] = {
    CallStart: "on_call_start", AttemptStart: "on_attempt_start", FirstToken: "on_first_token",
    StreamEnd: "on_stream_end", AttemptEnd: "on_attempt_end", Retry: "on_retry",
    Fallback: "on_fallback", CallEnd: "on_call_end",
}


class Observer:
    """Subclass and override the events you want; the others cost nothing.

    Pass observers as ``Client(observers=[...])``. They are per client, never global.
    """

    def on_call_start(self, event: CallStart) -> None: ...
    def on_attempt_start(self, event: AttemptStart) -> None: ...
    def on_first_token(self, event: FirstToken) -> None: ...
    def on_stream_end(self, event: StreamEnd) -> None: ...
    def on_attempt_end(self, event: AttemptEnd) -> None: ...
    def on_retry(self, event: Retry) -> None: ...
    def on_fallback(self, event: Fallback) -> None: ...
    def on_call_end(self, event: CallEnd) -> None: ...


class Observers:
    """A client's observers, dispatched per event type to those that override its method.

    ``wants(EventType)`` lets the core skip building an event nobody listens to, so a
    client without observers pays one dict lookup per event.
    """

    __slots__ = ("_by_type",)

    def __init__(self, observers: Sequence[Any] = ()) -> None:
        by_type: dict[type[Any], tuple[Any, ...]] = {}
        for event_type, name in METHODS.items():
            methods = tuple(getattr(o, name) for o in observers if _overrides(o, name))
            if methods:
                by_type[event_type] = methods
        self._by_type = by_type

    def __bool__(self) -> bool:
        return bool(self._by_type)

    def wants(self, event_type: type[Any]) -> bool:
        return event_type in self._by_type

    def emit(self, event: Event) -> None:
        methods = self._by_type.get(type(event))
        if not methods:
            return
        for method in methods:
            try:
                method(event)
            except Exception:
                logger.warning("routerlib observer %r failed on %s; ignored", method,
                               type(event).__name__, exc_info=True)


def _overrides(observer: Any, name: str) -> bool:
    """True if ``observer`` has its own ``name`` (not the base class's no-op)."""
    method = getattr(observer, name, None)
    if not callable(method):
        return False
    base = getattr(Observer, name)
    return getattr(method, "__func__", None) is not base
