"""The runtime: everything a call needs from its client, frozen into one value.

A ``Client`` builds one ``Runtime`` from its configuration and hands it to every call; the
core (``call``, ``shells``, ``budget``, ``accounting``) talks only to it and never imports
the client. A router is a client whose runtime has another ``source_factory``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._embedding import Request
    from ..cache.base import CacheBackend
    from ..observe import Observers
    from ..planning import Planner
    from ..policy import RetryPolicy
    from ..transport import AsyncTransportProtocol, TransportProtocol
    from .accounting import Accounting
    from .budget import BudgetHooks
    from .source import DeploymentSource


@dataclass(frozen=True, slots=True)
class Runtime:
    planner: Planner
    accounting: Accounting
    #: The ledger and budgets, or None when the client keeps no spend records.
    budget: BudgetHooks | None
    observers: Observers
    policy: RetryPolicy
    #: Seconds per attempt unless the call or the deployment says otherwise.
    timeout: float
    transport: TransportProtocol
    async_transport: AsyncTransportProtocol
    #: Makes each call's plan (``StaticSource`` for a plain client; a router's own).
    source_factory: Callable[[Request], DeploymentSource]
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    async_sleep: Callable[[float], Coroutine[Any, Any, None]]
    #: The response cache (``routerlib.cache``), or None. Used through ``_core.caching``.
    cache: CacheBackend | None = None
    #: Whether any observer listens (derived): a call without observers builds no event.
    watched: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "watched", bool(self.observers))
