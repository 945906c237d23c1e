"""One log line per retry, fallback and failed call, on the standard ``routerlib`` logger.

::

    import logging
    logging.basicConfig(level=logging.INFO)       # every client logs these lines on "routerlib"
    client = Client(observers=[LoggingObserver(logging.getLogger("myapp.llm"))])   # and here too

    INFO routerlib: retry: call 3f2a… attempt 1 on openai/gpt-4o failed (RateLimitError 429: Rate limit
         reached); attempt 2 in 0.50 s
    WARNING routerlib: fallback: call 3f2a… attempt 3 on openai/gpt-4o failed (RateLimitError 429: ...);
         trying the next deployment
    WARNING routerlib: failed: call 3f2a…: InternalServerError 503: upstream down (4 attempts on 2
         models: openai/gpt-4o 429 x3, ...)

Retries are INFO (the policy is doing its job), fallbacks and failed calls WARNING (the caller
is getting a degraded or no answer). Successful calls log nothing.

Never a key: the lines hold the error's class, status, ``message`` and ``history``, which the
core has already passed through ``APIError.redact`` with the deployment's key; never its
``body``, headers or request. Lazy: nothing is formatted unless the logger is enabled for the
level (``isEnabledFor``, then ``%``-style arguments), so a disabled logger costs one check.

The core calls the three functions below on its failure paths for every client, with no
observer (a call that succeeds pays nothing; a failing one, one ``isEnabledFor`` check when the
logger is off). ``LoggingObserver`` sends the same lines to another logger as well.
"""

from __future__ import annotations

import logging
from typing import Any

from .events import CallEnd, Fallback, Observer, Retry

__all__ = ["LoggingObserver", "log_call_failed", "log_fallback", "log_retry"]

LOGGER = logging.getLogger("routerlib")
# A library never prints on its own: without the application's logging configuration these lines
# go nowhere (rather than to logging's last-resort stderr handler).
LOGGER.addHandler(logging.NullHandler())
#: Provider error messages are bounded in a log line (the full one stays on the error).
MESSAGE_LIMIT = 200


def log_retry(event: Retry, logger: logging.Logger = LOGGER) -> None:
    """INFO: an attempt failed and the same deployment will be tried again after ``event.wait``."""
    if logger.isEnabledFor(logging.INFO):
        logger.info("retry: call %s attempt %d on %s failed (%s); attempt %d in %.2f s", event.call_id,
                    event.attempt, _where(event.error, event.deployment_id), _describe(event.error),
                    event.attempt + 1, event.wait)


def log_fallback(event: Fallback, logger: logging.Logger = LOGGER) -> None:
    """WARNING: a deployment failed for good and the call moves to the next one."""
    if logger.isEnabledFor(logging.WARNING):
        logger.warning("fallback: call %s attempt %d on %s failed (%s); trying the next deployment",
                       event.call_id, event.attempt, _where(event.error, event.deployment_id),
                       _describe(event.error))


def log_call_failed(event: CallEnd, logger: logging.Logger = LOGGER) -> None:
    """WARNING: the call raised; the line names the last error and the history of attempts."""
    if event.outcome != "error" or not logger.isEnabledFor(logging.WARNING):
        return
    error = event.error
    history = getattr(error, "history", None) if error is not None else None
    logger.warning("failed: call %s: %s%s", event.call_id, _describe(error) if error is not None else "unknown error",
                   f" ({history})" if history else "")


class LoggingObserver(Observer):
    """The three lines above for one client's calls, on ``logger`` (the ``routerlib`` logger
    already gets them from the core, so pass another one)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def on_retry(self, event: Retry) -> None:
        log_retry(event, self.logger)

    def on_fallback(self, event: Fallback) -> None:
        log_fallback(event, self.logger)

    def on_call_end(self, event: CallEnd) -> None:
        log_call_failed(event, self.logger)


def _where(error: Any, deployment_id: str) -> str:
    """provider/model when the error knows them, else the deployment id."""
    provider, model = getattr(error, "provider", None), getattr(error, "model", None)
    return f"{provider}/{model}" if provider and model else deployment_id


def _describe(error: BaseException) -> str:
    """E.g. "RateLimitError 429: Rate limit reached" (the message bounded, never the body)."""
    status = getattr(error, "status_code", None)
    message = getattr(error, "message", None) or str(error)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "…"
    head = f"{type(error).__name__} {status}" if status else type(error).__name__
    return f"{head}: {message}" if message else head
