"""routing.litellm_options: every LiteLLM Router(...) option taken with its meaning, as a no-op, or refused
saying what to use instead."""

from __future__ import annotations

from typing import Any

import pytest

from routerlib.exceptions import RouterConfigError
from routerlib.routing.litellm_options import LITELLM_ROUTER_OPTIONS, LiteLLMOptions, adopt_litellm_options


def adopt(redis_url: str | None = None, fallbacks: Any = None, cache: Any = None, **given: Any) -> LiteLLMOptions:
    return adopt_litellm_options(given, own=lambda: ["routing_strategy", "model_group_alias"],
                                 redis_url=redis_url, fallbacks=fallbacks, cache=cache)


def test_litellm_router_options_with_a_routerlib_meaning() -> None:
    assert adopt(redis_host="cache.local", redis_port=6380, redis_password="p@ss/word").redis_url == (
        "redis://:p%40ss%2Fword@cache.local:6380/0")
    assert adopt(redis_host="h", redis_db=2).redis_url == "redis://h:6379/2"
    assert adopt(fallbacks=[{"chat": ["b"]}], default_fallbacks=["backup"]).fallbacks == [
        {"chat": ["b"]}, {"*": ["backup"]}]
    assert adopt(default_max_parallel_requests=4).max_parallel_requests == 4
    from routerlib.cache import MemoryCache

    assert isinstance(adopt(cache_responses=True).cache, MemoryCache)
    assert adopt(cache_responses=False).cache is None


@pytest.mark.parametrize("given", [
    {"enable_pre_call_checks": True}, {"enable_tag_filtering": True}, {"set_verbose": False},
    {"debug_level": "DEBUG"}, {"client_ttl": 60}, {"retry_policy": None}, {"model_group_retry_policy": {}},
    {"stream_timeout": None}, {"routing_strategy_args": {}}, {"retry_after": 0}, {"disable_cooldowns": False},
    {"fallback_on_unsupported_params": True}, {"plugins": []}, {"default_litellm_params": {}},
])
def test_litellm_router_options_that_are_no_ops(given: dict[str, Any]) -> None:
    assert adopt(**given) == LiteLLMOptions()


@pytest.mark.parametrize(("given", "message"), [
    ({"enable_pre_call_checks": False}, "always checks the context window.*cannot be turned off"),
    ({"stream_timeout": 5}, r"use timeout= \(seconds per attempt\) and deadline="),
    ({"set_verbose": True}, r"logging.getLogger\('routerlib'\)"),
    ({"retry_policy": {"RateLimitErrorRetries": 3}}, r"policy=RetryPolicy\("),
    ({"default_litellm_params": {"temperature": 0}}, "pass them with each call"),
    ({"cache_kwargs": {"ttl": 5}}, r"cache=RedisCache\(url, ttl=...\)"),
    ({"enable_tag_filtering": False}, "always filters by tags"),
    ({"disable_cooldowns": True}, "breaker=BreakerConfig"),
    ({"provider_budget_config": {"openai": {}}}, r"budgets=\[Budget"),
    ({"redis_host": "h", "redis_port": "x"}, "redis_port='x': must be a port number"),
    ({"redis_port": 6379}, "redis_host=None: required"),
    ({"cache_responses": "yes"}, "must be True or False"),
    ({"routing_stratgy": "least-busy"}, r"Router\(routing_stratgy=...\): unknown option; did you mean "
                                        r"'routing_strategy'"),
    ({"num_retires": 2}, "unknown option"),
])
def test_litellm_router_options_refused_with_what_to_do(given: dict[str, Any], message: str) -> None:
    with pytest.raises(RouterConfigError, match=message):
        adopt(**given)


def test_litellm_redis_and_fallback_options_are_not_given_twice() -> None:
    with pytest.raises(RouterConfigError, match="not both"):
        adopt(redis_url="redis://x", redis_host="y")
    with pytest.raises(RouterConfigError, match="fallbacks for '\\*', which fallbacks= gives too"):
        adopt(fallbacks=[{"*": ["b"]}], default_fallbacks=["c"])
    with pytest.raises(RouterConfigError, match="pass cache= or cache_responses=True, not both"):
        adopt(cache=object(), cache_responses=True)


def test_every_litellm_router_option_is_in_the_table() -> None:
    """LiteLLM 1.110's Router(...) keywords: each is routerlib's own or has an entry."""
    litellm = """model_list assistants_config search_tools guardrail_list redis_url redis_host redis_port
    redis_password redis_db cache_responses cache_kwargs caching_groups client_ttl polling_interval
    default_priority num_retries max_fallbacks timeout stream_timeout default_litellm_params
    default_max_parallel_requests set_verbose debug_level default_fallbacks fallbacks context_window_fallbacks
    content_policy_fallbacks model_group_alias enable_pre_call_checks enable_tag_filtering tag_filtering_match_any
    tag_routing_prefix plugins retry_after retry_policy model_group_retry_policy allowed_fails allowed_fails_policy
    cooldown_time disable_cooldowns fallback_on_unsupported_params routing_strategy optional_pre_call_checks
    routing_strategy_args routing_groups provider_budget_config alerting_config router_general_settings
    deployment_affinity_ttl_seconds model_group_affinity_config ignore_invalid_deployments
    enable_health_check_routing health_check_staleness_threshold health_check_ignore_transient_errors
    background_health_check_model_groups enable_weighted_failover enable_mid_stream_fallback_continuation
    fallback_access_check fallback_budget_check auto_router_capability_limit session_affinity_repin_on_failover"""
    import inspect

    from routerlib import Router

    own = set(inspect.signature(Router.__init__).parameters)
    assert set(litellm.split()) - own - set(LITELLM_ROUTER_OPTIONS) == set()
    assert not own & set(LITELLM_ROUTER_OPTIONS)
