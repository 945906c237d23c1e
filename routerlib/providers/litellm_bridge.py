"""``model="litellm/<provider>/<model>"``: delegate one attempt to LiteLLM, in process.

LiteLLM does its own I/O, so this provider's "server" is LiteLLM itself, behind the same
seams as every HTTP provider: the adapter describes the LiteLLM call as a request to
``litellm://<model>`` (the call's keyword arguments as its JSON body), and the transports
mounted on that scheme make the call in process::

    LiteLLMAdapter.build_request  -> HTTPRequest("POST", "litellm://...", body=kwargs)
    LiteLLMTransport.send         -> litellm.completion(**kwargs), answered as OpenAI JSON
    LiteLLMTransport.stream       -> its chunks as OpenAI SSE lines, read by OpenAIStreamParser
    AsyncLiteLLMTransport         -> the async twins (acompletion / atext_completion)

``call_litellm`` / ``open_stream`` (and their async twins) compose the two for one attempt.

Rules kept here:

- **One retry owner.** Every call passes ``num_retries=0`` (LiteLLM's wrapper) and
  ``max_retries=0`` (the openai SDK client underneath, which otherwise retries twice), so the
  number of tries is routerlib's policy. Caveat, in LiteLLM itself: its sync wrapper reads
  ``kwargs["num_retries"] or litellm.num_retries``, so a process that set the module-level
  ``litellm.num_retries = N`` still gets N hidden retries on sync calls, and LiteLLM then
  resets that global to None on the failure. routerlib never sets it.
- **No process-wide state.** No ``litellm.*`` attribute and no environment variable is set.
  Importing LiteLLM (on the first bridge call, never at routerlib import) fetches its cost map
  over the network with a 5 s timeout unless the *user* has set
  ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (or ``LITELLM_OFFLINE_MODE=true``); there is no
  per-call option for it, because it happens at import.
- **Typed errors.** LiteLLM's exceptions (openai-SDK subclasses carrying ``status_code``,
  ``llm_provider`` and ``message``) become routerlib's error classes, chained with ``from``.
- **Responses.** LiteLLM's objects are converted with ``model_dump()`` into routerlib's
  ``ModelResponse`` / ``TextCompletion``; unknown fields are kept.
- Streaming works for chat calls; a streamed ``text_completion`` through the bridge raises
  ``UnsupportedParamsError``.
- Without LiteLLM installed, ``LiteLLMNotInstalledError`` (an ``ImportError``) says
  ``pip install routerlib[litellm]``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from .._request import ChatRequest
from ..exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    RouterlibError,
    UnsupportedParamsError,
    parse_retry_after,
)
from ..transport import HTTPRequest, HTTPResponse
from ..types import ModelResponse, TextCompletion
from ._errors import build_error, classify
from .base import Deployment, ProviderSpec
from .openai_compat import OpenAIStreamParser

__all__ = [
    "DEFAULT_API_BASE",
    "AsyncLiteLLMStream",
    "AsyncLiteLLMTransport",
    "LiteLLMAdapter",
    "LiteLLMNotInstalledError",
    "LiteLLMStream",
    "LiteLLMTransport",
    "acall_litellm",
    "aopen_stream",
    "call_litellm",
    "litellm_kwargs",
    "open_stream",
    "specs",
    "to_routerlib_error",
]

#: The row's api_base placeholder meaning "let LiteLLM pick the provider's endpoint".
DEFAULT_API_BASE = "litellm:provider-default"


class LiteLLMNotInstalledError(RouterlibError, ImportError):
    """The litellm provider was used but LiteLLM is not installed."""


def _litellm() -> ModuleType:
    try:
        import litellm
    except ImportError as exc:
        raise LiteLLMNotInstalledError(
            "model='litellm/...' delegates to LiteLLM, which is not installed: "
            "pip install routerlib[litellm]") from exc
    return litellm


def litellm_kwargs(request: ChatRequest, params: Mapping[str, Any], deployment: Deployment,
                   timeout: float | None = None) -> dict[str, Any]:
    """The keyword arguments of the LiteLLM call for one attempt."""
    kwargs: dict[str, Any] = {"model": deployment.model, **params, "num_retries": 0, "max_retries": 0,
                              "drop_params": request.drop_params}
    if request.prompt is not None:
        kwargs["prompt"] = request.prompt if isinstance(request.prompt, str) else list(request.prompt)
    else:
        kwargs["messages"] = [dict(m) for m in request.messages]
    if timeout is not None or request.timeout is not None:
        kwargs["timeout"] = timeout if timeout is not None else request.timeout
    if deployment.api_base != DEFAULT_API_BASE:
        kwargs["api_base"] = deployment.api_base
    if deployment.api_key:
        kwargs["api_key"] = deployment.api_key
    if deployment.api_version:
        kwargs["api_version"] = deployment.api_version
    if deployment.headers:
        kwargs["extra_headers"] = dict(deployment.headers)
    if request.extra_body:
        kwargs["extra_body"] = dict(request.extra_body)
    if request.mock_response is not None:
        kwargs["mock_response"] = request.mock_response
    if request.stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {**(request.stream_options or {}), "include_usage": True}
    return kwargs


def call_litellm(request: ChatRequest, params: Mapping[str, Any], deployment: Deployment,
                 timeout: float | None = None) -> ModelResponse | TextCompletion:
    """One non-streamed attempt through ``litellm.completion`` (or ``text_completion``)."""
    _refuse_stream(request, deployment)
    raw = LiteLLMTransport().send(_ADAPTER.build_request(request, dict(params), deployment), timeout)
    return _ADAPTER.parse_response(raw.status, raw.headers, raw.body, request, deployment)


async def acall_litellm(request: ChatRequest, params: Mapping[str, Any], deployment: Deployment,
                        timeout: float | None = None) -> ModelResponse | TextCompletion:
    """The async twin of ``call_litellm`` (``litellm.acompletion`` / ``atext_completion``)."""
    _refuse_stream(request, deployment)
    raw = await AsyncLiteLLMTransport().send(_ADAPTER.build_request(request, dict(params), deployment), timeout)
    return _ADAPTER.parse_response(raw.status, raw.headers, raw.body, request, deployment)


def open_stream(request: ChatRequest, params: Mapping[str, Any], deployment: Deployment,
                timeout: float | None = None) -> LiteLLMStream:
    """A streamed chat attempt: errors before the first chunk raise here, typed."""
    return LiteLLMTransport().stream(_ADAPTER.build_request(request, dict(params), deployment), timeout)


async def aopen_stream(request: ChatRequest, params: Mapping[str, Any], deployment: Deployment,
                       timeout: float | None = None) -> AsyncLiteLLMStream:
    return await AsyncLiteLLMTransport().stream(_ADAPTER.build_request(request, dict(params), deployment), timeout)


class _Call:
    """One LiteLLM call as its ``litellm://`` request describes it."""

    __slots__ = ("kwargs", "model", "provider", "text")

    def __init__(self, request: HTTPRequest, timeout: float | None) -> None:
        payload = json.loads(request.body)
        self.kwargs: dict[str, Any] = payload["kwargs"]
        if timeout is not None:
            self.kwargs["timeout"] = timeout
        self.provider: str = payload["provider"]
        self.model: str = payload["model"]
        self.text: bool = payload["text"]

    def function(self, prefix: str = "") -> Any:
        return getattr(_litellm(), prefix + ("text_completion" if self.text else "completion"))

    def converted(self, exc: Exception) -> Exception:
        return _converted(exc, self.provider, self.model)


