"""The sync and async shells of a call: they send, sleep and do the ledger's I/O, nothing else.

Every decision is the ``Call``'s; the two shells mirror each other line for line::

    call = Call(runtime, request)
    while deployment := call.next_deployment():       # the source picks
        if not call.fits(deployment): continue          # the skip is recorded, the plan moves on
        a cache hit answers here                        # (looked up once: the first that fits;
                                                        #  a follower of a failed call picks again)
        reserve budget                                  # BudgetExceededError: nothing sent
        try: attempt -> response (or an opened stream read up to its first content)
        except RouterlibError: sleep(call.after_failure(...))   # None: re-raised, history attached
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import APIError, RouterlibError
from ..streaming import AsyncStream, ChatToTextParser, Stream, aiter_sse, iter_sse
from . import caching
from .call import Call, Response
from .stream_start import StreamStart

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from .._embedding import Request
    from ..providers.base import Deployment, StreamParser
    from ..transport import AsyncStreamResponse, StreamResponse
    from .runtime import Runtime


# -- sync
def run_sync(runtime: Runtime, request: Request) -> Response | Stream:
    call = Call(runtime, request)
    if runtime.cache is not None:
        call.cache = caching.start(runtime, request)
    elif request.cache is not None:
        caching.controls_without_cache()
    try:
        while (deployment := call.next_deployment()) is not None:
            if not call.fits(deployment):
                continue
            if call.cache is not None:
                if (hit := caching.lookup(call, deployment)) is not None:
                    return hit
                if call.cache.pick_again:  # it followed an identical call that brought no answer
                    call.cache.pick_again = False
                    continue
            if call.budget is not None:
                call.budget.reserve(deployment)
            try:
                return _attempt(call, deployment)
            except RouterlibError as error:
                if (wait := call.after_failure(deployment, error)) is None:
                    raise
                if wait:
                    runtime.sleep(wait)
        raise call.no_candidate_left()
    except RouterlibError as error:
        if call.budget is not None:
            call.budget.end(*call.end_reason(cancelled=False))
        if call.cache is not None:
            caching.abandon(call)
        raise call.exhausted(error)  # noqa: B904 - the same error, now carrying the history
    except BaseException:
        if call.budget is not None:
            call.budget.end(*call.end_reason(cancelled=True))
        if call.cache is not None:
            caching.abandon(call)
        call.finished(None)
        raise


def _attempt(call: Call, deployment: Deployment) -> Response | Stream:
    timeout = call.begin(deployment)
    try:
        if call.request.stream:
            return _read_stream(call, deployment, _open(call, deployment, timeout))
        response = _send(call, deployment, timeout)
    except APIError as error:
        call.failed(deployment, error, call.elapsed())
        raise
    response = call.succeeded(deployment, response, call.elapsed())
    if call.budget is not None:
        last = call.attempts[-1]
        response.ledger_error = call.budget.settle(deployment, response.usage, last.cost, last.latency)
    if call.cache is not None:
        caching.store(call, deployment, response)
    if call.watched:
        call.finished(response)
    return response


def _send(call: Call, deployment: Deployment, timeout: float) -> Response:
    raw = call.runtime.transport.send(call.build(deployment), timeout)
    return call.interpret(deployment, raw.status, raw.headers, raw.body)


def _open(call: Call, deployment: Deployment, timeout: float) -> StreamResponse:
    return call.runtime.transport.stream(call.build(deployment), timeout, call.stream_total())


def _read_stream(call: Call, deployment: Deployment, http: StreamResponse) -> Stream:
    """Read an opened stream up to its first content, inside the policy (so it can still retry)."""
    if http.status >= 300:
        body = http.read()
        http.close()
        raise deployment.adapter.parse_error(http.status, http.headers, body, deployment)
    start = StreamStart(call, deployment, _stream_parser(call, deployment))
    request = call.request  # only chat requests stream
    lines = http.lines()
    events = iter_sse(lines if call.deadline_at is None else _within_deadline(lines, call))
    try:
        for event, data in events:
            if start.feed(event, data):
                break
        else:
            start.at_end()
    except APIError:
        http.close()
        raise
    return Stream(http, events, start.parser, start.acc, start.buffered,
                  caching.ending(call, deployment, start.ending(http)),
                  forward_usage=request.operation == "chat" and request.wants_usage_chunk)


# -- async (mirrors the sync shell)
async def run_async(runtime: Runtime, request: Request) -> Response | AsyncStream:
    call = Call(runtime, request)
    if runtime.cache is not None:
        call.cache = caching.start(runtime, request)
    elif request.cache is not None:
        caching.controls_without_cache()
    try:
        while (deployment := await call.anext_deployment()) is not None:
            if not call.fits(deployment):
                continue
            if call.cache is not None:
                if (hit := await caching.alookup(call, deployment)) is not None:
                    return hit
                if call.cache.pick_again:
                    call.cache.pick_again = False
                    continue
            if call.budget is not None:
                await call.budget.areserve(deployment)
            try:
                return await _aattempt(call, deployment)
            except RouterlibError as error:
                if (wait := call.after_failure(deployment, error)) is None:
                    raise
                if wait:
                    await runtime.async_sleep(wait)
        raise call.no_candidate_left()
    except RouterlibError as error:
        if call.budget is not None:
            await call.budget.aend(*call.end_reason(cancelled=False))
        if call.cache is not None:
            await caching.aabandon(call)
        raise call.exhausted(error)  # noqa: B904 - the same error, now carrying the history
    except BaseException:
        if call.budget is not None:
            await call.budget.aend(*call.end_reason(cancelled=True))
        if call.cache is not None:
            await caching.aabandon(call)
        call.finished(None)
        raise


async def _aattempt(call: Call, deployment: Deployment) -> Response | AsyncStream:
    timeout = call.begin(deployment)
    try:
        if call.request.stream:
            return await _aread_stream(call, deployment, await _aopen(call, deployment, timeout))
        response = await _asend(call, deployment, timeout)
    except APIError as error:
        call.failed(deployment, error, call.elapsed())
        raise
    response = call.succeeded(deployment, response, call.elapsed())
    if call.budget is not None:
        last = call.attempts[-1]
        response.ledger_error = await call.budget.asettle(deployment, response.usage, last.cost, last.latency)
    if call.cache is not None:
        await caching.astore(call, deployment, response)
    if call.watched:
        call.finished(response)
    return response


async def _asend(call: Call, deployment: Deployment, timeout: float) -> Response:
    raw = await call.runtime.async_transport.send(call.build(deployment), timeout)
    return call.interpret(deployment, raw.status, raw.headers, raw.body)


async def _aopen(call: Call, deployment: Deployment, timeout: float) -> AsyncStreamResponse:
    return await call.runtime.async_transport.stream(call.build(deployment), timeout, call.stream_total())


async def _aread_stream(call: Call, deployment: Deployment, http: AsyncStreamResponse) -> AsyncStream:
    if http.status >= 300:
        body = await http.read()
        await http.aclose()
        raise deployment.adapter.parse_error(http.status, http.headers, body, deployment)
    start = StreamStart(call, deployment, _stream_parser(call, deployment))
    request = call.request  # only chat requests stream
    lines = http.lines()
    events = aiter_sse(lines if call.deadline_at is None else _awithin_deadline(lines, call))
    try:
        async for event, data in events:
            if start.feed(event, data):
                break
        else:
            start.at_end()
    except APIError:
        await http.aclose()
        raise
    return AsyncStream(http, events, start.parser, start.acc, start.buffered,
                       caching.ending(call, deployment, start.ending(http)),
                       forward_usage=request.operation == "chat" and request.wants_usage_chunk)


# -- shared
def _stream_parser(call: Call, deployment: Deployment) -> StreamParser | ChatToTextParser:
    request = call.request_for(deployment)
    parser = deployment.adapter.stream_parser(request, deployment)
    return parser if request is call.request else ChatToTextParser(parser)


def _within_deadline(lines: Iterator[bytes], call: Call) -> Iterator[bytes]:
    """A stream's lines until the call's deadline passes, then APITimeoutError.

    Needed because a server can keep a stream open indefinitely with SSE comments (keep-alive
    "processing" lines) that reset every socket timeout but carry no event.
    """
    for line in lines:
        if call.seconds_left() <= 0:
            raise call.deadline_error()
        yield line


async def _awithin_deadline(lines: AsyncIterator[bytes], call: Call) -> AsyncIterator[bytes]:
    async for line in lines:
        if call.seconds_left() <= 0:
            raise call.deadline_error()
        yield line
