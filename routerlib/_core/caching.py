"""The response cache in the call: the few hooks the shells call, and what a hit records.

Where the hooks sit in a call (``shells``), and what each does::

    Call(runtime, request)           call.cache = start(runtime, request)    (None: no cache used)
    first deployment that fits       lookup / alookup -> a hit ends the call here: nothing is
                                     reserved or sent (after the context check, so that a
                                     request is refused or answered the same with or without
                                     a cache; before the budget's reserve). A call that waits
                                     for an identical call's answer gives its router pick back
                                     and, when none comes, picks again (``pick_again``)
    attempt succeeded                store / astore   -> encoded once, shared, written
    stream opened                    ending(call, ending) -> stores when the stream completes,
                                     never a truncated or closed one
    call failed                      abandon / aabandon -> followers call themselves, no entry

A hit is an attempt like any other, with outcome ``"cache_hit"``: ``AttemptStart`` and
``AttemptEnd`` reach the observers, ``response.attempts`` lists it, its cost is zero with
``saved`` set, and the ledger (when the client keeps one) gets a record with ``cache_hit``
True, zero cost and the saved amount (a ledger that fails then is reported on
``response.ledger_error``, as for any answer); no budget is reserved or charged. A stream hit replays
the stored answer as chunks through the ordinary ``Stream`` / ``AsyncStream`` (its
``CallEnd`` comes when the caller has read it, like any stream's).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from ..exceptions import LedgerError

logger = logging.getLogger("routerlib")

if TYPE_CHECKING:
    from ..cache.call import CallCache
    from ..cache.entry import CachedAnswer
    from ..exceptions import APIError
    from ..providers.base import Deployment
    from ..request import Request
    from ..spend import SpendRecord
    from ..streaming import AsyncStream, Ending, Stream, StreamAccumulator
    from ..types import ChatCompletionChunk, Cost
    from .call import Call, ChatResponse, Response
    from .runtime import Runtime


def start(runtime: Runtime, request: Request) -> CallCache | None:
    """This call's use of the client's cache, or None (no cache, or this call cannot use it)."""
    backend = runtime.cache
    if backend is None:
        return None
    return _call_cache().start(backend, request)


@functools.cache
def controls_without_cache() -> None:
    """A call gave ``cache={...}`` to a client without a cache: warned once per process, since the
    controls then do nothing (code ported from LiteLLM, whose cache is a module setting, would
    otherwise believe it caches)."""
    import warnings

    from .._warnings import RouterlibWarning, caller_stacklevel

    warnings.warn(RouterlibWarning(
        "cache={...} was given to a call whose client has no cache: nothing is read or stored. Give the client "
        "one: Client(cache=MemoryCache()) or Router(cache=...) (routerlib.completion() has none; see "
        "docs/cache.md)"), stacklevel=caller_stacklevel())


@functools.cache
def _call_cache() -> type[CallCache]:
    """``CallCache``, loaded with the first call on a client that has a cache (not at import)."""
    from ..cache.call import CallCache

    return CallCache


def _wait(call: Call, deployment: Deployment) -> float:
    """How long this call may wait for another's identical answer: as long as its own attempt could take.

    Asked only of a follower, which sends nothing while it waits: a router's pick is given back
    first (identical calls waiting on one upstream request must not fill the deployment's
    max_parallel_requests), and if no answer comes the shell picks again (``pick_again``).
    """
    if (ended := getattr(call.source, "ended", None)) is not None:
        ended(call)
        call.cache.pick_again = True
    timeout = deployment.options.timeout or call.request.timeout or call.runtime.timeout
    return min(float(timeout), call.seconds_left())


def _scope(call: Call) -> bytes | None:
    """What the current target's answers are cached under when that is wider than the deployment
    (a Router group: ``cache_scope``); None for a deployment of its own."""
    target = call.target
    return None if target is None else target.cache_scope


# -- lookup
def lookup(call: Call, deployment: Deployment) -> Response | Stream | None:
    """Before the first attempt: the cached answer (the call ends here), or None to send."""
    cache = call.cache
    if cache is None:
        return None
    answer = cache.lookup(deployment, lambda: _wait(call, deployment), _scope(call))
    if answer is None:
        return None
    response, record = _hit(call, deployment, answer)
    if record is not None:
        from ..spend.calling import run_sync

        try:
            run_sync(call.runtime.budget.ledger, "record", record, timeout=_ledger_time(call))  # type: ignore[union-attr]
        except LedgerError as error:
            response.ledger_error = _reported(error)
    return _replay(call, cast("ChatResponse", response)) if call.request.stream else _finish(call, response)


async def alookup(call: Call, deployment: Deployment) -> Response | AsyncStream | None:
    cache = call.cache
    if cache is None:
        return None
    answer = await cache.alookup(deployment, lambda: _wait(call, deployment), _scope(call))
    if answer is None:
        return None
    response, record = _hit(call, deployment, answer)
    if record is not None:
        from ..spend.calling import run_async

        try:
            await run_async(call.runtime.budget.ledger, "record", record,  # type: ignore[union-attr]
                            timeout=_ledger_time(call))
        except LedgerError as error:
            response.ledger_error = _reported(error)
    return _areplay(call, cast("ChatResponse", response)) if call.request.stream else _finish(call, response)


def _ledger_time(call: Call) -> float | None:
    """The ledger write of a hit is bounded like a settle: the call's time left, at least half a second."""
    left = call.seconds_left()
    return None if left == float("inf") else max(left, 0.5)


