"""routerlib: an in-process LLM router. One call shape for every provider, with retries,
fallbacks, exact cost and spend tracking.

    import routerlib
    r = routerlib.completion("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}],
                             fallbacks=["anthropic/claude-3-5-haiku-latest"])
    print(r.choices[0].message.content, r.provider, r.cost.total, r.attempts)
"""

from __future__ import annotations

from ._api import acompletion, atext_completion, completion, default_client, text_completion
from .client import Client
from .exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConflictError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    InvalidRequestError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    PromptTemplateError,
    RateLimitError,
    RequestTimeoutError,
    RouterlibError,
    ServiceUnavailableError,
    StreamInterruptedError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from .policy import RetryPolicy
from .providers import ProviderSpec
from .streaming import AsyncStream, Stream
from .types import (
    Attempt,
    ChatCompletionChunk,
    Cost,
    ModelResponse,
    TextCompletion,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncStream",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ChatCompletionChunk",
    "Client",
    "ConflictError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "Cost",
    "InternalServerError",
    "InvalidRequestError",
    "MissingAPIKeyError",
    "ModelResponse",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptTemplateError",
    "ProviderSpec",
    "RateLimitError",
    "RequestTimeoutError",
    "RetryPolicy",
    "RouterlibError",
    "ServiceUnavailableError",
    "Stream",
    "StreamInterruptedError",
    "TextCompletion",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
    "Usage",
    "__version__",
    "acompletion",
    "atext_completion",
    "completion",
    "default_client",
    "text_completion",
]
