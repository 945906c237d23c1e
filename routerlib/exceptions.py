"""routerlib's error tree.

Names mirror openai-python, so code that catches ``openai.RateLimitError`` ports by
renaming the module::

    RouterlibError
    ├── APIError                              (every provider- or transport-side failure)
    │   ├── APIStatusError                    (the provider answered with a non-2xx status)
    │   │   ├── RedirectError                 3xx (routerlib never follows a redirect)
    │   │   ├── BadRequestError               400
    │   │   │   ├── ContextWindowExceededError
    │   │   │   ├── ContentPolicyViolationError
    │   │   │   ├── UnsupportedParamsError    (raised locally, no status code)
    │   │   │   └── InvalidRequestError       (raised locally, no status code)
    │   │   ├── AuthenticationError           401
    │   │   │   └── MissingAPIKeyError        (raised locally, no status code)
    │   │   ├── PermissionDeniedError         403
    │   │   ├── NotFoundError                 404
    │   │   ├── RequestTimeoutError           408
    │   │   ├── ConflictError                 409
    │   │   ├── UnprocessableEntityError      422
    │   │   ├── RateLimitError                429
    │   │   └── InternalServerError           >= 500
    │   │       └── ServiceUnavailableError   503, 529
    │   ├── APIConnectionError                (no answer: refused, reset, DNS, TLS)
    │   │   └── APITimeoutError (alias Timeout)
    │   ├── APIResponseValidationError        (a 2xx whose body is unreadable)
    │   │   └── ResponseTooLargeError         (past a transport Limits bound: body, SSE line, headers)
    │   ├── StreamInterruptedError            (a stream that broke off)
    │   └── NoDeploymentAvailableError        (a Router group had nothing that could take the call)
    │       └── NoDeploymentFitsError         (... because the prompt fits no window; also a
    │                                          ContextWindowExceededError, as a Client raises)
    ├── BudgetExceededError                   (refused before any network call)
    ├── LedgerError                           (a spend ledger's store failed: Redis, SQLite)
    │   ├── LedgerUnavailableError            (unreachable, refused, closed, unreadable)
    │   └── LedgerTimeoutError                (no answer within the call's time left)
    ├── PromptTemplateError                   (a template could not be found or rendered)
    ├── ConfigurationError                    (a bad Client/Router argument; also TypeError, ValueError)
    │   └── RouterConfigError                 (a Router's model_list or options, refused at construction)
    └── ModuleSettingError                    (``routerlib.x = ...``: settings go to Client or the call)

    RouterlibWarning (UserWarning)
    ├── PlaintextCredentialsWarning           (a key sent over http:// to a non-loopback host)
    └── UsageWarning                          (the provider's usage was implausible: counted locally)

Every ``APIError`` carries the context needed to act on it: ``status_code``,
``provider``, ``model``, the provider's error ``code`` and ``message``, ``request_id``,
``retryable``, ``retry_after`` (seconds) and, once the reliability layer has run,
``attempts``. Credentials never appear in any of them: the core calls
``error.redact(*deployment.secrets)`` on every failure, which hides every credential the
deployment sent in the error and in its whole chain (see ``routerlib._secrets``).

A ``LedgerError`` names its ledger (``where``: the SQLite path, or the Redis URL without its
user and password) and the ``operation`` that failed, and chains the store's own error.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._warnings import PlaintextCredentialsWarning, RouterlibWarning, UsageWarning

if TYPE_CHECKING:
    from ._secrets import Redactor
    from .types import Attempt, Cost, Usage

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConfigurationError",
    "ConflictError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "InternalServerError",
    "InvalidRequestError",
    "LedgerError",
    "LedgerTimeoutError",
    "LedgerUnavailableError",
    "MissingAPIKeyError",
    "ModuleSettingError",
    "NoDeploymentAvailableError",
    "NoDeploymentFitsError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlaintextCredentialsWarning",
    "PromptTemplateError",
    "RateLimitError",
    "RedirectError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RouterConfigError",
    "RouterlibError",
    "RouterlibWarning",
    "ServiceUnavailableError",
    "StreamInterruptedError",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "UsageWarning",
    "error_class_for_status",
    "error_for_status",
    "parse_retry_after",
]


class RouterlibError(Exception):
    """The root of every error routerlib raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not pickle by default; errors cross process pools.
        return (_rebuild, (type(self), self.args, self.__dict__))

    def redact(self, *secrets: str | None) -> None:
        """Hide ``secrets`` (every credential the deployment sent: ``deployment.secrets``) here
        and in the whole chain of causes, in every form a provider may echo them."""
        if secrets:
            from ._secrets import redact_exception

            redact_exception(self, secrets)

    def _redact_own(self, redactor: Redactor) -> None:
        """Hide the secrets in this error's own fields (the chain is walked by the caller)."""
        self.args = tuple(redactor.value(a) for a in self.args)
        fields = self.__dict__
        for name in ("message", "code", "request_id", "history", "partial_text"):
            value = fields.get(name)
            if isinstance(value, str):
                fields[name] = redactor.text(value)
        if fields.get("body") is not None:
            fields["body"] = redactor.value(fields["body"])
        attempts = fields.get("attempts")
        if attempts:
            fields["attempts"] = tuple(
                a.model_copy(update={"message": redactor.text(a.message)})
                if a.message and redactor.finds(a.message) else a for a in attempts)
        notes = getattr(self, "__notes__", None)
        if isinstance(notes, list):
            self.__notes__ = [redactor.value(n) for n in notes]


