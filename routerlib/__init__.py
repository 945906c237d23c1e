"""routerlib: an in-process LLM router. One call shape for every provider, with retries,
fallbacks, exact cost and spend tracking.

    import routerlib
    r = routerlib.completion("openai/gpt-4o-mini", [{"role": "user", "content": "Hi"}],
                             fallbacks=["anthropic/claude-haiku-4-5"])
    print(r.choices[0].message.content, r.provider, r.cost.total, r.attempts)
"""

from __future__ import annotations

import sys as _sys
import types as _types

from ._api import acompletion, aembedding, atext_completion, completion, default_client, embedding, text_completion
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
    ConfigurationError,
    ConflictError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    InvalidRequestError,
    LedgerError,
    LedgerTimeoutError,
    LedgerUnavailableError,
    MissingAPIKeyError,
    ModuleSettingError,
    NoDeploymentAvailableError,
    NoDeploymentFitsError,
    NotFoundError,
    PermissionDeniedError,
    PlaintextCredentialsWarning,
    PromptTemplateError,
    RateLimitError,
    RedirectError,
    RequestTimeoutError,
    ResponseTooLargeError,
    RouterConfigError,
    RouterlibError,
    RouterlibWarning,
    ServiceUnavailableError,
    StreamInterruptedError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
    UsageWarning,
)
from .policy import RetryPolicy
from .providers import ProviderSpec
from .streaming import AsyncStream, Stream
from .transport import Limits
from .types import (
    Attempt,
    ChatCompletionChunk,
    Cost,
    EmbeddingResponse,
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
    "get_max_tokens": "routerlib.cost",
    "get_model_info": "routerlib.cost",
    "model_cost": "routerlib.cost",
    "register_model": "routerlib.cost",
    "supports_audio_input": "routerlib.cost",
    "supports_audio_output": "routerlib.cost",
    "supports_box_questions": "routerlib.cost",
    "supports_computer_use": "routerlib.cost",
    "supports_continuation": "routerlib.cost",
    "supports_function_calling": "routerlib.cost",
    "supports_httpx_timeout": "routerlib.cost",
    "supports_parallel_function_calling": "routerlib.cost",
    "supports_pdf_input": "routerlib.cost",
    "supports_prompt_caching": "routerlib.cost",
    "supports_reasoning": "routerlib.cost",
    "supports_response_schema": "routerlib.cost",
    "supports_system_messages": "routerlib.cost",
    "supports_tool_choice": "routerlib.cost",
    "supports_tool_search": "routerlib.cost",
    "supports_url_context": "routerlib.cost",
    "supports_video_input": "routerlib.cost",
    "supports_vision": "routerlib.cost",
    "supports_web_search": "routerlib.cost",
    "token_counter": "routerlib.tokens",
    "encode": "routerlib.tokens",
    "decode": "routerlib.tokens",
    "batch_completion": "routerlib._compat",
    "stream_chunk_builder": "routerlib._compat",
    "Router": "routerlib.routing",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        if not name.startswith("__"):
            from ._settings import is_litellm_setting, where

            if is_litellm_setting(name):
                raise AttributeError(f"module 'routerlib' has no attribute {name!r}: routerlib takes no "
                                     f"settings from module attributes; use {where(name)}", name=name)
        raise AttributeError(f"module 'routerlib' has no attribute {name!r}", name=name)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _RouterlibModule(_types.ModuleType):
    """``routerlib`` itself: an assignment such as ``routerlib.num_retries = 0`` raises.

    routerlib reads no module attribute for behaviour, so LiteLLM-style settings would be
    silently ignored; ``ModuleSettingError`` says where each goes instead (``routerlib._settings``).
    Replacing an existing name that is no LiteLLM setting (``unittest.mock.patch(
    "routerlib.completion")``) and binding submodules still work.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("__") or isinstance(value, _types.ModuleType):
            super().__setattr__(name, value)  # the import system binding a submodule
            return
        from ._settings import is_litellm_setting, refusal

        if (name in self.__dict__ or name in _LAZY) and not is_litellm_setting(name):
            super().__setattr__(name, value)
            return
        raise refusal(name)


_sys.modules[__name__].__class__ = _RouterlibModule

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
    "ConfigurationError",
    "ConflictError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "Cost",
    "EmbeddingResponse",
    "InternalServerError",
    "InvalidRequestError",
    "LedgerError",
    "LedgerTimeoutError",
    "LedgerUnavailableError",
    "Limits",
    "MemoryLedger",
    "MissingAPIKeyError",
    "ModelResponse",
    "ModuleSettingError",
    "NoDeploymentAvailableError",
    "NoDeploymentFitsError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlaintextCredentialsWarning",
    "PromptTemplateError",
    "ProviderSpec",
    "RateLimitError",
    "RedirectError",
    "RedisLedger",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "Router",
    "RouterConfigError",
    "RouterlibError",
    "RouterlibWarning",
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
    "UsageWarning",
    "__version__",
    "acompletion",
    "aembedding",
    "atext_completion",
    "batch_completion",
    "completion",
    "completion_cost",
    "cost_per_token",
    "decode",
    "default_client",
    "embedding",
    "encode",
    "get_max_tokens",
    "get_model_info",
    "model_cost",
    "register_model",
    "stream_chunk_builder",
    "supports_audio_input",
    "supports_audio_output",
    "supports_box_questions",
    "supports_computer_use",
    "supports_continuation",
    "supports_function_calling",
    "supports_httpx_timeout",
    "supports_parallel_function_calling",
    "supports_pdf_input",
    "supports_prompt_caching",
    "supports_reasoning",
    "supports_response_schema",
    "supports_system_messages",
    "supports_tool_choice",
    "supports_tool_search",
    "supports_url_context",
    "supports_video_input",
    "supports_vision",
    "supports_web_search",
    "text_completion",
    "token_counter",
]