def _reported(error: LedgerError) -> LedgerError:
    logger.warning("routerlib: spend ledger failed recording a cache hit (%s); the record is kept for a later "
                   "write", error)
    return error


def _hit(call: Call, deployment: Deployment, answer: CachedAnswer) -> tuple[Response, SpendRecord | None]:
    """Record the hit as an attempt (AttemptStart/AttemptEnd) and decorate the stored response."""
    call.begin(deployment)
    response = answer.response
    cost = answer.cost
    latency = call.elapsed()
    call._record(deployment, "cache_hit", latency=latency, cost=cost, usage=response.usage, response=response)
    call.decorate(response, deployment)
    response.provider = answer.provider
    response.cache_hit = True
    return response, _spend_record(call, answer, cost, latency)


def _spend_record(call: Call, answer: CachedAnswer, cost: Cost, latency: float) -> SpendRecord | None:
    """The ledger's record of a hit: nothing spent, the saved amount, the caller's attribution."""
    budget = call.budget
    if budget is None:
        return None
    from ..spend import SpendRecord

    return SpendRecord(call_id=call.call_id, timestamp=time.time(), model=answer.model, provider=answer.provider,
                       user=budget.user, team=budget.team, tags=budget.tags, cost=Decimal(0),
                       attempts=len(call.attempts), latency=latency, metadata=budget.extra, cache_hit=True,
                       saved=cost.saved)


def _finish(call: Call, response: Response) -> Response:
    if call.watched:
        call.finished(response)
    return response


# -- a hit replayed as a stream
class _Replay:
    """The parts a ``Stream`` reads from, fed from a stored answer instead of a connection.

    The stream's events are placeholders; the parser hands out the next replayed chunk for
    each, and is ``done`` once they are all out (so the stream ends complete).
    """

    def __init__(self, call: Call, response: ChatResponse) -> None:
        from ..cache.replay import replay_chunks

        self._chunks: deque[Any] = deque(replay_chunks(response, include_usage=True))
        self._count = len(self._chunks)
        self.done = False
        self.ending = _HitEnding(call, response)

    # the parser
    def feed(self, event: str | None, data: bytes) -> list[ChatCompletionChunk]:
        chunk = self._chunks.popleft()
        self.done = not self._chunks
        return [chunk]

    # the events and the "connection"
    def events(self) -> Iterator[tuple[str | None, bytes]]:
        return ((None, b"") for _ in range(self._count))

    async def aevents(self) -> AsyncIterator[tuple[str | None, bytes]]:
        for _ in range(self._count):
            yield None, b""

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class _HitEnding:
    """A replayed stream's end: the stored response (already recorded and priced); CallEnd."""

    def __init__(self, call: Call, response: ChatResponse) -> None:
        self._call = call
        self._response = response
        self.provider = response.provider or ""
        self.model = response.model

    @property
    def attempts(self) -> list[Any]:
        return self._call.attempts

    def conclude(self, acc: StreamAccumulator, done: bool, error: APIError | None, closing: bool
                 ) -> tuple[ChatResponse | None, Cost | None, APIError | None]:
        response = self._response
        if self._call.watched:
            self._call.finished(response, error)
        return response, response.cost, None if closing else error

    def settle(self) -> None:
        pass

    async def asettle(self) -> None:
        pass

    def abandon(self) -> None:
        pass