def _rebuild(cls: type[RouterlibError], args: tuple[Any, ...], state: dict[str, Any]) -> RouterlibError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class APIError(RouterlibError):
    """A call to a provider failed. Carries everything known about the failure."""

    #: Whether trying the same deployment again may succeed (class default).
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str | None = None,
        model: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.provider = provider
        self.model = model
        self.code = code
        self.request_id = request_id
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.body = body
        self.attempts: tuple[Attempt, ...] = ()
        #: Set when the call gave up: e.g. "3 attempts on 2 models: openai/gpt-4o 429 x2, ...".
        self.history: str | None = None

    @property
    def llm_provider(self) -> str | None:
        """LiteLLM's name for ``provider``, so that ``except`` blocks written for LiteLLM keep working."""
        return self.provider

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        parts = [f"[{where}]" if where else "", f"{self.status_code}" if self.status_code else "", self.message]
        text = " ".join(p for p in parts if p)
        return f"{text} ({self.history})" if self.history else text


class APIStatusError(APIError):
    """The provider answered with a non-2xx status."""


class RedirectError(APIStatusError):
    """3xx: the server redirected. routerlib never follows a redirect: the request carries the
    provider's key in headers (``x-api-key``, ``api-key``, ...) that a follower would hand to
    whatever origin the ``Location`` names. The message names that origin only (no path, query
    or credentials). Not retryable: the same request would be redirected again."""


class BadRequestError(APIStatusError):
    """400: the request is wrong and would fail the same way again."""


class ContextWindowExceededError(BadRequestError):
    """The prompt plus the requested output does not fit the model's context window."""


class ContentPolicyViolationError(BadRequestError):
    """The provider refused the content (moderation, safety block)."""


class UnsupportedParamsError(BadRequestError):
    """A parameter the chosen provider does not accept (pass drop_params=True to drop it)."""


class InvalidRequestError(BadRequestError):
    """routerlib rejected the request before any network call: names the bad parameter."""


class AuthenticationError(APIStatusError):
    """401: the key is missing, wrong or revoked."""


class MissingAPIKeyError(AuthenticationError):
    """No key was given and the provider's environment variable is not set."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or resource."""


class NotFoundError(APIStatusError):
    """404: no such model, deployment or path."""


class RequestTimeoutError(APIStatusError):
    """408: the server timed out waiting for the request."""

    default_retryable = True


class ConflictError(APIStatusError):
    """409: a conflicting concurrent operation; worth retrying."""

    default_retryable = True


class UnprocessableEntityError(APIStatusError):
    """422: the server understood the request but refused its content."""


class RateLimitError(APIStatusError):
    """429: slow down; ``retry_after`` says for how long when the server says."""

    default_retryable = True


class InternalServerError(APIStatusError):
    """>= 500: the provider failed; usually transient."""

    default_retryable = True


class ServiceUnavailableError(InternalServerError):
    """503 or 529 (Anthropic's "overloaded"): the provider is shedding load."""


class APIConnectionError(APIError):
    """No usable answer arrived: connection refused or reset, DNS or TLS failure."""

    default_retryable = True


class APITimeoutError(APIConnectionError):
    """An attempt exceeded its timeout, or the whole call exceeded its deadline."""


Timeout = APITimeoutError


class APIResponseValidationError(APIError):
    """A 2xx answer whose body is not valid JSON or lacks what the format requires."""

    default_retryable = True


class ResponseTooLargeError(APIResponseValidationError):
    """An answer went past a bound of ``routerlib.transport.Limits``: its decoded body, one SSE
    line, or its status line and headers. Reading stopped there, so memory stays bounded; the
    message names the bound. Not retryable: the same request would get the same answer (and
    the provider has processed, and may bill, this one)."""

    default_retryable = False


class StreamInterruptedError(APIError):
    """A stream broke off before its end; carries what had arrived, and what it cost."""

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        usage: Usage | None = None,
        cost: Cost | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.partial_text = partial_text
        self.usage = usage
        self.cost = cost


