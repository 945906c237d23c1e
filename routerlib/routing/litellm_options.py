"""LiteLLM's ``Router(...)`` options that routerlib's Router does not take under its own name.

A ported constructor never meets a bare TypeError: each option is taken with its routerlib
meaning (``redis_host``/``redis_port``/``redis_password``/``redis_db`` become ``redis_url``,
``default_fallbacks`` the fallbacks for ``"*"``, ``default_max_parallel_requests`` each
deployment's limit, ``cache_responses`` a cache), taken as the no-op it is (a check that is
always on, a default value), or refused with a ``RouterConfigError`` saying what to use
instead. An unknown name is refused with the closest names, routerlib's and LiteLLM's.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import RouterConfigError
from .config import fallback_items, whole

__all__ = ["LITELLM_ROUTER_OPTIONS", "LiteLLMOptions", "adopt_litellm_options"]

#: Any value of the option is a no-op.
ANY = ("<any value>",)
_SAME_AS_HEALTH = ("routerlib's circuit breaker learns each deployment's health from real calls; background "
                   "health checks are not supported: remove it")
_NO_AFFINITY = "session/deployment affinity is not supported: remove it"

#: Every ``Router(...)`` option of LiteLLM (1.110) that routerlib's Router does not take under
#: its own name: (the values that need nothing, what to do instead for any other value).
#: ``redis_host``/``redis_port``/``redis_password``/``redis_db``, ``default_fallbacks``,
#: ``default_max_parallel_requests`` and ``cache_responses`` are taken with their routerlib
#: meaning by ``adopt_litellm_options``; their entries say what a value it cannot take means.
LITELLM_ROUTER_OPTIONS: dict[str, tuple[tuple[Any, ...], str]] = {
    "redis_host": (ANY, "becomes redis_url"),
    "redis_port": (ANY, "becomes redis_url"),
    "redis_password": (ANY, "becomes redis_url"),
    "redis_db": (ANY, "becomes redis_url"),
    "default_fallbacks": (ANY, "becomes fallbacks for '*'"),
    "default_max_parallel_requests": (ANY, "becomes each deployment's max_parallel_requests"),
    "cache_responses": (ANY, "becomes cache=MemoryCache() (RedisCache with redis_url)"),
    "enable_pre_call_checks": ((True, None), "routerlib always checks the context window, tags, rpm/tpm and "
                               "max_parallel_requests before sending; this cannot be turned off: remove it"),
    "enable_tag_filtering": ((True, None), "routerlib always filters by tags (a call's metadata tags pick the "
                             "deployments carrying one of them); this cannot be turned off: remove it, and do not "
                             "tag deployments you do not want filtered"),
    "tag_filtering_match_any": ((True, None), "routerlib matches any of a call's tags; matching all of them is "
                                "not supported"),
    "stream_timeout": ((None,), "routerlib has one per-attempt timeout for streams and other calls: use "
                       "timeout= (seconds per attempt) and deadline= (the whole call, fallbacks included)"),
    "set_verbose": ((False, None), "use Python logging: logging.basicConfig() and "
                    "logging.getLogger('routerlib').setLevel(logging.DEBUG)"),
    "debug_level": (("INFO", "DEBUG", None), "use Python logging: logging.getLogger('routerlib').setLevel(...)"),
    "retry_policy": ((None,), "per-error retry counts are not supported: policy=RetryPolicy(num_retries=..., "
                     "retry_on=(routerlib.RateLimitError, ...), fallback_on=(...)) says which errors retry and "
                     "which fall back"),
    "model_group_retry_policy": ((None,), "pass policy=RetryPolicy(...) with the calls to that group"),
    "retry_after": ((0, None), "routerlib waits what the server's Retry-After says, else exponential backoff: "
                    "policy=RetryPolicy(initial_backoff=..., max_backoff=...)"),
    "allowed_fails_policy": ((None,), "one breaker for every error kind (client errors never count): "
                             "breaker=BreakerConfig(allowed_fails=..., failure_rate=...)"),
    "disable_cooldowns": ((False, None), "the circuit breaker cannot be turned off; make it lenient with "
                          "breaker=BreakerConfig(allowed_fails=..., failure_rate=..., cooldown_time=...)"),
    "fallback_on_unsupported_params": ((True, None), "an UnsupportedParamsError always falls back; to stop it, "
                                       "policy=RetryPolicy(fallback_on=...) without UnsupportedParamsError"),
    "max_fallbacks": ((None,), "routerlib tries each listed fallback once: list only those you want tried"),
    "default_litellm_params": ((None,), "routerlib keeps no default call parameters: pass them with each call"),
    "cache_kwargs": ((None,), "configure the cache you pass: cache=RedisCache(url, ttl=...) (docs/cache.md)"),
    "caching_groups": ((None,), "a cached answer belongs to the group that gave it (any of its deployments "
                       "answers the group); sharing cached answers across groups is not supported"),
    "client_ttl": (ANY, ""),  # routerlib's transports keep their connections: no SDK client to re-create
    "polling_interval": ((None,), "routerlib has no request queue (calls are sent at once): remove it, and bound "
                         "concurrency with max_parallel_requests"),
    "default_priority": ((None,), "routerlib has no request queue or priorities: remove it"),
    "routing_strategy_args": ((None,), "routerlib's strategies take no arguments (docs/routing.md)"),
    "optional_pre_call_checks": ((None,), "not supported: routerlib's pre-call checks are the context window, "
                                 "tags, rpm/tpm and max_parallel_requests, always"),
    "routing_groups": ((None,), "not supported: give each set of deployments its own group (model_name)"),
    "provider_budget_config": ((None,), "pass budgets=[Budget(...)] (routerlib.spend) and a ledger"),
    "alerting_config": ((None,), "not supported: observers=[...] or callbacks=[...] see every failure"),
    "router_general_settings": ((None,), "not supported: remove it"),
    "assistants_config": ((None,), "the Assistants API is not supported: routerlib routes chat and text "
                          "completions and embeddings"),
    "search_tools": ((None,), "search tools are not supported"),
    "guardrail_list": ((None,), "guardrails are not supported: check inputs and answers in your code or in "
                       "a callback"),
    "plugins": ((None,), "plugins are not supported: use callbacks=[...] or observers=[...]"),
    "tag_routing_prefix": (("", None), "not supported: give the tags themselves"),
    "ignore_invalid_deployments": ((False, None), "routerlib refuses an invalid deployment at construction, "
                                   "saying why: fix or remove it"),
    "enable_health_check_routing": ((False, None), _SAME_AS_HEALTH),
    "health_check_staleness_threshold": ((None,), _SAME_AS_HEALTH),
    "health_check_ignore_transient_errors": ((False, None), _SAME_AS_HEALTH),
    "background_health_check_model_groups": ((None,), _SAME_AS_HEALTH),
    "enable_weighted_failover": ((False, None), "not supported: fallbacks=[...] gives the order"),
    "enable_mid_stream_fallback_continuation": ((False, None), "a stream falls back only before its first "
                                                "content chunk; after it, StreamInterruptedError"),
    "fallback_access_check": ((None,), "not supported (a LiteLLM proxy feature): remove it"),
    "fallback_budget_check": ((None,), "not supported (a LiteLLM proxy feature): use budgets=[Budget(...)]"),
    "auto_router_capability_limit": ((None,), "auto routers are not supported: remove it"),
    "deployment_affinity_ttl_seconds": (ANY, ""),  # only read with model_group_affinity_config, refused
    "model_group_affinity_config": ((None,), _NO_AFFINITY),
    "session_affinity_repin_on_failover": ((False, None), _NO_AFFINITY),
}

#: Values LiteLLM gives as "empty" defaults, which ask for nothing either.
_EMPTY: tuple[Any, ...] = ((), [], {})


@dataclass(frozen=True)
class LiteLLMOptions:
    """What LiteLLM options given to a Router become (each None: nothing given)."""

    redis_url: str | None = None
    fallbacks: Any = None
    max_parallel_requests: int | None = None
    cache: Any = None


def adopt_litellm_options(given: Mapping[str, Any], *, own: Callable[[], Sequence[str]], redis_url: str | None,
                          fallbacks: Any, cache: Any) -> LiteLLMOptions:
    """LiteLLM's ``Router(...)`` keywords that routerlib's Router does not name (``own``): each
    taken with its routerlib meaning, taken as a no-op, or refused with what to do instead; an
    unknown name is refused with the closest names, rather than Python's bare TypeError."""
    for name, value in given.items():
        if name not in LITELLM_ROUTER_OPTIONS:
            close = difflib.get_close_matches(name, [*own(), *LITELLM_ROUTER_OPTIONS], n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise RouterConfigError(f"Router({name}=...): unknown option; {hint}see docs/routing.md for every "
                                    f"option and LiteLLM's")
        keeps, hint = LITELLM_ROUTER_OPTIONS[name]
        if keeps is not ANY and value not in keeps and not (isinstance(value, list | tuple | dict) and not value):
            raise RouterConfigError(f"Router({name}={value!r}): {hint}")
    url = _redis_url(given, redis_url)
    return LiteLLMOptions(
        redis_url=url,
        fallbacks=_with_defaults(fallbacks, given.get("default_fallbacks")),
        max_parallel_requests=whole(given.get("default_max_parallel_requests"), "default_max_parallel_requests"),
        cache=_cache(given.get("cache_responses"), cache, url or redis_url))


def _redis_url(given: Mapping[str, Any], redis_url: str | None) -> str | None:
    """LiteLLM's redis_host/redis_port/redis_password/redis_db as routerlib's one redis_url."""
    from urllib.parse import quote

    parts = {k: given.get(k) for k in ("redis_host", "redis_port", "redis_password", "redis_db")}
    if all(v is None for v in parts.values()):
        return None
    host, port, password, db = parts.values()
    if redis_url is not None:
        raise RouterConfigError("pass redis_url= or redis_host=/redis_port=/redis_password=, not both")
    if not isinstance(host, str) or not host or any(c in host for c in "/@ "):
        raise RouterConfigError(f"redis_host={host!r}: required with redis_port/redis_password/redis_db, a host "
                                f"name (or pass redis_url='redis://...')")
    port = 6379 if port is None else port
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise RouterConfigError(f"redis_port={port!r}: must be a port number")
    if db is not None and (isinstance(db, bool) or not isinstance(db, int) or db < 0):
        raise RouterConfigError(f"redis_db={db!r}: must be a database number >= 0")
    auth = f":{quote(str(password), safe='')}@" if password else ""
    host = f"[{host}]" if ":" in host else host
    return f"redis://{auth}{host}:{port}/{db or 0}"


def _with_defaults(fallbacks: Any, defaults: Any) -> Any:
    """LiteLLM's ``default_fallbacks=["backup"]`` is routerlib's fallbacks for "*" (every group)."""
    if defaults is None or (isinstance(defaults, list | tuple) and not defaults):
        return fallbacks
    if isinstance(defaults, str):
        defaults = [defaults]
    items = fallback_items("fallbacks", fallbacks) if fallbacks is not None else []
    if any(key == "*" for key, _ in items):
        raise RouterConfigError("default_fallbacks is fallbacks for '*', which fallbacks= gives too: give it once")
    return [*({k: v} for k, v in items), {"*": defaults}]


def _cache(responses: Any, cache: Any, redis_url: str | None) -> Any:
    """LiteLLM's ``cache_responses=True``: an in-process cache, or Redis when the Router has one."""
    if not responses:
        return cache
    if responses is not True:
        raise RouterConfigError(f"Router(cache_responses={responses!r}): must be True or False")
    if cache is not None:
        raise RouterConfigError("pass cache= or cache_responses=True, not both")
    from ..cache import MemoryCache, RedisCache

    return RedisCache(redis_url) if redis_url is not None else MemoryCache()
