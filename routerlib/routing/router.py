"""``routerlib.Router``: a client whose deployments are configuration, routed by group.

    router = Router(model_list=[...], routing_strategy="least-busy", num_retries=2,
                    fallbacks=[{"chat": ["backup"]}], redis_url="redis://...")
    router.completion(model="chat", messages=...)      # routes inside the group "chat"
    router.completion(model="openai/gpt-4o", ...)      # names no group: called directly, as Client does

The Router is a ``Client`` (same calls, same retry owner, budgets, ledger, observers) whose
core asks a per-call ``RouterSource`` (``plan.py``) for its deployments, and whose health
store is fed by an observer it registers on itself (``feed.py``). Options keep LiteLLM's
names where LiteLLM has them; see docs/routing.md for the migration table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import os
import random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from .._checks import timeout_problem
from .._secrets import strip_userinfo
from ..client import DEFAULT_TIMEOUT, Client
from ..exceptions import InvalidRequestError, MissingAPIKeyError, RouterConfigError, RouterlibError
from ..planning import StaticSource
from ..policy import RetryPolicy
from ..providers.base import Prices
from .breaker import BreakerConfig
from .config import (
    MemberConfig,
    check_strategy,
    parse_aliases,
    parse_fallbacks,
    parse_model_list,
    shuffle_weights,
)
from .feed import HealthFeed
from .group import Group
from .health import DeploymentHealth, HealthStore, MemoryHealth
from .litellm_options import adopt_litellm_options
from .members import Member
from .plan import Names, RouterPlan, RouterSource, call_fallbacks
from .strategies import STRATEGIES

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .._core.source import DeploymentSource
    from ..cost.model_map import ModelMap
    from ..params import CompletionParams
    from ..providers.base import Deployment
    from ..request import Request
    from ..spend import Budget, Ledger
    from ..streaming import AsyncStream, Stream
    from ..transport import AsyncTransportProtocol, TransportProtocol
    from ..types import ModelResponse, TextCompletion

__all__ = [
    "Router",
]


class Router(Client):
    """Model groups over deployments, with a circuit breaker per deployment (see docs/routing.md).

    ``model_list``: LiteLLM's list of ``{"model_name", "litellm_params", "model_info"}`` dicts, or
    ``RouterDeployment`` values. ``routing_strategy``: "simple-shuffle" (default), "least-busy",
    "latency-based-routing", "cost-based-routing", "usage-based-routing". ``num_retries``,
    ``timeout``, ``fallbacks``, ``context_window_fallbacks``, ``content_policy_fallbacks``,
    ``allowed_fails``, ``cooldown_time``, ``model_group_alias`` and ``redis_url`` mean what they
    mean in LiteLLM; ``state`` is a health store object instead of ``redis_url``; ``breaker``
    sets every breaker knob (``allowed_fails`` and ``cooldown_time`` override its two);
    ``deadline`` is the default per-call deadline; ``seed`` fixes the strategies' randomness.
    The rest is ``Client``'s. LiteLLM's other Router options (``**litellm``) are taken with their
    routerlib meaning, as the no-op they are, or refused saying what to use instead
    (``litellm_options``): a ported constructor never meets a bare TypeError.
    """

    def __init__(
        self,
        model_list: Sequence[Any],
        *,
        routing_strategy: str = "simple-shuffle",
        num_retries: int | None = None,
        timeout: float | None = None,
        fallbacks: Any = None,
        context_window_fallbacks: Any = None,
        content_policy_fallbacks: Any = None,
        allowed_fails: int | None = None,
        cooldown_time: float | None = None,
        model_group_alias: Mapping[str, Any] | None = None,
        redis_url: str | None = None,
        state: HealthStore | None = None,
        breaker: BreakerConfig | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        policy: RetryPolicy | None = None,
        ledger: Ledger | None = None,
        budgets: Sequence[Budget] = (),
        callbacks: Sequence[Any] = (),
        observers: Sequence[Any] = (),
        cache: Any = None,
        limits: Any = None,
        model_map: ModelMap | str | os.PathLike[str] | None = None,
        transport: TransportProtocol | None = None,
        async_transport: AsyncTransportProtocol | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
        **litellm: Any,
    ) -> None:
        adopted = adopt_litellm_options(litellm, own=_own_options, redis_url=redis_url, fallbacks=fallbacks,
                                        cache=cache)
        redis_url, fallbacks, cache = adopted.redis_url or redis_url, adopted.fallbacks, adopted.cache
        strategy = check_strategy(routing_strategy)
        config = _breaker_config(breaker, allowed_fails, cooldown_time)
        store = _store(state, redis_url)
        policy = _policy(policy, num_retries, deadline)
        self._deadline = deadline
        if deadline is None:  # nothing to add per call: the Client's methods as they are, one frame less
            for name in ("completion", "acompletion", "text_completion", "atext_completion"):
                setattr(self, name, getattr(super(), name))
        super().__init__(timeout=DEFAULT_TIMEOUT if timeout is None else timeout, policy=policy,
                         model_map=model_map, ledger=ledger, budgets=budgets, callbacks=callbacks,
                         observers=[*observers, HealthFeed(store)], cache=cache, limits=limits,
                         transport=transport, async_transport=async_transport, environ=environ, clock=clock,
                         sleep=sleep, async_sleep=async_sleep, _source_factory=self._source)
        members = self._members(parse_model_list(model_list, os.environ if environ is None else environ,
                                                 max_parallel=adopted.max_parallel_requests))
        self._groups = _groups(members, strategy, self.timeout)
        self._aliases = parse_aliases(model_group_alias, list(self._groups))
        self._names = Names(tuple(self._groups), self._aliases, self._direct_problem)
        store.bind(members, config, clock)
        self._store = store
        self._direct_cache: dict[str, Deployment] = {}
        self._plan = self._router_plan(store, seed, fallbacks, context_window_fallbacks, content_policy_fallbacks)
        self.routing_strategy = strategy

    # -- construction
    def _router_plan(self, store: HealthStore, seed: int | None, fallbacks: Any, context_window: Any,
                     content_policy: Any) -> RouterPlan:
        names = self._names
        return RouterPlan(
            self._groups, store, random.Random(seed),
            fallbacks=parse_fallbacks("fallbacks", fallbacks, names),
            context_window=parse_fallbacks("context_window_fallbacks", context_window, names),
            content_policy=parse_fallbacks("content_policy_fallbacks", content_policy, names),
            direct=self._direct, names=names)

    def _members(self, configs: list[MemberConfig]) -> list[Member]:
        by_group: dict[str, list[MemberConfig]] = {}
        for c in configs:
            by_group.setdefault(c.group, []).append(c)
        members: list[Member] = []
        seen: dict[str, str] = {}
        for group, entries in by_group.items():
            weights = shuffle_weights([c.options for c in entries])
            if sum(weights) <= 0:
                raise RouterConfigError(f"group {group!r}: every deployment has weight 0, so none could be picked")
            for config, weight in zip(entries, weights, strict=True):
                deployment = self._resolve(config)
                if deployment.id in seen:
                    raise RouterConfigError(
                        f"{config.where}: deployment id {deployment.id!r} is already used by {seen[deployment.id]}; "
                        f"give each deployment its own model_info.id")
                seen[deployment.id] = config.where
                members.append(self._member(len(members), group, deployment, weight))
        return members

    def _resolve(self, config: MemberConfig) -> Deployment:
        if config.provider is not None and config.provider not in self._registry:
            close = difflib.get_close_matches(config.provider, list(self._registry), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RouterConfigError(f"{config.where}.litellm_params.custom_llm_provider={config.provider!r}{hint}: "
                                    f"not a provider routerlib knows ({', '.join(self._registry)})")
        try:
            deployment = self._planner.deployment(config.model, config.entry, id=config.id, options=config.options)
        except (InvalidRequestError, MissingAPIKeyError) as error:
            raise RouterConfigError(f"{config.where} ({config.group}): {error.message}") from None
        return self._as_base_model(config, deployment) if config.base_model is not None else deployment

    def _as_base_model(self, config: MemberConfig, deployment: Deployment) -> Deployment:
        """LiteLLM's model_info.base_model: a deployment whose own model the model map does not
        know (an Azure deployment name) is priced and sized as base_model's row, as in LiteLLM.
        Known models and deployments priced in litellm_params keep their own (base_model is then
        informational). The row's per-token prices become the deployment's prices, which price
        cached input at the full rate (see docs/routing.md)."""
        options = deployment.options
        given = options.prices.given() if options.prices is not None else {}
        if self._planner.info(deployment) is not None or {"input_cost_per_token", "output_cost_per_token"} <= set(
                given):
            return deployment
        model_map = self._planner.model_map
        row = model_map.get(config.base_model) if model_map is not None and config.base_model else None
        if row is None:
            raise RouterConfigError(f"{config.where}.model_info.base_model={config.base_model!r}: not in the model "
                                    f"map, so it cannot price {deployment.label}: name a model the map knows "
                                    f"(routerlib models <name>), or give input_cost_per_token and "
                                    f"output_cost_per_token in litellm_params")
        prices = {k: v for k, v in (("input_cost_per_token", row.input_cost_per_token),
                                    ("output_cost_per_token", row.output_cost_per_token)) if v is not None}
        prices.update(given)
        return dataclasses.replace(deployment, options=dataclasses.replace(
            options, prices=Prices(**prices) if prices else None,
            max_input_tokens=options.max_input_tokens or row.max_input_tokens,
            max_output_tokens=options.max_output_tokens or row.max_output_tokens))

    def _member(self, index: int, group: str, deployment: Deployment, weight: float) -> Member:
        options = deployment.options
        info = self._planner.info(deployment)
        prices = options.prices
        in_price = prices.input_cost_per_token if prices is not None else None
        out_price = prices.output_cost_per_token if prices is not None else None
        source = "deployment" if in_price is not None and out_price is not None else "unknown"
        if source == "unknown" and info is not None:
            in_price = in_price if in_price is not None else info.input_cost_per_token
            out_price = out_price if out_price is not None else info.output_cost_per_token
            source = "model_map" if in_price is not None and out_price is not None else "unknown"
        return Member(
            index=index, group=group, deployment=deployment, weight=weight, rpm=options.rpm, tpm=options.tpm,
            max_parallel=options.max_parallel_requests, tags=frozenset(options.tags), quality=options.quality,
            max_input=options.max_input_tokens or (info.max_input_tokens if info is not None else None),
            max_output=options.max_output_tokens or (info.max_output_tokens if info is not None else None),
            input_price=float(in_price) if in_price is not None else None,
            output_price=float(out_price) if out_price is not None else None, price_source=source)

    def _direct_problem(self, name: str) -> str | None:
        """Why a fallback name that is not a group cannot be called directly (None: it can)."""
        try:
            self._planner.split(name, has_api_base=False)
        except RouterlibError as error:
            return str(getattr(error, "message", error))
        return None

    def _direct(self, name: str, entry: Mapping[str, Any] | None) -> Deployment:
        """A fallback that names a model: its own entry, key from the entry or the environment."""
        if entry is None:
            found = self._direct_cache.get(name)
            if found is None:
                found = self._direct_cache[name] = self._planner.deployment(name)
            return found
        fields = {k: v for k, v in entry.items() if k != "model"}
        return self._planner.deployment(name, fields)

    # -- calls
    def _source(self, request: Request) -> DeploymentSource:
        """The call's plan, its fallbacks checked before anything is sent (the README's promise)."""
        group = self._groups.get(self._aliases.get(request.model, request.model))
        if group is None:
            if not request.model_list and not request.api_base:
                self._check_direct(request.model)
            return StaticSource(request, self._planner)
        if request.model_list:
            raise InvalidRequestError(f"model_list=...: {request.model!r} is a group of this Router, whose "
                                      f"deployments are its configuration; call it without model_list",
                                      model=request.model, code="invalid_request")
        if request.fallbacks is None and not request.context_window_fallback_dict:
            return RouterSource(self._plan, request, group)
        fallbacks, context = call_fallbacks(request, group.name, self._names, self._direct_problem_entry)
        return RouterSource(self._plan, request, group, fallbacks=fallbacks, context_window=context)

    def _check_direct(self, model: str) -> None:
        """A model that names no group is called directly; one that cannot be is most likely a
        misspelt group: say which groups there are rather than only the provider-parsing error."""
        why = self._direct_problem(model)
        if why is not None:
            raise InvalidRequestError(self._names.unknown(model, why), model=model, code="unknown_model")

    def _direct_problem_entry(self, name: str, entry: Mapping[str, Any]) -> str | None:
        """Why a per-call fallback dict ({"model": ..., "api_base": ...}) cannot be called directly."""
        try:
            self._planner.split(name, has_api_base=bool(entry.get("api_base") or entry.get("base_url")))
        except RouterlibError as error:
            return str(getattr(error, "message", error))
        return None

    def completion(self, model: str, messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
                   **params: Unpack[CompletionParams]) -> ModelResponse | Stream:
        if self._deadline is not None and "deadline" not in params:
            params["deadline"] = self._deadline
        return super().completion(model, messages, **params)

    async def acompletion(self, model: str, messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
                          **params: Unpack[CompletionParams]) -> ModelResponse | AsyncStream:
        if self._deadline is not None and "deadline" not in params:
            params["deadline"] = self._deadline
        return await super().acompletion(model, messages, **params)

    def text_completion(self, model: str, prompt: str | Sequence[str],
                        **params: Unpack[CompletionParams]) -> TextCompletion | Stream:
        if self._deadline is not None and "deadline" not in params:
            params["deadline"] = self._deadline
        return super().text_completion(model, prompt, **params)

    async def atext_completion(self, model: str, prompt: str | Sequence[str],
                               **params: Unpack[CompletionParams]) -> TextCompletion | AsyncStream:
        if self._deadline is not None and "deadline" not in params:
            params["deadline"] = self._deadline
        return await super().atext_completion(model, prompt, **params)

    # -- inspection
    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Each group's deployment ids, in model_list order."""
        return {name: tuple(m.id for m in group.members) for name, group in self._groups.items()}

    def health(self) -> dict[str, DeploymentHealth]:
        """Per deployment id: breaker state, failure rate, in flight, latency, rpm/tpm used, open until."""
        return self._store.health()

    async def ahealth(self) -> dict[str, DeploymentHealth]:
        """``health`` for async code: with Redis state, read without blocking the event loop."""
        return await self._store.ahealth()


