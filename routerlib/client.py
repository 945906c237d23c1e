"""``routerlib.Client``: what is not per call, and the sync and async shells of a call.

A client holds the HTTP pools (one for sync calls, one per event loop for async calls),
the default timeout and retry policy, the provider registry, the model/price map, the
spend ledger and budgets, and the callbacks. Everything per call lives in a ``CallState``
(``_engine``); the two shells below only send, sleep and loop, and mirror each other line
for line. Nothing here reads or writes module-level settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from ._engine import CallState, Response
from ._request import ChatRequest, build_request
from .callbacks import Callbacks
from .exceptions import APIError, RouterlibError
from .params import CompletionParams
from .planning import ContextCheck, Planner
from .policy import RetryPolicy
from .providers.base import Deployment, ProviderSpec
from .providers.registry import ProviderRegistry, spec_from_row
from .streaming import AsyncStream, ChatToTextParser, Stream, StreamAccumulator, aiter_sse, iter_sse
from .transport import AsyncTransport, SyncTransport
from .types import ChatCompletionChunk, Cost, ModelResponse, TextCompletion, Usage

if TYPE_CHECKING:
    from .cost.model_map import ModelInfo, ModelMap
    from .prompts import PromptTemplate
    from .spend import Budget, Ledger
    from .transport import AsyncStreamResponse, AsyncTransportProtocol, StreamResponse, TransportProtocol

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
        transport: TransportProtocol | None = None,
        async_transport: AsyncTransportProtocol | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout={timeout!r}: must be a number of seconds > 0")
        self.timeout = float(timeout)
        self.policy = policy if policy is not None else RetryPolicy()
        self._transport = transport if transport is not None else SyncTransport()
        self._async_transport = async_transport if async_transport is not None else AsyncTransport()
        self._model_map_arg = model_map
        self._model_map: ModelMap | None = None
        self._registry = ProviderRegistry.with_builtins()
        self._templates: dict[str, PromptTemplate] = {}
        self._planner = Planner(self._registry, _LazyModelMap(self), environ, self._templates)
        self._context = ContextCheck(self._planner)
        self._callbacks = Callbacks(callbacks)
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._spend = _spend_tracker(ledger, budgets, self)

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

    # -- public calls
    def completion(self, model: str, messages: Sequence[Mapping[str, Any]] | None = None,
                   **params: Unpack[CompletionParams]) -> ModelResponse | Stream:
        """A chat completion (or a ``Stream`` of chunks with stream=True). See ``routerlib.completion``."""
        request = build_request({"model": model, "messages": messages or (), **params})
        return self._run(request)  # type: ignore[return-value]

    async def acompletion(self, model: str, messages: Sequence[Mapping[str, Any]] | None = None,
                          **params: Unpack[CompletionParams]) -> ModelResponse | AsyncStream:
        request = build_request({"model": model, "messages": messages or (), **params})
        return await self._arun(request)  # type: ignore[return-value]

    def text_completion(self, model: str, prompt: str | Sequence[str],
                        **params: Unpack[CompletionParams]) -> TextCompletion | Stream:
        """A legacy /completions call: a raw prompt in, ``text_completion`` objects out."""
        request = build_request({"model": model, "prompt": _prompt(prompt), **params})
        return self._run(request)  # type: ignore[return-value]

    async def atext_completion(self, model: str, prompt: str | Sequence[str],
                               **params: Unpack[CompletionParams]) -> TextCompletion | AsyncStream:
        request = build_request({"model": model, "prompt": _prompt(prompt), **params})
        return await self._arun(request)  # type: ignore[return-value]

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

    # -- the sync shell
    def _run(self, request: ChatRequest) -> Response | Stream:
        call = CallState(self, request)
        try:
            while (deployment := call.next_deployment()) is not None:
                try:
                    return self._on_deployment(call, deployment)
                except RouterlibError as error:
                    if call.give_up(deployment, error):
                        raise
            raise call.no_candidate_left()
        except RouterlibError as error:
            raise call.exhausted(error)  # noqa: B904 - the same error, now carrying the history
        except BaseException:
            call.abandon()
            raise

    def _on_deployment(self, call: CallState, deployment: Deployment) -> Response | Stream:
        while True:
            try:
                return self._attempt(call, deployment)
            except RouterlibError as error:
                self._sleep(call.retry_wait(error))  # raises when the policy gives up here

    def _attempt(self, call: CallState, deployment: Deployment) -> Response | Stream:
        timeout = call.attempt_timeout(deployment)
        if call.request.mock_response is not None and not call.request.stream:
            return call.succeeded(deployment, call.mock(deployment), 0.0)
        started = self._clock()
        try:
            if call.request.stream:
                return self._read_stream(call, deployment, self._open(call, deployment, timeout), started)
            response = self._send(call, deployment, timeout)
        except APIError as error:
            call.failed(deployment, error, self._clock() - started)
            raise
        return call.succeeded(deployment, response, self._clock() - started)

    def _send(self, call: CallState, deployment: Deployment, timeout: float) -> Response:
        if deployment.spec.options.get("in_process"):
            from .providers import litellm_bridge

            return litellm_bridge.call_litellm(*call.adapter_params(deployment), deployment, timeout)
        raw = self._transport.send(call.build(deployment), timeout)
        return call.interpret(deployment, raw.status, raw.headers, raw.body)

    def _open(self, call: CallState, deployment: Deployment, timeout: float) -> StreamResponse:
        if call.request.mock_response is not None:
            return _mock_stream(call, deployment)  # type: ignore[no-any-return]
        if deployment.spec.options.get("in_process"):
            from .providers import litellm_bridge

            return litellm_bridge.open_stream(*call.adapter_params(deployment), deployment, timeout)
        return self._transport.stream(call.build(deployment), timeout)

    def _read_stream(self, call: CallState, deployment: Deployment, http: StreamResponse,
                     started: float) -> Stream:
        """Read an opened stream up to its first content, inside the policy (so it can still retry)."""
        if http.status >= 300:
            body = http.read()
            http.close()
            raise deployment.adapter.parse_error(http.status, http.headers, body, deployment)
        parser = _stream_parser(call, deployment)
        acc = StreamAccumulator()
        lines = http.lines()
        events = iter_sse(lines if call.deadline_at is None else _within_deadline(lines, call))
        buffered: list[ChatCompletionChunk] = []
        try:
            for event, data in events:
                if _take(parser.feed(event, data), acc, buffered):
                    break
            else:
                call.stream_not_started(acc, parser.done)
        except APIError:
            http.close()
            raise
        return Stream(http, events, parser, acc, buffered, _finisher(call, deployment, started),
                      **_stream_kwargs(call, deployment))

    # -- the async shell (mirrors the sync one)
    async def _arun(self, request: ChatRequest) -> Response | AsyncStream:
        call = CallState(self, request)
        try:
            while (deployment := call.next_deployment()) is not None:
                try:
                    return await self._aon_deployment(call, deployment)
                except RouterlibError as error:
                    if call.give_up(deployment, error):
                        raise
            raise call.no_candidate_left()
        except RouterlibError as error:
            raise call.exhausted(error)  # noqa: B904 - the same error, now carrying the history
        except BaseException:
            call.abandon()
            raise

    async def _aon_deployment(self, call: CallState, deployment: Deployment) -> Response | AsyncStream:
        while True:
            try:
                return await self._aattempt(call, deployment)
            except RouterlibError as error:
                await self._async_sleep(call.retry_wait(error))

    async def _aattempt(self, call: CallState, deployment: Deployment) -> Response | AsyncStream:
        timeout = call.attempt_timeout(deployment)
        if call.request.mock_response is not None and not call.request.stream:
            return call.succeeded(deployment, call.mock(deployment), 0.0)
        started = self._clock()
        try:
            if call.request.stream:
                http = await self._aopen(call, deployment, timeout)
                return await self._aread_stream(call, deployment, http, started)
            response = await self._asend(call, deployment, timeout)
        except APIError as error:
            call.failed(deployment, error, self._clock() - started)
            raise
        return call.succeeded(deployment, response, self._clock() - started)

    async def _asend(self, call: CallState, deployment: Deployment, timeout: float) -> Response:
        if deployment.spec.options.get("in_process"):
            from .providers import litellm_bridge

            return await litellm_bridge.acall_litellm(*call.adapter_params(deployment), deployment, timeout)
        raw = await self._async_transport.send(call.build(deployment), timeout)
        return call.interpret(deployment, raw.status, raw.headers, raw.body)

    async def _aopen(self, call: CallState, deployment: Deployment, timeout: float) -> AsyncStreamResponse:
        if call.request.mock_response is not None:
            return _mock_async_stream(call, deployment)  # type: ignore[no-any-return]
        if deployment.spec.options.get("in_process"):
            from .providers import litellm_bridge

            return await litellm_bridge.aopen_stream(*call.adapter_params(deployment), deployment, timeout)
        return await self._async_transport.stream(call.build(deployment), timeout)

    async def _aread_stream(self, call: CallState, deployment: Deployment, http: AsyncStreamResponse,
                            started: float) -> AsyncStream:
        if http.status >= 300:
            body = await http.read()
            await http.aclose()
            raise deployment.adapter.parse_error(http.status, http.headers, body, deployment)
        parser = _stream_parser(call, deployment)
        acc = StreamAccumulator()
        lines = http.lines()
        events = aiter_sse(lines if call.deadline_at is None else _awithin_deadline(lines, call))
        buffered: list[ChatCompletionChunk] = []
        try:
            async for event, data in events:
                if _take(parser.feed(event, data), acc, buffered):
                    break
            else:
                call.stream_not_started(acc, parser.done)
        except APIError:
            await http.aclose()
            raise
        return AsyncStream(http, events, parser, acc, buffered, _finisher(call, deployment, started),
                           **_stream_kwargs(call, deployment))

    # -- pricing (shared by both shells through CallState)
    def _price(self, deployment: Deployment, request: ChatRequest, usage: Usage | None,
               seconds: float) -> Cost | None:
        from .cost.pricing import PriceOverride, compute_cost

        if usage is None:
            return None
        override = None
        prices = self._price_params(request, deployment)
        if prices:
            override = PriceOverride.from_params(**prices)
        info = self._planner.info(deployment)
        return compute_cost(usage, info, override, response_seconds=seconds, estimated=usage.estimated,
                            model=deployment.label)

    @staticmethod
    def _price_params(request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
        """Per-call prices: the call's parameters, overridden by the deployment's entry."""
        values = request.__dict__
        prices = {k: values[k] for k in _PRICE_FIELDS if values[k] is not None}
        if deployment.options.prices is not None:
            prices.update(deployment.options.prices.given())
        return prices

    def _estimate_usage(self, deployment: Deployment, request: ChatRequest, text: str) -> Usage:
        """Usage counted locally (tiktoken) when the provider sent none; marked estimated."""
        from .tokens import count_messages, count_text

        prompt = (count_messages(deployment.model, request.messages) if request.prompt is None
                  else count_text(deployment.model, "".join(request.prompt)))
        completion = count_text(deployment.model, text)
        return Usage(prompt_tokens=prompt, completion_tokens=completion,
                     total_tokens=prompt + completion, estimated=True)


class _LazyModelMap:
    """Defers loading the model map until a call needs it (not at Client())."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, model: str, provider: str | None = None) -> ModelInfo | None:
        return self._client.model_map.get(model, provider)

    def provider_of(self, model: str) -> str | None:
        return self._client.model_map.provider_of(model)


_PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token", "input_cost_per_second",
                 "output_cost_per_second")


def _within_deadline(lines: Iterator[bytes], call: CallState) -> Iterator[bytes]:
    """A stream's lines until the call's deadline passes, then APITimeoutError.

    Needed because a server can keep a stream open indefinitely with SSE comments (keep-alive
    "processing" lines) that reset every socket timeout but carry no event.
    """
    for line in lines:
        if call.seconds_left() <= 0:
            raise call.deadline_error()
        yield line


async def _awithin_deadline(lines: AsyncIterator[bytes], call: CallState) -> AsyncIterator[bytes]:
    async for line in lines:
        if call.seconds_left() <= 0:
            raise call.deadline_error()
        yield line


def _take(chunks: list[ChatCompletionChunk], acc: StreamAccumulator,
          buffered: list[ChatCompletionChunk]) -> bool:
    """Buffer chunks read inside the policy; True once content (or the finish) has arrived."""
    started = False
    for chunk in chunks:
        buffered.append(chunk)
        if acc.add(chunk):
            started = True
    return started or bool(acc.finish_reasons)


def _finisher(call: CallState, deployment: Deployment, started: float
              ) -> Callable[[StreamAccumulator, APIError | None], Cost | None]:
    def finish(acc: StreamAccumulator, error: APIError | None) -> Cost | None:
        return call.stream_finished(deployment, acc, error, call.clock() - started)
    return finish