class NoDeploymentAvailableError(APIError):
    """No deployment of a Router group could take the call; nothing more was sent to the group.

    Raised locally (no status code) when every deployment is excluded by the pre-call checks
    (context window, tags, rpm/tpm, max_parallel_requests) or is open and the call's one trial
    of the soonest to reopen failed too. ``reasons`` maps each deployment id to why it was
    excluded; ``open_until`` is the wall-clock time (``time.time()``) the first open one
    reopens, when every deployment is cooling down. Not retried; falls back to the group's
    fallbacks (``ContextWindowExceededError``-only reasons go to context_window_fallbacks).
    """

    def __init__(self, message: str, *, group: str, reasons: Mapping[str, str],
                 open_until: float | None = None, **context: Any) -> None:
        super().__init__(message, retryable=False, **context)
        self.group = group
        self.reasons = dict(reasons)
        self.open_until = open_until


class NoDeploymentFitsError(NoDeploymentAvailableError, ContextWindowExceededError):
    """No deployment of a Router group has a context window the request fits; nothing was sent.

    Both a ``NoDeploymentAvailableError`` (``group``, ``reasons`` per deployment) and the
    ``ContextWindowExceededError`` a plain ``Client`` raises for the same request, so that code
    catching the latter (LiteLLM's pre-call checks raise it too) works the same under a Router.
    """


class BudgetExceededError(RouterlibError):
    """A budget would be exceeded by the worst-case cost of the call; nothing was sent.

    ``requested`` is None when the cost could not be bounded (no known price).
    """

    def __init__(
        self,
        message: str,
        *,
        limit: Decimal,
        spent: Decimal,
        reserved: Decimal,
        requested: Decimal | None,
        scope: str,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.requested = requested
        self.scope = scope
        self.key = key
        self.attempts: tuple[Attempt, ...] = ()


class LedgerError(RouterlibError):
    """A spend ledger's store failed (see ``routerlib.spend`` for what a call does then).

    ``where`` names the ledger -- an SQLite path, or a Redis URL with any user and password
    removed -- and ``operation`` the ledger method ("reserve", "settle", ...). The store's own
    exception is chained as ``__cause__``.
    """

    def __init__(self, message: str, *, where: str | None = None, operation: str | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.operation = operation


class LedgerUnavailableError(LedgerError):
    """The store could not be reached, refused the operation, or the ledger is closed."""


class LedgerTimeoutError(LedgerError):
    """The store did not answer within the time the call had left (or the ledger's own ceiling)."""


class PromptTemplateError(RouterlibError, ValueError):
    """A prompt template could not be found, validated or rendered."""


class ConfigurationError(RouterlibError, TypeError, ValueError):
    """A constructor argument that cannot work (``Client(timeout="30")``, ``Client(ledger="spend.db")``),
    refused when the object is built rather than after the first paid call. Also a ``TypeError``
    and a ``ValueError``, which is what Python code usually catches for a bad argument."""


class RouterConfigError(ConfigurationError):
    """A Router's model_list or options are wrong: says where, what is wrong and what is allowed."""


class ModuleSettingError(RouterlibError, AttributeError):
    """An assignment to a routerlib module attribute (``routerlib.num_retries = 0``).

    routerlib reads no module attribute for behaviour, so the assignment would be silently
    ignored; the message says where the setting goes (a ``Client`` argument or a per-call
    keyword). An ``AttributeError``, as for any attribute that cannot be set.
    """


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    529: ServiceUnavailableError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The error class for an HTTP status: exact entries first, then by range."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if 300 <= status < 400:
        return RedirectError
    return InternalServerError if status >= 500 else APIStatusError


def error_for_status(status: int, message: str, **context: Any) -> APIStatusError:
    """Build the typed error for ``status`` (subclasses such as context window come from adapters)."""
    return error_class_for_status(status)(message, status_code=status, **context)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms, then retry-after (seconds or HTTP date).

    ``headers`` must have lower-case keys. Returns None when the server said nothing usable. The
    value is finite and at most a day (``1e400`` is infinity, which no deadline, breaker or Redis
    integer can hold); what a caller waits is capped again by its own policy.
    """
    ms = headers.get("retry-after-ms")
    if ms and (seconds := _finite(ms, 1000.0)) is not None:
        return seconds
    value = headers.get("retry-after")
    if not value:
        return None
    if (seconds := _finite(value, 1.0)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), _MAX_RETRY_AFTER)


#: The longest wait a server's answer is taken to ask for: a day.
_MAX_RETRY_AFTER = 86_400.0


def _finite(text: str, per_second: float) -> float | None:
    """``text`` as seconds within [0, a day], or None when it is not a number (NaN included)."""
    try:
        value = float(text) / per_second
    except ValueError:
        return None
    if value != value:  # NaN
        return None
    return min(max(0.0, value), _MAX_RETRY_AFTER)
