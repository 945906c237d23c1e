"""A stream's two ends, once for both shells: its start inside the policy, and its settlement.

``StreamStart`` reads an opened stream up to its first content chunk while the call can
still retry or fall back (the shells only loop over the events and feed them in);
``StreamEnding`` prices, records and reports the stream's attempt when the caller's
iteration ends, breaks off or is closed, exactly once::

    shell: for event, data in events: if start.feed(event, data): break   (else start.at_end())
    Stream(..., start.ending())  -> caller iterates -> ending.conclude(...) -> settle / asettle
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..exceptions import APIError, StreamInterruptedError
from ..observe.events import FirstToken, StreamEnd, StreamEndKind
from ..providers._errors import SHAPE_ERRORS, wrong_shape
from ..streaming import StreamAccumulator

logger = logging.getLogger("routerlib")

if TYPE_CHECKING:
    from ..providers.base import Deployment, StreamParser
    from ..types import ChatCompletionChunk, Cost, Usage
    from .call import Call, ChatResponse


class StreamStart:
    """The pre-content part of one streamed attempt (sans-I/O)."""

    __slots__ = ("acc", "buffered", "call", "deployment", "parser")

    def __init__(self, call: Call, deployment: Deployment, parser: StreamParser) -> None:
        self.call = call
        self.deployment = deployment
        self.parser = parser
        self.acc = StreamAccumulator()
        self.buffered: list[ChatCompletionChunk] = []

    def feed(self, event: str | None, data: bytes) -> bool:
        """Buffer one event's chunks; True once content (or the finish) has arrived."""
        started = False
        acc = self.acc
        try:
            chunks = self.parser.feed(event, data)
        except SHAPE_ERRORS as exc:
            deployment = self.deployment
            raise wrong_shape(exc, data, provider=deployment.provider, model=deployment.model) from exc
        for chunk in chunks:
            self.buffered.append(chunk)
            if acc.add(chunk):
                started = True
        if started or acc.finish_reasons:
            call = self.call
            if call.observers.wants(FirstToken):
                call.observers.emit(FirstToken(call.call_id, len(call.attempts) + 1, self.deployment.id,
                                               call.elapsed(), call.clock()))
            return True
        return False

    def at_end(self) -> None:
        """The body ended before any content: fine if complete, else a retryable interruption."""
        self.call.stream_not_started(bool(self.acc.finish_reasons), self.parser.done)

    def ending(self, http: Any) -> StreamEnding:
        return StreamEnding(self.call, self.deployment, http, self.acc, self.parser)


class StreamEnding:
    """Settles one stream when the caller is done with it. ``conclude`` runs once."""

    __slots__ = ("_acc", "_call", "_deployment", "_http", "_parser", "_response", "_settle")

    def __init__(self, call: Call, deployment: Deployment, http: Any, acc: StreamAccumulator,
                 parser: StreamParser) -> None:
        self._call = call
        self._deployment = deployment
        self._http = http
        self._acc = acc
        self._parser = parser
        self._settle: tuple[Usage | None, Cost | None, float] | None = None
        self._response: ChatResponse | None = None

    @property
    def provider(self) -> str:
        return self._deployment.provider

    @property
    def model(self) -> str:
        return self._deployment.model

    @property
    def attempts(self) -> list[Any]:
        return self._call.attempts

    def conclude(self, acc: StreamAccumulator, done: bool, error: APIError | None, closing: bool,
                 abandoned: bool = False) -> tuple[ChatResponse | None, Cost | None, APIError | None]:
        """Price and record the stream; the assembled response (complete or closed early) and the
        error to raise (an interruption, never when the caller closed it)."""
        call, deployment = self._call, self._deployment
        # Complete: the end marker, or a finish reason for every choice that started (with n > 1
        # the choices end one by one: one finished choice leaves another mid-sentence).
        complete = error is None and (done or (bool(acc.finish_reasons) and not acc.cut_short))
        if error is None and not complete and not closing:
            error = StreamInterruptedError("the stream ended without a finish reason or end marker",
                                           partial_text=acc.text)
        if call.watched and call.observers.wants(StreamEnd):
            kind: StreamEndKind = ("abandoned" if abandoned else "closed" if closing
                                   else "complete" if error is None else "interrupted")
            call.observers.emit(StreamEnd(call.call_id, len(call.attempts) + 1, deployment.id, kind, call.clock()))
        response = acc.response() if error is None or closing else None
        usage, cost = call.stream_ended(deployment, acc.usage, acc.text if acc.has_content else None, error,
                                        response)
        acc.usage = usage
        self._settle = (usage, cost, call.attempts[-1].latency)
        if response is not None:
            response.usage = usage
            call.decorate(response, deployment)
        self._response = response
        if closing:
            error = None
        if isinstance(error, StreamInterruptedError):
            error.partial_text = error.partial_text or acc.text
            error.usage = acc.usage
            error.cost = cost
        if call.watched or error is not None:
            call.finished(response, error)
        return response, cost, error

    def settle(self) -> None:
        """Write the stream's spend record (sync shell); a ledger failure goes on the response."""
        if self._settle is not None and self._call.budget is not None:
            error = self._call.budget.settle(self._deployment, *self._settle)
            if self._response is not None:
                self._response.ledger_error = error

    async def asettle(self) -> None:
        if self._settle is not None and self._call.budget is not None:
            error = await self._call.budget.asettle(self._deployment, *self._settle)
            if self._response is not None:
                self._response.ledger_error = error

    def abandon(self) -> None:
        """Called by a stream's finalizer when it was dropped unread: its connection is released, and
        what arrived before (the first content) is priced, recorded and reported, as for a close."""
        try:
            if not callable(getattr(self._http, "aclose", None)):
                self._http.close()  # a sync connection goes back (or is dropped); async ones close with their loop
            self.conclude(self._acc, self._parser.done, None, closing=True, abandoned=True)
            self.settle()
        except Exception:  # a finalizer must never raise
            logger.warning("routerlib: settling an abandoned stream failed", exc_info=True)
