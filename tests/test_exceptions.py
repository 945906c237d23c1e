"""routerlib.exceptions: the tree drawn in the module docstring, status mapping, Retry-After, pickling."""

from __future__ import annotations

import email.utils
import pickle
from decimal import Decimal

import pytest

import routerlib
from routerlib import exceptions as ex
from routerlib.exceptions import error_class_for_status, error_for_status, parse_retry_after
from routerlib.types import Attempt

# (child, parent) exactly as drawn in the module docstring.
TREE = [
    (ex.APIError, ex.RouterlibError),
    (ex.APIStatusError, ex.APIError),
    (ex.RedirectError, ex.APIStatusError),
    (ex.BadRequestError, ex.APIStatusError),
    (ex.ContextWindowExceededError, ex.BadRequestError),
    (ex.ContentPolicyViolationError, ex.BadRequestError),
    (ex.UnsupportedParamsError, ex.BadRequestError),
    (ex.InvalidRequestError, ex.BadRequestError),
    (ex.AuthenticationError, ex.APIStatusError),
    (ex.MissingAPIKeyError, ex.AuthenticationError),
    (ex.PermissionDeniedError, ex.APIStatusError),
    (ex.NotFoundError, ex.APIStatusError),
    (ex.RequestTimeoutError, ex.APIStatusError),
    (ex.ConflictError, ex.APIStatusError),
    (ex.UnprocessableEntityError, ex.APIStatusError),
    (ex.RateLimitError, ex.APIStatusError),
    (ex.InternalServerError, ex.APIStatusError),
    (ex.ServiceUnavailableError, ex.InternalServerError),
    (ex.APIConnectionError, ex.APIError),
    (ex.APITimeoutError, ex.APIConnectionError),
    (ex.APIResponseValidationError, ex.APIError),
    (ex.ResponseTooLargeError, ex.APIResponseValidationError),
    (ex.StreamInterruptedError, ex.APIError),
    (ex.NoDeploymentAvailableError, ex.APIError),
    (ex.NoDeploymentFitsError, ex.NoDeploymentAvailableError),
    (ex.BudgetExceededError, ex.RouterlibError),
    (ex.LedgerError, ex.RouterlibError),
    (ex.LedgerUnavailableError, ex.LedgerError),
    (ex.LedgerTimeoutError, ex.LedgerError),
    (ex.PromptTemplateError, ex.RouterlibError),
    (ex.RouterConfigError, ex.ConfigurationError),
    (ex.ModuleSettingError, ex.RouterlibError),
    (ex.ConfigurationError, ex.RouterlibError),
    (ex.PlaintextCredentialsWarning, ex.RouterlibWarning),
    (ex.UsageWarning, ex.RouterlibWarning),
]


@pytest.mark.parametrize(("child", "parent"), TREE, ids=[c.__name__ for c, _ in TREE])
def test_tree_as_drawn(child: type[Exception], parent: type[Exception]) -> None:
    assert child.__bases__[0] is parent
    assert child.__name__ in (ex.__doc__ or ""), "every class is drawn in the docstring"


def test_a_router_group_that_fits_nothing_raises_what_a_client_raises() -> None:
    assert issubclass(ex.NoDeploymentFitsError, ex.ContextWindowExceededError)
    error = ex.NoDeploymentFitsError("x", group="chat", reasons={"a": "too big"}, code="context_length_exceeded")
    assert pickle.loads(pickle.dumps(error)).reasons == {"a": "too big"}


def test_every_public_error_is_in_the_tree() -> None:
    drawn = {c for c, _ in TREE} | {ex.RouterlibError, ex.RouterlibWarning}
    public = {getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), type)}
    assert public == drawn


def test_not_api_errors() -> None:
    assert not issubclass(ex.BudgetExceededError, ex.APIError)
    assert not issubclass(ex.PromptTemplateError, ex.APIError)
    assert issubclass(ex.PromptTemplateError, ValueError)
    assert issubclass(ex.RouterConfigError, ValueError)
    assert not issubclass(ex.RouterConfigError, ex.APIError)
    assert not issubclass(ex.APIConnectionError, ex.APIStatusError)


def test_timeout_alias() -> None:
    assert ex.Timeout is ex.APITimeoutError
    assert routerlib.Timeout is ex.APITimeoutError


