"""routerlib: an in-process LLM router. One call shape for every provider, with retries,
fallbacks, exact cost and spend tracking.

    import routerlib
    r = routerlib.completion("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}],
                             fallbacks=["anthropic/claude-haiku-4-5"])
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
    NoDeploymentAvailableError,
    NotFoundError,
    PermissionDeniedError,
    PromptTemplateError,
    RateLimitError,
    RequestTimeoutError,
    RouterConfigError,
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

# Loaded on first access, so that `import routerlib` stays cheap.
_LAZY = {
    "Budget": "routerlib.spend",
    "MemoryLedger": "routerlib.spend",
    "SQLiteLedger": "routerlib.spend",
    "RedisLedger": "routerlib.spend",
    "SpendRecord": "routerlib.spend",
    "completion_cost": "routerlib.cost",
    "cost_per_token": "routerlib.cost",
    "get_model_info": "routerlib.cost",
    "token_counter": "routerlib.tokens",
    "Router": "routerlib.routing",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'routerlib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

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
    "Budget",
    "BudgetExceededError",
    "ChatCompletionChunk",
    "Client",
    "ConflictError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "Cost",
    "InternalServerError",
    "InvalidRequestError",
    "MemoryLedger",
    "MissingAPIKeyError",
    "ModelResponse",
    "NoDeploymentAvailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptTemplateError",
    "ProviderSpec",
    "RateLimitError",
    "RedisLedger",
    "RequestTimeoutError",
    "RetryPolicy",
    "Router",
    "RouterConfigError",
    "RouterlibError",
    "SQLiteLedger",
    "ServiceUnavailableError",
    "SpendRecord",
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
    "completion_cost",
    "cost_per_token",
    "default_client",
    "get_model_info",
    "text_completion",
    "token_counter",
]
