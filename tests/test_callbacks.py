"""routerlib.callbacks: events fire in order, and a failing callback never fails the call."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from core_helpers import KEY, MESSAGES, MODEL, async_client, client, complete_stream, ok, sse_response

import routerlib
from routerlib import exceptions as ex
from routerlib.callbacks import EVENTS, Callbacks
from routerlib.transport import HTTPRequest, HTTPResponse


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_attempt(self, attempt: routerlib.Attempt) -> None:
        self.events.append(("on_attempt", attempt.outcome))

    def on_retry(self, error: BaseException) -> None:
        self.events.append(("on_retry", type(error).__name__))

    def on_fallback(self, error: BaseException) -> None:
        self.events.append(("on_fallback", type(error).__name__))

    def on_success(self, response: Any) -> None:
        self.events.append(("on_success", response.provider))

    def on_failure(self, error: BaseException) -> None:
        self.events.append(("on_failure", type(error).__name__))


class Exploding:
    def __getattr__(self, name: str) -> Any:
        if name in EVENTS:
            def boom(payload: Any) -> None:
                raise RuntimeError(f"callback bug in {name}")
            return boom
        raise AttributeError(name)


def test_success_events_in_order() -> None:
    recorder = Recorder()
    c, _ = client(ok(), callbacks=[recorder])
    c.completion(MODEL, MESSAGES, api_key=KEY)
    assert recorder.events == [("on_attempt", "ok"), ("on_success", "openai")]


def test_retry_then_failure_events_in_order() -> None:
    recorder = Recorder()
    c, _ = client(HTTPResponse(503, {"retry-after": "0"}, b"{}"), callbacks=[recorder])
    with pytest.raises(ex.ServiceUnavailableError):
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1)
    assert recorder.events == [
        ("on_attempt", "error"), ("on_retry", "ServiceUnavailableError"), ("on_attempt", "error"),
        ("on_failure", "ServiceUnavailableError")]


def test_fallback_events_in_order() -> None:
    def answer(request: HTTPRequest) -> HTTPResponse:
        if b'"gpt-4o-mini"' in request.body:
            return HTTPResponse(500, {}, b'{"error": {"message": "down"}}')
        return ok()

    recorder = Recorder()
    c, _ = client(answer, callbacks=[recorder])
    c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=0, fallbacks=["openai/gpt-4o"])
    assert recorder.events == [("on_attempt", "error"), ("on_fallback", "InternalServerError"),
                               ("on_attempt", "ok"), ("on_success", "openai")]


async def test_async_events_match_sync() -> None:
    sync_recorder, async_recorder = Recorder(), Recorder()
    sync_answers = iter([HTTPResponse(429, {"retry-after": "0"}, b"{}"), ok()])
    async_answers = iter([HTTPResponse(429, {"retry-after": "0"}, b"{}"), ok()])
    sync_c, _ = client(lambda r: next(sync_answers), callbacks=[sync_recorder])
    async_c, _ = async_client(lambda r: next(async_answers), callbacks=[async_recorder])
    sync_c.completion(MODEL, MESSAGES, api_key=KEY)
    await async_c.acompletion(MODEL, MESSAGES, api_key=KEY)
    assert sync_recorder.events == async_recorder.events == [
        ("on_attempt", "error"), ("on_retry", "RateLimitError"), ("on_attempt", "ok"), ("on_success", "openai")]


def test_failing_callback_never_fails_the_call(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    c, _ = client(ok(), callbacks=[Exploding(), recorder])
    with caplog.at_level(logging.WARNING, logger="routerlib"):
        response = c.completion(MODEL, MESSAGES, api_key=KEY)
    assert response.choices[0].message.content == "Hi!"
    assert recorder.events == [("on_attempt", "ok"), ("on_success", "openai")], "later callbacks still run"
    assert any("callback" in r.getMessage() and "on_success" in r.getMessage() for r in caplog.records)


def test_failing_callback_does_not_change_the_error() -> None:
    c, transport = client(HTTPResponse(401, {}, b'{"error": {"message": "bad key"}}'), callbacks=[Exploding()])
    with pytest.raises(ex.AuthenticationError, match="bad key"):
        c.completion(MODEL, MESSAGES, api_key=KEY)
    assert len(transport.requests) == 1


def test_failing_callback_during_retries_does_not_stop_them() -> None:
    answers = iter([HTTPResponse(500, {}, b"{}"), ok()])
    c, transport = client(lambda r: next(answers), callbacks=[Exploding()])
    assert c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1).choices[0].message.content == "Hi!"
    assert len(transport.requests) == 2


def test_failing_callback_on_a_stream() -> None:
    c, _ = client(sse_response(complete_stream()), callbacks=[Exploding()])
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == "Hello"


def test_partial_callback_objects() -> None:
    successes: list[Any] = []

    class OnlySuccess:
        def on_success(self, response: Any) -> None:
            successes.append(response)

    c, _ = client(ok(), callbacks=[OnlySuccess()])
    response = c.completion(MODEL, MESSAGES, api_key=KEY)
    assert successes == [response]


def test_object_without_any_event_is_rejected() -> None:
    with pytest.raises(TypeError, match="on_success"):
        Callbacks([object()])
    with pytest.raises(TypeError):
        routerlib.Client(callbacks=[42])


def test_no_callbacks_is_inactive() -> None:
    callbacks = Callbacks()
    assert callbacks.active is False
    callbacks.emit("on_success", None)  # no-op


def test_stream_emits_success_once_it_ends() -> None:
    recorder = Recorder()
    c, _ = client(sse_response(complete_stream()), callbacks=[recorder])
    stream = c.completion(MODEL, MESSAGES, api_key=KEY, stream=True)
    list(stream)
    assert recorder.events == [("on_attempt", "ok"), ("on_success", "openai")]
