"""Why ``routerlib.num_retries = 0`` raises, and where each LiteLLM module setting goes instead.

LiteLLM is configured by assigning module attributes (``litellm.num_retries = 0``,
``litellm.success_callback = [fn]``). routerlib reads no module attribute for behaviour
(DESIGN.md, principle 1), so such an assignment would be silently ignored: the call would
retry anyway, the callback never run. Instead the assignment raises ``ModuleSettingError``
saying where the setting goes: a ``routerlib.Client(...)`` argument or a per-call keyword.

This module is imported only when an assignment is refused (``import routerlib`` stays cheap).
"""

from __future__ import annotations

from .exceptions import ModuleSettingError

__all__ = ["LITELLM_SETTINGS", "is_litellm_setting", "refusal", "where"]

_CLIENT = "routerlib.Client"
_CALLBACKS = (f"{_CLIENT}(callbacks=[obj]), where obj has on_success(response) / on_failure(error) / "
              "on_attempt(attempt) methods (a LiteLLM function(kwargs, response, start, end) must be wrapped), "
              f"or {_CLIENT}(observers=[...]) for call and attempt events (routerlib.otel.OpenTelemetryObserver "
              "for OpenTelemetry)")
_LOGGING = ("Python's logging: logging.getLogger('routerlib') (retries at INFO, fallbacks and failed calls at "
            f"WARNING, never a key or request content); to watch calls use {_CLIENT}(observers=[...])")
_TRANSPORT = f"{_CLIENT}(transport=..., async_transport=...) (the HTTP transport is a value of the client)"
_UNSUPPORTED = "not supported by routerlib"
#: Where a response cache goes: LiteLLM's cache, caching, Cache(...) and enable_cache all point here.
_CACHE = (f"{_CLIENT}(cache=routerlib.cache.MemoryCache() | SQLiteCache(path) | RedisCache(url)) "
          "(or Router(cache=...)); see docs/cache.md")