def _answer(result: Any) -> HTTPResponse:
    data = result.model_dump() if hasattr(result, "model_dump") else result
    return HTTPResponse(200, {"content-type": "application/json"}, json.dumps(data, default=str).encode())


class LiteLLMTransport:
    """Makes ``litellm://`` calls in process (mounted on every client; LiteLLM imported on first use)."""

    def send(self, request: HTTPRequest, timeout: float | None, **_: Any) -> HTTPResponse:
        call = _Call(request, timeout)
        try:
            return _answer(call.function()(**call.kwargs))
        except Exception as exc:
            raise call.converted(exc) from exc

    def stream(self, request: HTTPRequest, timeout: float | None, **_: Any) -> LiteLLMStream:
        call = _Call(request, timeout)
        try:
            wrapper = call.function()(**call.kwargs)
        except Exception as exc:
            raise call.converted(exc) from exc
        return LiteLLMStream(wrapper, call.provider, call.model)

    def close(self) -> None:
        pass


class AsyncLiteLLMTransport:
    """The async twin of ``LiteLLMTransport``."""

    async def send(self, request: HTTPRequest, timeout: float | None, **_: Any) -> HTTPResponse:
        call = _Call(request, timeout)
        try:
            return _answer(await call.function("a")(**call.kwargs))
        except Exception as exc:
            raise call.converted(exc) from exc

    async def stream(self, request: HTTPRequest, timeout: float | None, **_: Any) -> AsyncLiteLLMStream:
        call = _Call(request, timeout)
        try:
            wrapper = await call.function("a")(**call.kwargs)
        except Exception as exc:
            raise call.converted(exc) from exc
        return AsyncLiteLLMStream(wrapper, call.provider, call.model)

    async def aclose(self) -> None:
        pass