def _stream_kwargs(call: CallState, deployment: Deployment) -> dict[str, Any]:
    return {"forward_usage": call.request.wants_usage_chunk, "provider": deployment.provider,
            "model": deployment.model, "attempts": call.attempts, "dropped": call.dropped,
            "callbacks": call.client._callbacks}


def _stream_parser(call: CallState, deployment: Deployment) -> Any:
    if call.request.mock_response is not None:  # mock streams are OpenAI SSE whatever the provider
        from .providers.openai_compat import OpenAIStreamParser

        return OpenAIStreamParser(deployment, text=call.request.prompt is not None)
    request = call.request_for(deployment)
    parser = deployment.adapter.stream_parser(request, deployment)
    return parser if request is call.request else ChatToTextParser(parser)


def _mock_stream(call: CallState, deployment: Deployment) -> Any:
    """mock_response with stream=True: the mock answer as OpenAI SSE, through the real parser."""
    from .testing import mock_sse_response
    from .transport._mock import MockStreamResponse

    return MockStreamResponse(mock_sse_response(call.mock(deployment)))


def _mock_async_stream(call: CallState, deployment: Deployment) -> Any:
    from .testing import mock_sse_response
    from .transport._mock import MockAsyncStreamResponse

    return MockAsyncStreamResponse(mock_sse_response(call.mock(deployment)))


def _prompt(prompt: Any) -> Any:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt):
        return tuple(prompt)
    return prompt  # validation reports the bad value


def _spend_tracker(ledger: Ledger | None, budgets: Sequence[Budget], client: Client) -> Any:
    """The spend hooks for this client, or None when neither a ledger nor budgets were given."""
    if ledger is None and not budgets:
        return None
    from ._spend import SpendTracker

    return SpendTracker(ledger, budgets, client)