#: LiteLLM's commonly set module settings -> where that setting goes in routerlib.
LITELLM_SETTINGS: dict[str, str] = {
    # -- reliability
    "num_retries": f"the per-call keyword num_retries=N, or {_CLIENT}(policy=RetryPolicy(num_retries=N))",
    "max_retries": f"the per-call keyword num_retries=N, or {_CLIENT}(policy=RetryPolicy(num_retries=N))",
    "num_retries_per_request": "the per-call keyword num_retries=N",
    "retry_policy": f"{_CLIENT}(policy=routerlib.RetryPolicy(...)), or the per-call keyword policy=",
    "allowed_fails": f"{_CLIENT}(policy=routerlib.RetryPolicy(...))",
    "request_timeout": f"the per-call keyword timeout= (seconds per attempt), or {_CLIENT}(timeout=...)",
    "fallbacks": "the per-call keyword fallbacks=[...]",
    "default_fallbacks": "the per-call keyword fallbacks=[...]",
    "context_window_fallbacks": "the per-call keyword context_window_fallback_dict={model: fallback}",
    "content_policy_fallbacks": "the per-call keyword fallbacks=[...] (a content-policy refusal falls back)",
    "max_fallbacks": "the number of entries you pass in fallbacks=[...]",
    # -- parameters
    "drop_params": "the per-call keyword drop_params=True",
    "modify_params": f"{_UNSUPPORTED}: routerlib never rewrites your messages; fix them, or drop_params=True "
                     "for parameters",
    "max_tokens": "the per-call keyword max_tokens=",
    "headers": "the per-call keyword headers={...} (alias extra_headers)",
    "model_list": "the per-call keyword model_list=[...]",
    "model_alias_map": f"{_UNSUPPORTED}: map names in your code, or pass model_list=[...]",
    "custom_prompt_dict": f"{_CLIENT}().register_prompt_template(model, ...), or the per-call template keywords",
    "add_function_to_prompt": f"{_UNSUPPORTED}: a provider without tools refuses tools=",
    "enable_json_schema_validation": f"{_UNSUPPORTED}: validate the answer yourself (e.g. pydantic)",
    "return_response_headers": f"{_UNSUPPORTED}",
    # -- endpoints and credentials (any other name ending in _key / _api_key is a key too)
    "api_key": "the per-call keyword api_key=, or the provider's environment variable (e.g. OPENAI_API_KEY)",
    "api_base": "the per-call keyword api_base= (alias base_url), or the provider's environment variable "
                "(e.g. OPENAI_BASE_URL)",
    "base_url": "the per-call keyword api_base= (alias base_url), or the provider's environment variable",
    "api_version": "the per-call keyword api_version=, or the provider's environment variable "
                   "(e.g. AZURE_API_VERSION)",
    "organization": "the per-call keyword headers={'OpenAI-Organization': ...}",
    "ssl_verify": _TRANSPORT,
    "client_session": _TRANSPORT,
    "aclient_session": _TRANSPORT,
    "force_ipv4": _TRANSPORT,
    # -- callbacks and logging
    "success_callback": _CALLBACKS,
    "failure_callback": _CALLBACKS,
    "callbacks": _CALLBACKS,
    "input_callback": _CALLBACKS,
    "service_callback": _CALLBACKS,
    "_async_success_callback": _CALLBACKS,
    "_async_failure_callback": _CALLBACKS,
    "set_verbose": _LOGGING,
    "verbose": _LOGGING,
    "suppress_debug_info": _LOGGING,
    "json_logs": _LOGGING,
    "log_raw_request_response": _LOGGING,
    "turn_off_message_logging": _LOGGING,
    "redact_messages_in_exceptions": "nothing: routerlib's errors never carry API keys, and carry no prompts",
    "telemetry": "nothing: routerlib sends no telemetry",
    # -- cost and budgets
    "model_cost": "routerlib.register_model({...}) (the default client), "
                  f"{_CLIENT}(model_map=...) or client.register_model(name, ...)",
    "max_budget": f"{_CLIENT}(budgets=[routerlib.Budget(limit, scope='global', window=...)])",
    "budget_duration": f"{_CLIENT}(budgets=[routerlib.Budget(limit, window='day'|'month'|...)])",
    "cache": f"{_CACHE}; per call: cache={{'no-cache': True, 'ttl': ...}}",
    "caching": _CACHE,
    # LiteLLM's cache objects and switches, read before any assignment (litellm.cache = litellm.Cache(...))
    "Cache": _CACHE,
    "enable_cache": _CACHE,
    "disable_cache": f"{_CLIENT}(...) without cache= (the default), or per call "
                     "cache={'no-cache': True, 'no-store': True}",
    "update_cache": _CACHE,
}


def is_litellm_setting(name: str) -> bool:
    """Whether ``name`` is a LiteLLM module setting (listed, or a provider key such as ``openai_key``)."""
    return name in LITELLM_SETTINGS or name.endswith(("_key", "_api_key"))


def where(name: str) -> str:
    """Where the LiteLLM setting ``name`` goes in routerlib."""
    if name in LITELLM_SETTINGS:
        return LITELLM_SETTINGS[name]
    return LITELLM_SETTINGS["api_key"]


def refusal(name: str) -> ModuleSettingError:
    """The error for ``routerlib.<name> = value``: says where the setting goes instead."""
    if is_litellm_setting(name):
        message = (f"routerlib.{name} = ... would be ignored: routerlib takes no settings from module "
                   f"attributes. Use {where(name)}. See docs/migrating-from-litellm.md")
    else:
        message = (f"routerlib.{name} = ...: routerlib's module attributes cannot be added or set "
                   f"(routerlib reads no module setting); configuration goes to {_CLIENT}(...) or a "
                   f"per-call keyword. See docs/migrating-from-litellm.md")
    return ModuleSettingError(message, name=name)