class _WrappedStream:
    """What both stream adapters hold: LiteLLM's stream wrapper, always a 200 with no headers."""

    status = 200

    def __init__(self, wrapper: Any, provider: str, model: str) -> None:
        self.headers: Mapping[str, str] = {}
        self._wrapper = wrapper
        self._provider = provider
        self._model = model


class LiteLLMStream(_WrappedStream):
    """LiteLLM's chunk iterator as a ``StreamResponse``: each chunk one ``data:`` event, then [DONE]."""

    def lines(self) -> Iterator[bytes]:
        try:
            for chunk in self._wrapper:
                yield _sse(chunk)
                yield b""
        except Exception as exc:
            raise _converted(exc, self._provider, self._model) from exc
        yield b"data: [DONE]"
        yield b""

    def read(self) -> bytes:
        return b""

    def close(self) -> None:
        close = getattr(self._wrapper, "close", None)
        if close is not None:
            close()


class AsyncLiteLLMStream(_WrappedStream):
    """The async twin of ``LiteLLMStream`` (an ``AsyncStreamResponse``)."""

    async def lines(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._wrapper:
                yield _sse(chunk)
                yield b""
        except Exception as exc:
            raise _converted(exc, self._provider, self._model) from exc
        yield b"data: [DONE]"
        yield b""

    async def read(self) -> bytes:
        return b""

    async def aclose(self) -> None:
        aclose = getattr(self._wrapper, "aclose", None)
        if aclose is not None:
            await aclose()


def to_routerlib_error(exc: BaseException, deployment: Deployment) -> APIError:
    """routerlib's typed error for a LiteLLM exception: its class first, then its status code."""
    return _typed(exc, deployment.provider, deployment.model)


def _typed(exc: BaseException, provider: str, model: str) -> APIError:
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and 100 <= status < 600 else None
    message = str(getattr(exc, "message", None) or exc)
    cls = _error_class(exc, status, message)
    body = {"llm_provider": getattr(exc, "llm_provider", None), "litellm_error": type(exc).__name__}
    return cls(message, status_code=status, provider=provider, model=model,
               retry_after=_retry_after(exc), body=body)


def _error_class(exc: BaseException, status: int | None, message: str) -> type[APIError]:
    names = {klass.__name__ for klass in type(exc).__mro__
             if klass.__module__.split(".")[0] in _ERROR_MODULES}
    for name, cls in _BY_NAME:
        if name in names:
            return cls
    if status is not None:
        return classify(status, None, message)
    return APIError


_ERROR_MODULES = ("litellm", "openai")
#: LiteLLM / openai-SDK exception class names whose meaning beats their status code (first match
#: wins: LiteLLM's Timeout is also an APIConnectionError).
_BY_NAME: tuple[tuple[str, type[APIError]], ...] = (
    ("ContextWindowExceededError", ContextWindowExceededError),
    ("ContentPolicyViolationError", ContentPolicyViolationError),
    ("UnsupportedParamsError", UnsupportedParamsError),
    ("Timeout", APITimeoutError),
    ("APITimeoutError", APITimeoutError),
    ("APIConnectionError", APIConnectionError),
    ("APIResponseValidationError", APIResponseValidationError),
)


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        return parse_retry_after({str(k).lower(): str(v) for k, v in headers.items()})
    except (AttributeError, TypeError):
        return None


def _converted(exc: Exception, provider: str, model: str) -> Exception:
    """The error to raise for ``exc``: LiteLLM/openai errors typed, routerlib's and others as they are."""
    if isinstance(exc, RouterlibError):
        return exc
    if _is_provider_error(exc):
        return _typed(exc, provider, model)
    return exc


def _is_provider_error(exc: BaseException) -> bool:
    return any(klass.__module__.split(".")[0] in _ERROR_MODULES for klass in type(exc).__mro__)


def _sse(chunk: Any) -> bytes:
    data = chunk.model_dump() if hasattr(chunk, "model_dump") else chunk
    return b"data: " + json.dumps(data, default=str, separators=(",", ":")).encode()


def _refuse_stream(request: ChatRequest, deployment: Deployment) -> None:
    if request.stream:
        raise UnsupportedParamsError("call_litellm does not stream: use open_stream for stream=True",
                                     provider=deployment.provider, model=deployment.model)


def _refuse_text_stream(request: ChatRequest, deployment: Deployment) -> None:
    if request.prompt is not None:
        raise UnsupportedParamsError(
            "streaming text_completion through the litellm bridge is not supported: call without "
            "stream=True, or use a native provider", provider=deployment.provider, model=deployment.model,
            code="unsupported_params")


class LiteLLMAdapter:
    """The litellm row's adapter: a LiteLLM call described as a ``litellm://`` request (see above)."""

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        if request.stream:
            _refuse_text_stream(request, deployment)
        payload = {"kwargs": litellm_kwargs(request, params, deployment), "provider": deployment.provider,
                   "model": deployment.model, "text": request.prompt is not None}
        return HTTPRequest("POST", "litellm://" + deployment.model, {}, json.dumps(payload, default=str).encode())

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes,
                       request: ChatRequest, deployment: Deployment) -> ModelResponse | TextCompletion:
        model = TextCompletion if request.prompt is not None else ModelResponse
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:  # a shape LiteLLM should never return: retryable, never an AttributeError
            raise APIResponseValidationError(f"LiteLLM returned an unusable answer: {exc}",
                                             provider=deployment.provider, model=deployment.model) from exc

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes,
                    deployment: Deployment) -> APIError:
        return build_error(status, headers, body, provider=deployment.provider, model=deployment.model)

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> OpenAIStreamParser:
        return OpenAIStreamParser(deployment, text=request.prompt is not None)


_ADAPTER = LiteLLMAdapter()


def specs() -> list[ProviderSpec]:
    return [ProviderSpec(
        name="litellm",
        adapter=LiteLLMAdapter(),
        api_base=DEFAULT_API_BASE,
        key_required=False,
        options={"in_process": True},
        quirks={
            "in_process": "LiteLLM does its own I/O: requests go to litellm:// and the transport mounted "
                          "there calls LiteLLM in process",
            "keys": "LiteLLM reads its own provider variables (OPENAI_API_KEY, ANTHROPIC_API_KEY...) when "
                    "no api_key is given",
            "params": "parameters are LiteLLM's to map or refuse per provider; its UnsupportedParamsError "
                      "becomes routerlib's",
            "cost_map_fetch": "importing LiteLLM fetches its cost map over the network unless the user "
                              "sets LITELLM_LOCAL_MODEL_COST_MAP=True (routerlib never sets it)",
        },
    )]
