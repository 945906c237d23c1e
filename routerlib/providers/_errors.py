"""Error classification shared by every adapter: status and provider code first, wording second.

Providers disagree on status codes for the same failure (a context-window overflow is a 400
at OpenAI and Anthropic, sometimes a 413 or 422 behind gateways; Gemini's quota errors are
429 RESOURCE_EXHAUSTED), so the provider's own error code decides the subclass where it
exists, and message patterns are the last resort.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..exceptions import (
    APIError,
    APIResponseValidationError,
    APIStatusError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    RateLimitError,
    ServiceUnavailableError,
    error_class_for_status,
    parse_retry_after,
)

_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length", "context_window_exceeded"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "safety", "prohibited_content"})
_RATE_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error", "resource_exhausted", "insufficient_quota"})
#: OpenAI's insufficient_quota; Anthropic's spend limit (a rate_limit_error whose
#: error.details.error_code says so).
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "enforced_spend_limit_reached"})
_OVERLOADED_CODES = frozenset({"overloaded_error", "unavailable", "server_overloaded"})

_CONTEXT_WORDING = re.compile(
    r"maximum context length|context length|context window|prompt is too long|too many tokens"
    r"|input token count.*exceeds|exceeds the maximum number of tokens|reduce the length of the messages"
    r"|input is too long|prompt too long",
    re.IGNORECASE | re.DOTALL)
_POLICY_WORDING = re.compile(
    r"content management policy|content policy|safety system|flagged|violat\w* (our|the) usage polic",
    re.IGNORECASE)


def decode_error_body(body: bytes) -> tuple[str, str | None, Any]:
    """(message, code, parsed body) from an error body in any of the common shapes.

    Shapes seen: OpenAI ``{"error": {"message", "type", "code"}}``; Anthropic ``{"type":
    "error", "error": {"type", "message"}}``; Gemini ``{"error": {"code", "message",
    "status"}}``; FastAPI/vLLM ``{"detail": [...]}`` or ``{"detail": "..."}``; ``{"message"}``;
    plain text.
    """
    if not body.strip():
        return "no error body", None, None
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or "no error body"), None, None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = data[0]  # Gemini's streaming endpoint wraps errors in a list
    if not isinstance(data, Mapping):
        return str(data)[:500], None, data
    error = data.get("error")
    if isinstance(error, Mapping):
        message = str(error.get("message") or error)
        code = error.get("code") if isinstance(error.get("code"), str) else None
        code = code or _str(error.get("status")) or _str(error.get("type"))
        return message, code, data
    if "detail" in data:
        return _detail_message(data["detail"]), "validation_error", data
    fallback = data.get("message") or error or data
    return str(fallback), _str(data.get("code")) or _str(data.get("type")), data


def _detail_message(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def classify(status: int, code: str | None, message: str) -> type[APIStatusError]:
    """The error class for a provider's answer."""
    lowered = code.lower() if code else ""
    if lowered in _CONTEXT_CODES:
        return ContextWindowExceededError
    if lowered in _POLICY_CODES:
        return ContentPolicyViolationError
    if lowered in _RATE_CODES and status in (400, 403, 429):
        return RateLimitError
    if lowered in _OVERLOADED_CODES and status >= 500:
        return ServiceUnavailableError
    if status in (400, 413, 422) and _CONTEXT_WORDING.search(message):
        return ContextWindowExceededError
    if status == 400 and _POLICY_WORDING.search(message):
        return ContentPolicyViolationError
    return error_class_for_status(status)


def build_error(status: int, headers: Mapping[str, str], body: bytes, *, provider: str,
                model: str) -> APIError:
    """The typed error for a non-2xx answer of any JSON-speaking provider."""
    message, code, parsed = decode_error_body(body)
    cls = classify(status, code, message)
    request_id = (headers.get("x-request-id") or headers.get("request-id")
                  or headers.get("x-goog-request-id") or headers.get("apim-request-id"))
    # An exhausted quota or billing limit does not clear by waiting: fall back, do not retry.
    retryable = False if code in _QUOTA_CODES or _detail_code(parsed) in _QUOTA_CODES else None
    return cls(message, status_code=status, provider=provider, model=model, code=code,
               request_id=request_id, retry_after=parse_retry_after(headers), body=parsed,
               retryable=retryable)


def _detail_code(parsed: Any) -> str | None:
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    code = details.get("error_code") if isinstance(details, Mapping) else None
    return code if isinstance(code, str) else None


def unreadable_body(reason: str, body: bytes, *, provider: str, model: str,
                    headers: Mapping[str, str] | None = None) -> APIResponseValidationError:
    """A 2xx whose body cannot be used: retryable, never an AttributeError downstream."""
    preview = body[:200].decode("utf-8", "replace")
    request_id = headers.get("x-request-id") if headers else None
    return APIResponseValidationError(f"{reason}: {preview!r}", provider=provider, model=model,
                                      request_id=request_id, status_code=None)


#: What a parser raises when a provider's JSON has the wrong shape (a string where an object was
#: expected, a number where text was): turned into ``APIResponseValidationError`` by the core.
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError)


def wrong_shape(exc: BaseException, body: bytes, *, provider: str, model: str) -> APIResponseValidationError:
    """The typed error for a parser that tripped over an answer of the wrong shape."""
    error = unreadable_body(f"the provider's answer has an unexpected shape ({type(exc).__name__}: {exc})", body,
                            provider=provider, model=model)
    error.__cause__ = exc
    return error