def _own_options() -> list[str]:
    """The Router's own keyword names, for suggestions when an unknown one is given."""
    import inspect

    return [n for n, p in inspect.signature(Router.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]


def _groups(members: list[Member], strategy: str, timeout: float) -> dict[str, Group]:
    by_group: dict[str, list[Member]] = {}
    for member in members:
        by_group.setdefault(member.group, []).append(member)
    return {name: Group(name, group, strategy, STRATEGIES[strategy], timeout) for name, group in by_group.items()}


def _breaker_config(breaker: BreakerConfig | None, allowed_fails: int | None,
                    cooldown_time: float | None) -> BreakerConfig:
    config = breaker or BreakerConfig()
    if not isinstance(config, BreakerConfig):
        raise RouterConfigError(f"breaker={breaker!r}: must be a routerlib.routing.BreakerConfig")
    changes: dict[str, Any] = {}
    if allowed_fails is not None:
        changes["allowed_fails"] = allowed_fails
    if cooldown_time is not None:
        if (problem := timeout_problem(cooldown_time)) is not None:
            raise RouterConfigError(f"cooldown_time={cooldown_time!r}: {problem}")
        changes["cooldown_time"] = cooldown_time
        if cooldown_time > config.max_cooldown and isinstance(cooldown_time, int | float):
            changes["max_cooldown"] = cooldown_time
    return dataclasses.replace(config, **changes) if changes else config


def _policy(policy: RetryPolicy | None, num_retries: int | None, deadline: float | None) -> RetryPolicy | None:
    """The client's policy with LiteLLM's ``num_retries`` folded in; the deadline checked."""
    if deadline is not None and (problem := timeout_problem(deadline)) is not None:
        raise RouterConfigError(f"deadline={deadline!r}: {problem}")
    if num_retries is None:
        return policy
    if isinstance(num_retries, bool) or not isinstance(num_retries, int) or num_retries < 0:
        raise RouterConfigError(f"num_retries={num_retries!r}: must be a whole number >= 0")
    return (policy or RetryPolicy()).replace(num_retries=num_retries)


def _store(state: HealthStore | None, redis_url: str | None) -> HealthStore:
    if state is not None and redis_url is not None:
        raise RouterConfigError("pass redis_url= or state=, not both")
    if redis_url is not None and (not isinstance(redis_url, str)
                                  or not redis_url.startswith(("redis://", "rediss://", "unix://"))):
        shown = strip_userinfo(redis_url) if isinstance(redis_url, str) else repr(redis_url)
        raise RouterConfigError(f"redis_url={shown}: must be a redis://, rediss:// or unix:// URL")
    if state is not None:
        if not callable(getattr(state, "choose", None)) or not callable(getattr(state, "bind", None)):
            raise RouterConfigError(f"state={state!r}: must be a routing state (MemoryHealth, RedisHealth)")
        return state
    if redis_url is not None:
        from .redis_state import RedisHealth

        return RedisHealth(redis_url)
    return MemoryHealth()
