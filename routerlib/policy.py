"""Retry and fallback policy: immutable values, compiled to tenacity for each deployment.

One call walks its deployments in order (primary, model_list entries, fallbacks). On each
deployment a tenacity loop retries *retryable* errors up to ``num_retries`` times; when the
deployment gives up on a *fallback-worthy* error the call moves to the next deployment,
otherwise the error is raised. routerlib is the single retry owner: transports and adapters
never retry, so a server sees exactly the attempts listed in ``response.attempts``.

======================================  =========  ============  ===========================
error                                   retried    falls back    wait before a retry
======================================  =========  ============  ===========================
429 RateLimitError                      yes        yes           server's Retry-After, else backoff
429 insufficient_quota (billing)        no         yes           -
500, 502, 504 InternalServerError       yes        yes           server's Retry-After, else backoff
503, 529 ServiceUnavailableError        yes        yes           server's Retry-After, else backoff
408 RequestTimeoutError, 409 Conflict   yes        yes           backoff
APIConnectionError, APITimeoutError     yes        yes           backoff
APIResponseValidationError (bad 2xx)    yes        yes           backoff
StreamInterruptedError before content   yes        yes           backoff
401 Authentication, MissingAPIKey       no         yes           -
403 PermissionDenied, 404 NotFound      no         yes           -
ContextWindowExceededError              no         yes (mapped)  - (goes to the mapped model)
ContentPolicyViolationError             no         yes           -
NoDeploymentAvailableError (a Router)   no         yes           - (the group already tried its best)
UnsupportedParamsError                  no         yes           - (another provider may take it)
other 400, 422, InvalidRequestError     no         no            -
BudgetExceededError                     no         no            -
======================================  =========  ============  ===========================

Backoff is exponential with jitter: about 0.5 s, doubling, at most 8 s. A wait the server
asks for is honoured (retry-after-ms, then retry-after as seconds or HTTP date) up to
``max_server_wait`` (60 s); a longer wait, or one that would pass the call's deadline, is
not slept: the deployment gives up at once and the error carries ``retry_after``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import tenacity

from .exceptions import (
    APIError,
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    NoDeploymentAvailableError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnsupportedParamsError,
)

__all__ = ["DEFAULT_FALLBACK_ON", "DEFAULT_NUM_RETRIES", "RetryPolicy"]

#: The default number of retries per deployment when a call does not say: the OpenAI SDK's.
DEFAULT_NUM_RETRIES = 2

#: Errors that move a call to its next deployment (besides every retryable error).
DEFAULT_FALLBACK_ON: tuple[type[BaseException], ...] = (
    RateLimitError,  # including an exhausted quota, which is not retried
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    ContextWindowExceededError,
    ContentPolicyViolationError,
    UnsupportedParamsError,
    NoDeploymentAvailableError,  # a Router group with nothing left: its fallback groups may answer
)


@dataclass(frozen=True)
class RetryPolicy:
    """How a call retries and falls back. A value: share it freely between threads and calls.

    ``retry_on`` None means "errors whose ``retryable`` flag is set" (see the table above);
    give a tuple of error classes to retry exactly those instead. ``fallback_on`` lists the
    non-retryable errors that still move the call to its next deployment.
    """

    num_retries: int = DEFAULT_NUM_RETRIES
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.25
    max_server_wait: float = 60.0
    retry_on: tuple[type[BaseException], ...] | None = None
    fallback_on: tuple[type[BaseException], ...] = DEFAULT_FALLBACK_ON

    def __post_init__(self) -> None:
        for name in ("num_retries", "initial_backoff", "max_backoff", "jitter", "max_server_wait"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"RetryPolicy.{name}={value!r}: must be a number >= 0")
        if not isinstance(self.num_retries, int):
            raise ValueError(f"RetryPolicy.num_retries={self.num_retries!r}: must be a whole number")

    def replace(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed (the original is untouched)."""
        return dataclasses.replace(self, **changes)

    def should_retry(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried on the same deployment."""
        if self.retry_on is not None:
            return isinstance(error, self.retry_on)
        return isinstance(error, APIError) and error.retryable

    def should_fallback(self, error: BaseException) -> bool:
        """Whether ``error``, once the deployment gave up, moves the call to the next one."""
        return self.should_retry(error) or isinstance(error, self.fallback_on)

    def backoff(self) -> tenacity.wait.wait_base:
        """Exponential backoff with jitter, used when the server names no wait."""
        return (tenacity.wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
                + tenacity.wait_random(0, self.jitter))

    def retrying(self, num_retries: int) -> tenacity.Retrying:
        """This policy compiled to tenacity for ``num_retries`` (built once, then shared).

        The result is a template: it never sleeps or calls anything itself. The engine drives
        it through tenacity's sans-I/O ``iter()`` with one ``RetryCallState`` per deployment
        of a call, whose ``kwargs["seconds_left"]`` gives the call's remaining deadline.
        """
        return _compile(self, num_retries)


@functools.lru_cache(maxsize=256)
def _compile(policy: RetryPolicy, num_retries: int) -> tenacity.Retrying:
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(num_retries + 1) | _StopIfWaitTooLong(policy.max_server_wait),
        wait=_ServerAskedWait(policy.backoff()),
        retry=tenacity.retry_if_exception(policy.should_retry),
        reraise=True,
    )


class _ServerAskedWait(tenacity.wait.wait_base):
    """The wait the server asked for (``error.retry_after``), else the backoff."""

    def __init__(self, backoff: tenacity.wait.wait_base) -> None:
        self._backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return float(asked)
        return float(self._backoff(retry_state))


class _StopIfWaitTooLong(tenacity.stop.stop_base):
    """Give up rather than sleep past the server-wait cap or past the call's deadline.

    tenacity computes the upcoming wait before it asks ``stop``, so this sees the wait that
    would be slept and stops without sleeping it.
    """

    def __init__(self, cap: float) -> None:
        self._cap = cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        wait = retry_state.upcoming_sleep
        return wait > self._cap or wait >= retry_state.kwargs["seconds_left"]()