def _replay(call: Call, response: ChatResponse) -> Stream:
    from ..streaming import Stream, StreamAccumulator

    replay = _Replay(call, response)
    request = call.request  # only chat calls are cached
    return Stream(replay, replay.events(), replay, StreamAccumulator(), [], replay.ending,  # type: ignore[arg-type]
                  forward_usage=request.operation == "chat" and request.wants_usage_chunk)


def _areplay(call: Call, response: ChatResponse) -> AsyncStream:
    from ..streaming import AsyncStream, StreamAccumulator

    replay = _Replay(call, response)
    request = call.request  # only chat calls are cached
    return AsyncStream(replay, replay.aevents(), replay, StreamAccumulator(), [],  # type: ignore[arg-type]
                       replay.ending, forward_usage=request.operation == "chat" and request.wants_usage_chunk)


# -- the end of a call that was sent
def store(call: Call, deployment: Deployment, response: Response) -> None:
    """A non-streamed attempt succeeded: store its answer at the cost that attempt had."""
    if call.cache is not None:
        call.cache.store(deployment, response, call.attempts[-1].cost, _scope(call))


async def astore(call: Call, deployment: Deployment, response: Response) -> None:
    if call.cache is not None:
        await call.cache.astore(deployment, response, call.attempts[-1].cost, _scope(call))


def abandon(call: Call) -> None:
    """The call failed (or was interrupted): nothing is stored; followers call themselves."""
    if call.cache is not None:
        call.cache.abandon()


async def aabandon(call: Call) -> None:
    if call.cache is not None:
        await call.cache.aabandon()


def ending(call: Call, deployment: Deployment, inner: Ending) -> Ending:
    """A stream's ending that also stores the answer once the stream completed (never a truncated one)."""
    return inner if call.cache is None else _StoringEnding(call, deployment, inner)


class _StoringEnding:
    """Delegates to the core's ``StreamEnding``; stores (or abandons) in ``settle`` / ``asettle``."""

    def __init__(self, call: Call, deployment: Deployment, inner: Ending) -> None:
        self._call = call
        self._deployment = deployment
        self._scope = _scope(call)  # the target that opened the stream (it may have moved on by its end)
        self._inner = inner
        self._answer: tuple[ChatResponse, Cost | None] | None = None
        self.provider = inner.provider
        self.model = inner.model

    @property
    def attempts(self) -> list[Any]:
        return self._inner.attempts

    def conclude(self, acc: StreamAccumulator, done: bool, error: APIError | None, closing: bool
                 ) -> tuple[ChatResponse | None, Cost | None, APIError | None]:
        response, cost, error = self._inner.conclude(acc, done, error, closing)
        if response is not None and error is None and not closing and not acc.cut_short:
            # Stored only complete: every choice that started has finished (with n > 1 one finish
            # reason, or an end marker after which a choice is left unfinished, is not enough).
            self._answer = (response, self._call.attempts[-1].cost)
        return response, cost, error

    def settle(self) -> None:
        self._inner.settle()
        cache = self._call.cache
        if cache is not None:
            if self._answer is not None:
                cache.store(self._deployment, *self._answer, self._scope)
            else:
                cache.abandon()

    async def asettle(self) -> None:
        await self._inner.asettle()
        cache = self._call.cache
        if cache is not None:
            if self._answer is not None:
                await cache.astore(self._deployment, *self._answer, self._scope)
            else:
                await cache.aabandon()

    def abandon(self) -> None:
        """Dropped unread: followers are released at once; a cross-process lock expires by itself
        (a finalizer does no network I/O)."""
        self._inner.abandon()
        cache = self._call.cache
        if cache is not None:
            cache.release_followers()