def _expected(status: int) -> tuple[type[ex.APIStatusError], bool]:
    exact: dict[int, tuple[type[ex.APIStatusError], bool]] = {
        400: (ex.BadRequestError, False), 401: (ex.AuthenticationError, False),
        403: (ex.PermissionDeniedError, False), 404: (ex.NotFoundError, False),
        408: (ex.RequestTimeoutError, True), 409: (ex.ConflictError, True), 413: (ex.BadRequestError, False),
        422: (ex.UnprocessableEntityError, False), 429: (ex.RateLimitError, True),
        503: (ex.ServiceUnavailableError, True), 529: (ex.ServiceUnavailableError, True),
    }
    if status in exact:
        return exact[status]
    if status >= 500:
        return ex.InternalServerError, True
    if 300 <= status < 400:
        return ex.RedirectError, False
    return ex.APIStatusError, False


@pytest.mark.parametrize("status", range(300, 600))
def test_every_status_maps_with_the_right_retryable_flag(status: int) -> None:
    cls, retryable = _expected(status)
    assert error_class_for_status(status) is cls
    error = error_for_status(status, "boom", provider="openai", model="gpt-4o")
    assert type(error) is cls
    assert isinstance(error, ex.APIStatusError)
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.provider == "openai" and error.model == "gpt-4o"


def test_response_too_large_is_a_validation_error_that_is_not_retried() -> None:
    error = ex.ResponseTooLargeError("the body went past Limits.max_response_bytes")
    assert isinstance(error, ex.APIResponseValidationError)
    assert error.retryable is False, "the provider processed it: a retry would pay twice for the same refusal"


def test_retryable_can_be_overridden_per_error() -> None:
    assert ex.RateLimitError("quota", retryable=False).retryable is False
    assert ex.BadRequestError("odd", retryable=True).retryable is True


def test_local_errors_have_no_status() -> None:
    for cls in (ex.InvalidRequestError, ex.UnsupportedParamsError, ex.MissingAPIKeyError):
        error = cls("x")
        assert error.status_code is None
        assert error.retryable is False


def test_transport_and_body_errors_are_retryable() -> None:
    assert ex.APIConnectionError("x").retryable
    assert ex.APITimeoutError("x").retryable
    assert ex.APIResponseValidationError("x").retryable
    assert ex.StreamInterruptedError("x").retryable


# -- Retry-After

def test_retry_after_ms_comes_first() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "2"}) == 1.5


