"""What ``mock_response`` may name: LiteLLM's error names and the shape of ``mock_tool_calls``.

Request validation checks these (a misspelt error name must not pass as the answer's text), and
the in-memory mock provider (``providers.mock``) acts on them; kept here, apart from both, so
that validation never imports the provider seam.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

__all__ = ["MOCK_ERRORS", "MockError", "check_mock_error_name", "check_tool_calls"]


@dataclass(frozen=True)
class MockError:
    """What a ``"litellm.<Name>"`` mock_response fails with: a routerlib class, LiteLLM's status."""

    kind: type[APIError]
    status: int | None
    message: str
    code: str | None = None


#: LiteLLM's exception names (``litellm/exceptions.py``) -> routerlib's class, with LiteLLM's
#: default status code. LiteLLM's own messages for the three it mocks itself are kept.
MOCK_ERRORS: Mapping[str, MockError] = {
    "RateLimitError": MockError(RateLimitError, 429, "this is a mock rate limit error"),
    "ContextWindowExceededError": MockError(ContextWindowExceededError, 400,
                                            "this is a mock context window exceeded error",
                                            "context_length_exceeded"),
    "InternalServerError": MockError(InternalServerError, 500, "this is a mock internal server error"),
    "BadRequestError": MockError(BadRequestError, 400, "this is a mock bad request error"),
    "AuthenticationError": MockError(AuthenticationError, 401, "this is a mock authentication error"),
    "PermissionDeniedError": MockError(PermissionDeniedError, 403, "this is a mock permission denied error"),
    "NotFoundError": MockError(NotFoundError, 404, "this is a mock not found error"),
    "UnprocessableEntityError": MockError(UnprocessableEntityError, 422, "this is a mock unprocessable entity error"),
    "Timeout": MockError(APITimeoutError, 408, "this is a mock timeout error"),
    "APIConnectionError": MockError(APIConnectionError, 500, "this is a mock connection error"),
    "ServiceUnavailableError": MockError(ServiceUnavailableError, 503, "this is a mock service unavailable error"),
    "BadGatewayError": MockError(InternalServerError, 502, "this is a mock bad gateway error"),
    "ContentPolicyViolationError": MockError(ContentPolicyViolationError, 400,
                                             "this is a mock content policy violation error", "content_filter"),
    "APIError": MockError(APIError, 500, "this is a mock API error"),
    "APIResponseValidationError": MockError(APIResponseValidationError, 500,
                                            "this is a mock response validation error"),
    "UnsupportedParamsError": MockError(UnsupportedParamsError, 400, "this is a mock unsupported params error"),
    "InvalidRequestError": MockError(InvalidRequestError, 400, "this is a mock invalid request error"),
    "PaymentRequiredError": MockError(APIStatusError, 402, "this is a mock payment required error"),
}


def check_mock_error_name(value: str, *, embedding: bool = False) -> None:
    """Refuse a ``"litellm.<Name>"`` that names no error (a typo must not pass as the answer's
    text); for embedding(), any other text too (an embedding's mock is a vector)."""
    name = value.removeprefix("litellm.")
    if value.startswith("litellm.") and name in MOCK_ERRORS:
        return
    if value.startswith("litellm.") and name.isidentifier() and name[:1].isupper():
        raise ValueError(f"names no LiteLLM error routerlib mocks; known: "
                         f"{', '.join('litellm.' + n for n in MOCK_ERRORS)}")
    if embedding:
        raise ValueError("for embedding(), give a list of floats (the vector each input gets), an exception, "
                         "or an error name such as 'litellm.RateLimitError'")


def check_tool_calls(calls: Sequence[Any]) -> None:
    """mock_tool_calls: OpenAI tool calls, each with a function name (arguments a JSON string or a dict)."""
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not function["name"]:
            raise ValueError(f"mock_tool_calls[{i}]: each tool call needs function.name, e.g. {{'id': 'call_1', "
                             f"'type': 'function', 'function': {{'name': 'f', 'arguments': '{{}}'}}}}")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str | Mapping):
            raise ValueError(f"mock_tool_calls[{i}].function.arguments: a JSON string or a dict")
