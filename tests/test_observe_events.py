"""Observer events: exactly one start and one end per call and per attempt, sync, async and streams."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from core_helpers import KEY, MESSAGES, MODEL, async_client, client, complete_stream, ok, sse, sse_response
from core_helpers import chunk as sse_chunk

import routerlib
from routerlib.observe import (
    AttemptEnd,
    AttemptStart,
    CallEnd,
    CallStart,
    Fallback,
    FirstToken,
    Observer,
    Observers,
    Retry,
    StreamEnd,
)
from routerlib.transport import HTTPRequest, HTTPResponse


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_call_start(self, event: CallStart) -> None:
        self.events.append(event)

    def on_attempt_start(self, event: AttemptStart) -> None:
        self.events.append(event)

    def on_first_token(self, event: FirstToken) -> None:
        self.events.append(event)

    def on_stream_end(self, event: StreamEnd) -> None:
        self.events.append(event)

    def on_attempt_end(self, event: AttemptEnd) -> None:
        self.events.append(event)

    def on_retry(self, event: Retry) -> None:
        self.events.append(event)

    def on_fallback(self, event: Fallback) -> None:
        self.events.append(event)

    def on_call_end(self, event: CallEnd) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


def failing_then_ok() -> Any:
    answers = iter([HTTPResponse(503, {"retry-after": "0"}, b"{}"), ok()])
    return lambda request: next(answers)


def test_a_plain_call_is_one_call_and_one_attempt() -> None:
    recorder = Recorder()
    c, _ = client(ok(), observers=[recorder])
    response = c.completion(MODEL, MESSAGES, api_key=KEY)
    assert recorder.kinds() == ["CallStart", "AttemptStart", "AttemptEnd", "CallEnd"]
    start, a_start, a_end, end = recorder.events
    assert len({e.call_id for e in recorder.events}) == 1
    assert a_start.attempt == a_end.attempt == 1 and a_start.reason == "first"
    assert a_start.deployment_id == a_end.deployment_id == response.attempts[0].deployment_id
    assert a_end.outcome == "ok" and a_end.usage == response.usage and a_end.response is response
    assert end.outcome == "ok" and end.cost == response.cost and end.latency >= a_end.latency >= 0
    assert start.request.model == MODEL and start.operation == "chat" and start.stream is False


def test_retry_and_fallback_events_carry_ids_and_waits() -> None:
    def answer(request: HTTPRequest) -> HTTPResponse:
        if b'"gpt-4o-mini"' in request.body:
            return HTTPResponse(500, {"retry-after": "0"}, b'{"error": {"message": "down"}}')
        return ok()

    recorder = Recorder()
    c, _ = client(answer, observers=[recorder])
    c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1, fallbacks=["openai/gpt-4o"])
    assert recorder.kinds() == ["CallStart", "AttemptStart", "AttemptEnd", "Retry", "AttemptStart", "AttemptEnd",
                                "Fallback", "AttemptStart", "AttemptEnd", "CallEnd"]
    starts = [e for e in recorder.events if isinstance(e, AttemptStart)]
    assert [s.attempt for s in starts] == [1, 2, 3]
    assert [s.reason for s in starts] == ["first", "retry", "fallback"]
    assert starts[0].deployment_id == starts[1].deployment_id != starts[2].deployment_id


def test_failure_ends_the_call_with_the_typed_error() -> None:
    recorder = Recorder()
    c, _ = client(HTTPResponse(401, {}, b'{"error": {"message": "bad key"}}'), observers=[recorder])
    with pytest.raises(routerlib.AuthenticationError):
        c.completion(MODEL, MESSAGES, api_key=KEY)
    end = recorder.events[-1]
    assert isinstance(end, CallEnd) and end.outcome == "error"
    assert isinstance(end.error, routerlib.AuthenticationError) and len(end.attempts) == 1


async def test_async_emits_the_same_events_as_sync() -> None:
    sync_recorder, async_recorder = Recorder(), Recorder()
    sync_c, _ = client(failing_then_ok(), observers=[sync_recorder])
    async_c, _ = async_client(failing_then_ok(), observers=[async_recorder])
    sync_c.completion(MODEL, MESSAGES, api_key=KEY)
    await async_c.acompletion(MODEL, MESSAGES, api_key=KEY)
    assert sync_recorder.kinds() == async_recorder.kinds() == [
        "CallStart", "AttemptStart", "AttemptEnd", "Retry", "AttemptStart", "AttemptEnd", "CallEnd"]


def test_a_stream_ends_its_attempt_and_call_when_it_ends() -> None:
    recorder = Recorder()
    c, _ = client(sse_response(complete_stream()), observers=[recorder])
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert recorder.kinds() == ["CallStart", "AttemptStart", "FirstToken"]
    list(stream)
    assert recorder.kinds() == ["CallStart", "AttemptStart", "FirstToken", "StreamEnd", "AttemptEnd", "CallEnd"]
    stream_end, attempt_end = recorder.events[3], recorder.events[4]
    assert stream_end.kind == "complete" and attempt_end.usage is not None and attempt_end.cost is not None


async def test_an_async_stream_closed_early_still_ends_once() -> None:
    recorder = Recorder()
    body = sse(sse_chunk("", role="assistant"), sse_chunk("a"), sse_chunk("b"), sse_chunk(finish="stop"))
    c, _ = async_client(sse_response(body), observers=[recorder])
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    async for _ in stream:  # type: ignore[union-attr]
        break
    await stream.aclose()  # type: ignore[union-attr]
    await stream.aclose()  # type: ignore[union-attr]
    assert recorder.kinds().count("CallEnd") == recorder.kinds().count("AttemptEnd") == 1
    assert next(e for e in recorder.events if isinstance(e, StreamEnd)).kind == "closed"


def test_an_interrupted_stream_ends_with_the_error() -> None:
    recorder = Recorder()
    body = sse(sse_chunk("", role="assistant"), sse_chunk("partial"), done=False)
    c, _ = client(sse_response(body), observers=[recorder])
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    with pytest.raises(routerlib.StreamInterruptedError):
        list(stream)
    end = recorder.events[-1]
    assert isinstance(end, CallEnd) and isinstance(end.error, routerlib.StreamInterruptedError)
    assert next(e for e in recorder.events if isinstance(e, StreamEnd)).kind == "interrupted"


def test_a_failing_observer_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Observer):
        def on_attempt_end(self, event: AttemptEnd) -> None:
            raise RuntimeError("observer bug")

    recorder = Recorder()
    c, _ = client(ok(), observers=[Broken(), recorder])
    with caplog.at_level(logging.WARNING, logger="routerlib"):
        assert c.completion(MODEL, MESSAGES, api_key=KEY).choices[0].message.content == "Hi!"
    assert recorder.kinds() == ["CallStart", "AttemptStart", "AttemptEnd", "CallEnd"]
    assert any("observer" in r.getMessage() for r in caplog.records)


def test_observers_dispatch_only_to_overridden_methods() -> None:
    class OnlyEnds(Observer):
        def on_call_end(self, event: CallEnd) -> None: ...

    observers = Observers([OnlyEnds()])
    assert observers.wants(CallEnd) and not observers.wants(AttemptStart)
    assert not Observers([])


def test_a_context_skip_is_an_observed_attempt() -> None:
    recorder = Recorder()
    c, _ = client(ok(), observers=[recorder])
    c.register_model("tiny", litellm_provider="openai", max_input_tokens=10, max_output_tokens=10,
                     input_cost_per_token="0.000001", output_cost_per_token="0.000002")
    long = [{"role": "user", "content": "story " * 100}]
    c.completion("openai/tiny", long, api_key=KEY, fallbacks=["openai/gpt-4o-mini"])
    ends = [e for e in recorder.events if isinstance(e, AttemptEnd)]
    assert [e.outcome for e in ends] == ["skipped", "ok"]
    assert recorder.kinds().count("AttemptStart") == 2