def test_retry_after_seconds() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after": email.utils.formatdate(now - 60, usegmt=True)}, now=now) == 0.0


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after": "1e400"}, 86_400.0),               # infinity: no deadline, breaker or Redis integer holds it
    ({"retry-after-ms": "1e400"}, 86_400.0),
    ({"retry-after": "-inf"}, 0.0),
    ({"retry-after-ms": "nan", "retry-after": "nan"}, None),
    ({"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
    ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, 86_400.0),
])
def test_a_servers_wait_is_finite_and_at_most_a_day(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


def test_retry_after_garbage_ms_falls_back_to_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0


@pytest.mark.parametrize("headers", [
    {}, {"retry-after": ""}, {"retry-after": "tomorrow-ish"}, {"retry-after": "Mon, 99 Foo 2024"},
    {"retry-after-ms": "x"}, {"x-other": "5"},
])
def test_retry_after_garbage_is_none(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers) is None


def test_retry_after_never_negative() -> None:
    assert parse_retry_after({"retry-after": "-5"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "-5"}) == 0.0


# -- str, fields, pickling

def test_str_names_provider_model_status_and_message() -> None:
    error = ex.RateLimitError("slow down", status_code=429, provider="openai", model="gpt-4o")
    assert str(error) == "[openai/gpt-4o] 429 slow down"
    error.history = "3 attempts on 1 model: openai/gpt-4o 429 x3"
    assert str(error) == "[openai/gpt-4o] 429 slow down (3 attempts on 1 model: openai/gpt-4o 429 x3)"
    assert str(ex.APIConnectionError("refused")) == "refused"


def test_fields() -> None:
    cause = ValueError("inner")
    try:
        try:
            raise cause
        except ValueError as inner:
            raise ex.RateLimitError("m", status_code=429, provider="p", model="m1", code="rate_limit_exceeded",
                                    request_id="req_1", retry_after=2.5, body={"error": {}}) from inner
    except ex.RateLimitError as error:
        assert error.code == "rate_limit_exceeded"
        assert error.request_id == "req_1"
        assert error.retry_after == 2.5
        assert error.body == {"error": {}}
        assert error.attempts == ()
        assert error.__cause__ is cause


def test_stream_interrupted_carries_partial_text() -> None:
    usage = routerlib.Usage(prompt_tokens=3, completion_tokens=1, total_tokens=4)
    error = ex.StreamInterruptedError("cut", partial_text="Hel", usage=usage, provider="openai")
    assert error.partial_text == "Hel"
    assert error.usage is usage
    assert error.provider == "openai"


ATTEMPT = Attempt(model="gpt-4o", provider="openai", outcome="error", status_code=429, error="RateLimitError")


@pytest.mark.parametrize("error", [
    ex.RateLimitError("slow", status_code=429, provider="openai", model="gpt-4o", retry_after=1.0, code="rl"),
    ex.ContextWindowExceededError("too long", status_code=400, body={"error": {"code": "context_length_exceeded"}}),
    ex.APITimeoutError("timed out"),
    ex.StreamInterruptedError("cut", partial_text="Hel", status_code=None),
    ex.MissingAPIKeyError("no key", provider="openai"),
    ex.BudgetExceededError("over", limit=Decimal("1"), spent=Decimal("0.9"), reserved=Decimal("0"),
                           requested=Decimal("0.2"), scope="global", key=None),
    ex.PromptTemplateError("no template"),
    ex.NoDeploymentAvailableError("all 2 deployments of chat are cooling down", group="chat",
                                  reasons={"a": "open", "b": "open"}, open_until=1.5e9, model="chat"),
    ex.RouterConfigError("model_list[0]: unknown key"),
    ex.RouterlibError("plain"),
], ids=lambda e: type(e).__name__)
def test_pickle_round_trip(error: ex.RouterlibError) -> None:
    if isinstance(error, ex.APIError | ex.BudgetExceededError):
        error.attempts = (ATTEMPT,)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_pickled_error_keeps_retryable_and_history() -> None:
    error = ex.InternalServerError("x", status_code=500, retryable=False)
    error.history = "1 attempt on 1 model: openai/gpt-4o 500"
    copy = pickle.loads(pickle.dumps(error))
    assert copy.retryable is False
    assert copy.history == error.history
    assert "1 attempt" in str(copy)


def test_no_deployment_available_is_not_retried_and_keeps_its_reasons() -> None:
    error = ex.NoDeploymentAvailableError("none", group="chat", reasons={"eu": "tags"})
    assert error.retryable is False
    assert error.status_code is None
    assert error.reasons == {"eu": "tags"}
    assert error.group == "chat"
    assert error.open_until is None


def test_litellm_attribute_names_beside_routerlibs() -> None:
    """Code written for LiteLLM reads e.llm_provider, e.status_code, e.message in its except blocks."""
    error = ex.error_for_status(429, "slow down", provider="openai", model="gpt-4o")
    assert (error.llm_provider, error.status_code, error.message) == ("openai", 429, "slow down")
    error.provider = "azure"
    assert error.llm_provider == "azure"
    assert pickle.loads(pickle.dumps(error)).llm_provider == "azure"
# -- redact: every credential, every form, the whole chain (routerlib._secrets has the rules)

SECRET = "sk-test-redact-0123456789"


def test_redact_hides_every_secret_in_message_body_history_and_attempts() -> None:
    from urllib.parse import quote

    error = ex.AuthenticationError(f"bad key {SECRET}; token tok-0123456789xyz; {quote('a/b+' + SECRET)}",
                                   status_code=401, body={"error": {"key": SECRET, "list": [SECRET]}})
    error.history = f"1 attempt: {SECRET}"
    error.attempts = (Attempt(model="m", provider="p", outcome="error", message=f"bad key {SECRET}"),)
    error.redact(SECRET, "tok-0123456789xyz", None)
    shown = repr(error.__dict__) + str(error) + repr(error.args)
    assert SECRET not in shown and "tok-0123456789xyz" not in shown
    assert "<hidden>" in error.message and error.args == (error.message,)
    assert pickle.loads(pickle.dumps(error)).message == error.message


def test_redact_with_no_secret_changes_nothing() -> None:
    error = ex.APIError("message", body={"a": 1})
    error.redact()
    error.redact(None)
    assert error.message == "message" and error.body == {"a": 1}


def test_every_routerlib_error_can_be_redacted() -> None:
    error = ex.BudgetExceededError(f"over budget for {SECRET}", limit=Decimal(1), spent=Decimal(1),
                                   reserved=Decimal(0), requested=None, scope="user")
    error.redact(SECRET)
    assert SECRET not in str(error)
