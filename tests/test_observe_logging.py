"""routerlib.observe.logging: one line per retry, fallback and failed call; lazy; never a key."""

from __future__ import annotations

import json
import logging

import pytest
from core_helpers import KEY, MESSAGES, MODEL, client
from otel_helpers import T0, Script

import routerlib
from routerlib.exceptions import AuthenticationError, InternalServerError, RateLimitError
from routerlib.observe.logging import LOGGER, LoggingObserver, log_call_failed, log_fallback, log_retry
from routerlib.transport import HTTPResponse


def rate_limited() -> RateLimitError:
    return RateLimitError("Rate limit reached for gpt-4o", status_code=429, provider="openai", model="gpt-4o")


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "routerlib"]


def test_retry_fallback_and_failure_are_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routerlib")
    error = InternalServerError("upstream down", status_code=503, provider="anthropic", model="claude-haiku-4-5")
    error.history = "3 attempts on 2 models: openai/gpt-4o 429 x2, anthropic/claude-haiku-4-5 503"
    script = Script(LoggingObserver(LOGGER)).start()
    script.attempt(1, T0, T0 + 0.1, outcome="error", error=rate_limited()).retry(1, T0 + 0.1, 0.5, rate_limited())
    script.attempt(2, T0 + 0.6, T0 + 0.7, outcome="error", error=rate_limited()).fallback(2, T0 + 0.7, rate_limited())
    script.attempt(3, T0 + 0.7, T0 + 0.8, outcome="error", error=error).end(T0 + 0.8, error=error)
    assert lines(caplog) == [
        ("INFO", "retry: call call-1 attempt 1 on openai/gpt-4o failed (RateLimitError 429: Rate limit reached for "
                 "gpt-4o); attempt 2 in 0.50 s"),
        ("WARNING", "fallback: call call-1 attempt 2 on openai/gpt-4o failed (RateLimitError 429: Rate limit "
                    "reached for gpt-4o); trying the next deployment"),
        ("WARNING", "failed: call call-1: InternalServerError 503: upstream down (3 attempts on 2 models: "
                    "openai/gpt-4o 429 x2, anthropic/claude-haiku-4-5 503)"),
    ]


def test_a_successful_call_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="routerlib")
    Script(LoggingObserver(LOGGER)).start().attempt(1, T0, T0 + 0.1).end(T0 + 0.1)
    assert lines(caplog) == []


def test_long_provider_messages_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routerlib")
    Script(LoggingObserver(LOGGER)).start().retry(1, T0, 1.0, RateLimitError("x" * 5000, status_code=429))
    (_, message), = lines(caplog)
    assert len(message) < 400 and message.count("x") == 200


def test_the_deployment_id_names_the_target_when_the_error_does_not(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="routerlib")
    Script(LoggingObserver(LOGGER)).start().fallback(4, T0, RateLimitError("slow down"))
    assert "attempt 4 on dep-4 failed (RateLimitError: slow down)" in lines(caplog)[0][1]


class _WatchedError(RateLimitError):
    """An error that records whether anything read it (to prove nothing is formatted)."""

    reads = 0

    @property  # type: ignore[override]
    def message(self) -> str:
        type(self).reads += 1
        return "read"

    @message.setter
    def message(self, value: str) -> None:
        pass


def test_nothing_is_formatted_when_the_logger_is_disabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="routerlib")
    error = _WatchedError("x", status_code=429, provider="openai", model="gpt-4o")
    error.history = "1 attempt"
    script = Script(LoggingObserver(LOGGER)).start()
    script.retry(1, T0, 0.5, error).fallback(1, T0, error).end(T0, error=error)
    assert _WatchedError.reads == 0 and lines(caplog) == []
    caplog.set_level(logging.INFO, logger="routerlib")
    script.retry(1, T0, 0.5, error)
    assert _WatchedError.reads == 1  # the same call, enabled: formatted once


def test_functions_take_another_logger(caplog: pytest.LogCaptureFixture) -> None:
    mine = logging.getLogger("myapp.llm")
    caplog.set_level(logging.INFO, logger="myapp.llm")
    script = Script(LoggingObserver(mine)).start()
    script.retry(1, T0, 0.25, rate_limited())
    assert [r.name for r in caplog.records] == ["myapp.llm"]
    assert callable(log_retry) and callable(log_fallback) and callable(log_call_failed)


def test_a_key_quoted_back_by_a_provider_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The core redacts the deployment's key from the error before any event; the line shows the redacted text."""
    caplog.set_level(logging.INFO, logger="routerlib")
    key = "sk-live-THE-SECRET-KEY-0123456789"
    error = AuthenticationError(f"Incorrect API key provided: {key}", status_code=401,
                                body={"error": {"message": f"Incorrect API key provided: {key}"}})
    error.redact(key)  # what the core does (CallState.failed) before emitting events
    error.history = error.message
    Script(LoggingObserver(LOGGER)).start().fallback(1, T0, error).end(T0, error=error)
    text = "\n".join(m for _, m in lines(caplog))
    assert "Incorrect API key provided: <hidden>" in text and key not in text


# -- through real calls (in-memory transport)
def test_real_call_retry_fallback_and_failure_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Every client logs them on "routerlib", without any observer."""
    caplog.set_level(logging.INFO, logger="routerlib")
    c, _ = client(HTTPResponse(503, {"retry-after": "0"}, b'{"error": {"message": "overloaded"}}'))
    with pytest.raises(routerlib.ServiceUnavailableError):
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1, fallbacks=["openai/gpt-4o"])
    got = lines(caplog)
    assert [level for level, _ in got] == ["INFO", "WARNING", "INFO", "WARNING"]
    assert got[0][1].startswith("retry: call ") and "on openai/gpt-4o-mini failed (ServiceUnavailableError 503: " \
                                                    "overloaded); attempt 2 in 0.00 s" in got[0][1]
    assert got[1][1].startswith("fallback: call ") and "attempt 2 on openai/gpt-4o-mini" in got[1][1]
    assert got[3][1].endswith("(4 attempts on 2 models: openai/gpt-4o-mini 503 x2, openai/gpt-4o 503 x2)")
    assert len({line.split()[2].rstrip(":") for _, line in got}) == 1  # one call id on every line


def test_a_key_in_a_providers_error_body_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="routerlib")
    body = {"error": {"message": f"Incorrect API key provided: {KEY}. You can find your API key at ...",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}
    answers = iter([HTTPResponse(500, {"retry-after": "0"}, json.dumps(body).encode()),
                    HTTPResponse(401, {}, json.dumps(body).encode())])
    c, _ = client(lambda request: next(answers))
    with pytest.raises(routerlib.AuthenticationError):
        c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Incorrect API key provided: <hidden>" in text and len(lines(caplog)) == 2
    assert KEY not in text and KEY[-8:] not in text
