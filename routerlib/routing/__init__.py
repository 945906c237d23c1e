"""Routing: model groups over deployments, load balancing, a circuit breaker per deployment,
and routing state shared through Redis. ``routerlib.Router`` is the entry point; see
docs/routing.md.

    router.py       the Router (a Client whose deployments are configuration)
    config.py       model_list (LiteLLM's format, or RouterDeployment) and options, checked up front
    plan.py         one call's plan: its group, then fallbacks (the core's deployment source)
    group.py        a group as one step of the plan: pre-call checks, pick, switch
    strategies.py   pure functions of a health snapshot
    breaker.py      closed / open / half-open per deployment
    health.py       the health store protocol; the in-memory store
    redis_state.py  the same state shared through Redis (atomic Lua)
    feed.py         the observer that feeds the store from attempt events
"""

from __future__ import annotations

from .breaker import BreakerConfig
from .config import RouterDeployment
from .health import DeploymentHealth, HealthStore, MemoryHealth
from .router import Router

__all__ = ["BreakerConfig", "DeploymentHealth", "HealthStore", "MemoryHealth", "RedisHealth", "Router",
           "RouterDeployment"]


def __getattr__(name: str) -> object:
    if name == "RedisHealth":  # redis is an optional dependency: imported only when asked for
        from .redis_state import RedisHealth

        return RedisHealth
    raise AttributeError(f"module 'routerlib.routing' has no attribute {name!r}")
