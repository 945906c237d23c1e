"""``routerlib.Client``: what is not per call, and the sync and async shells of a call.

A client holds the HTTP pools (one for sync calls, one per event loop for async calls),
the default timeout and retry policy, the provider registry, the model/price map, the
spend ledger and budgets, the observers and the response cache. From them it builds one immutable
``Runtime`` that every call runs on (``routerlib._core``): nothing below the client
imports it. Nothing here reads or writes module-level settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from typing_extensions import Unpack

from ._core.accounting import Accounting
from ._core.runtime import Runtime
from ._core.shells import run_async, run_sync
from ._embedding import build_embedding_request
from ._request import build_request
from .callbacks import Callbacks, CallbacksObserver
from .exceptions import ConfigurationError
from .observe import Observers
from .params import CompletionParams, EmbeddingParams
from .planning import Planner, StaticSource
from .policy import RetryPolicy
from .providers.base import ProviderSpec
from .providers.registry import ProviderRegistry, spec_from_row
from .streaming import AsyncStream, Stream
from .transport import AsyncTransport, Limits, SyncTransport
from .types import EmbeddingResponse, ModelResponse, TextCompletion

if TYPE_CHECKING:
    from ._core.source import DeploymentSource
    from ._embedding import Request
    from .cache import CacheBackend
    from .cost.model_map import ModelInfo, ModelMap
    from .prompts import PromptTemplate
    from .spend import Budget, Ledger
    from .transport import AsyncTransportProtocol, TransportProtocol

__all__ = [
    "Client",
]

DEFAULT_TIMEOUT = 600.0


class Client:
    """Holds configuration, pools and spend tracking; makes calls.

    Every argument is a value fixed at construction; per-call parameters override the
    defaults for that call only.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        model_map: ModelMap | str | PathLike[str] | None = None,
        ledger: Ledger | None = None,
        budgets: Sequence[Budget] = (),
        callbacks: Sequence[Any] = (),
        observers: Sequence[Any] = (),
        cache: CacheBackend | None = None,
        limits: Limits | None = None,
        transport: TransportProtocol | None = None,
        async_transport: AsyncTransportProtocol | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
        _source_factory: Callable[[Request], DeploymentSource] | None = None,
    ) -> None:
        _check_config(timeout=timeout, policy=policy, ledger=ledger, budgets=budgets, observers=observers,
                      environ=environ)
        _check_cache(cache)
        if limits is not None and not isinstance(limits, Limits):
            raise ConfigurationError(f"limits={limits!r}: must be a routerlib.Limits, e.g. "
                                     f"Limits(max_response_bytes=8 << 20)")
        self.timeout = float(timeout)
        self.policy = policy if policy is not None else RetryPolicy()
        self._transport = _mounted(transport if transport is not None else SyncTransport(limits=limits))
        self._async_transport = _amounted(async_transport if async_transport is not None
                                          else AsyncTransport(limits=limits))
        self._model_map_arg = model_map
        self._model_map: ModelMap | None = None
        self._registry = ProviderRegistry.with_builtins()
        self._templates: dict[str, PromptTemplate] = {}
        self._planner = Planner(self._registry, _LazyModelMap(self), environ, self._templates)
        all_observers = list(observers)
        if callbacks:
            all_observers.append(CallbacksObserver(Callbacks(callbacks)))
        accounting = Accounting(self._planner)
        self._runtime = Runtime(
            planner=self._planner, accounting=accounting,
            budget=_budget_hooks(ledger, budgets, accounting), observers=Observers(all_observers), policy=self.policy,
            timeout=self.timeout, transport=self._transport, async_transport=self._async_transport,
            source_factory=_source_factory or self._static_source, clock=clock, sleep=sleep,
            async_sleep=async_sleep, cache=cache)

    def _static_source(self, request: Request) -> DeploymentSource:
        return StaticSource(request, self._planner)

    # -- configuration
    @property
    def model_map(self) -> ModelMap:
        """This client's model and price map (the packaged one unless given; loaded on first use)."""
        if self._model_map is None:
            from .cost.model_map import ModelMap

            arg = self._model_map_arg
            if arg is None:
                self._model_map = ModelMap.default()
            elif isinstance(arg, ModelMap):
                self._model_map = arg
            else:
                self._model_map = ModelMap.default().merged(ModelMap.from_file(arg))
        return self._model_map

    def register_model(self, name: str, **fields: Any) -> None:
        """Add or override a model's prices and limits on this client only."""
        self._model_map = self.model_map.register(name, **fields)

    def register_prompt_template(self, model: str, template: PromptTemplate | None = None,
                                 **params: Any) -> PromptTemplate:
        """Render ``model``'s chat messages with this template on raw-prompt providers (this client only).

        ``model`` is "provider/model" or a bare model name; give a ``PromptTemplate`` or its
        LiteLLM-style parts (initial_prompt_value, roles, final_prompt_value, bos_token, eos_token).
        Per-call template parameters still win over a registered template.
        """
        from .prompts import PromptTemplate

        if template is None:
            template = PromptTemplate.from_params(**params)
        elif params:
            raise TypeError("pass either a PromptTemplate or its parts, not both")
        self._templates[model] = template
        return template

    def register_provider(self, spec: ProviderSpec | None = None, /, **row: Any) -> ProviderSpec:
        """Add a provider on this client: a ``ProviderSpec``, or an OpenAI-compatible row, e.g.
        ``register_provider(name="acme", api_base="https://llm.acme.dev/v1", api_key_env=["ACME_KEY"])``.
        """
        if spec is None:
            spec = spec_from_row(row)
        elif row:
            raise TypeError("pass either a ProviderSpec or row fields, not both")
        return self._registry.register(spec)

    @property
    def providers(self) -> ProviderRegistry:
        return self._registry

    @property
    def cache(self) -> CacheBackend | None:
        """The response cache this client reads and writes (None: none), e.g. to ``clear()`` it; a
        Router built with ``cache_responses=True`` made its own, and this is it."""
        return self._runtime.cache

    # -- public calls
    def completion(self, model: str, messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
                   **params: Unpack[CompletionParams]) -> ModelResponse | Stream:
        """A chat completion (or a ``Stream`` of chunks with stream=True). See ``routerlib.completion``."""
        request = build_request({"model": model, "messages": messages or (), **params})
        return run_sync(self._runtime, request)  # type: ignore[return-value]

    async def acompletion(self, model: str, messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
                          **params: Unpack[CompletionParams]) -> ModelResponse | AsyncStream:
        request = build_request({"model": model, "messages": messages or (), **params})
        return await run_async(self._runtime, request)  # type: ignore[return-value]

    def text_completion(self, model: str, prompt: str | Sequence[str],
                        **params: Unpack[CompletionParams]) -> TextCompletion | Stream:
        """A legacy /completions call: a raw prompt in, ``text_completion`` objects out."""
        request = build_request({"model": model, "prompt": _prompt(prompt), **params})
        return run_sync(self._runtime, request)  # type: ignore[return-value]

    async def atext_completion(self, model: str, prompt: str | Sequence[str],
                               **params: Unpack[CompletionParams]) -> TextCompletion | AsyncStream:
        request = build_request({"model": model, "prompt": _prompt(prompt), **params})
        return await run_async(self._runtime, request)  # type: ignore[return-value]

    def embedding(self, model: str, input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
                  **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
        """Embeddings of ``input`` (one string, or a list: one embedding per item, in order).
        See ``routerlib.embedding``."""
        request = build_embedding_request({"model": model, "input": input, **params})
        return run_sync(self._runtime, request)  # type: ignore[return-value]

    async def aembedding(self, model: str, input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
                         **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
        request = build_embedding_request({"model": model, "input": input, **params})
        return await run_async(self._runtime, request)  # type: ignore[return-value]

    def close(self) -> None:
        """Close the idle connections of the sync pool (async pools close with ``aclose`` or with
        their event loop). The client stays usable: a later call opens new connections."""
        self._transport.close()

    async def aclose(self) -> None:
        await self._async_transport.aclose()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

class _LazyModelMap:
    """Defers loading the model map until a call needs it (not at Client())."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, model: str, provider: str | None = None) -> ModelInfo | None:
        return self._client.model_map.get(model, provider)

    def provider_of(self, model: str) -> str | None:
        return self._client.model_map.provider_of(model)


def _prompt(prompt: Any) -> Any:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt):
        return tuple(prompt)
    return prompt  # validation reports the bad value


def _mounted(transport: TransportProtocol) -> TransportProtocol:
    """The client's transport with the in-process schemes mounted (mock_response, the LiteLLM bridge)."""
    from .providers.litellm_bridge import LiteLLMTransport
    from .transport._mock import MockAnswerTransport
    from .transport._mounts import MountedTransport

    return MountedTransport(transport, {"mock": MockAnswerTransport(), "litellm": LiteLLMTransport()})


def _amounted(transport: AsyncTransportProtocol) -> AsyncTransportProtocol:
    from .providers.litellm_bridge import AsyncLiteLLMTransport
    from .transport._mock import AsyncMockAnswerTransport
    from .transport._mounts import AsyncMountedTransport

    return AsyncMountedTransport(transport, {"mock": AsyncMockAnswerTransport(), "litellm": AsyncLiteLLMTransport()})


def _budget_hooks(ledger: Ledger | None, budgets: Sequence[Budget], accounting: Accounting) -> Any:
    """The spend hooks for this client, or None when neither a ledger nor budgets were given."""
    if ledger is None and not budgets:
        return None
    from ._core.budget import BudgetHooks

    return BudgetHooks(ledger, budgets, accounting)


_LEDGER_METHODS = ("record", "reserve", "settle", "release")


def _check_config(*, timeout: Any, policy: Any, ledger: Any, budgets: Any, observers: Any, environ: Any) -> None:
    """Refuse a bad constructor argument now, with what is allowed, not after the first paid call."""
    from ._checks import timeout_problem

    if (problem := timeout_problem(timeout)) is not None:
        raise ConfigurationError(f"timeout={timeout!r}: {problem}")
    if policy is not None and not isinstance(policy, RetryPolicy):
        raise ConfigurationError(f"policy={policy!r}: must be a routerlib.RetryPolicy, e.g. RetryPolicy(num_retries=3)")
    if ledger is not None and not all(callable(getattr(ledger, m, None)) for m in _LEDGER_METHODS):
        hint = " (for a file, pass SQLiteLedger(path))" if isinstance(ledger, str | PathLike) else ""
        raise ConfigurationError(f"ledger={ledger!r}: must be a ledger (MemoryLedger, SQLiteLedger, RedisLedger, "
                                 f"or an object with {', '.join(_LEDGER_METHODS)}){hint}")
    from .spend import Budget

    if isinstance(budgets, str | bytes) or not isinstance(budgets, Sequence) \
            or not all(isinstance(b, Budget) for b in budgets):
        raise ConfigurationError(f"budgets={budgets!r}: must be a list of routerlib.Budget values")
    if isinstance(observers, str | bytes) or not isinstance(observers, Sequence):
        raise ConfigurationError(f"observers={observers!r}: must be a list of Observer objects")
    if environ is not None and not isinstance(environ, Mapping):
        raise ConfigurationError(f"environ must be a mapping of environment variables, got {type(environ).__name__}")



def _check_cache(cache: Any) -> None:
    if cache is None:
        return
    from .cache.base import CacheBackend

    if not isinstance(cache, CacheBackend):
        raise ConfigurationError(f"cache={cache!r}: must be a routerlib.cache backend: MemoryCache(...), "
                        f"SQLiteCache(path) or RedisCache(url)")
