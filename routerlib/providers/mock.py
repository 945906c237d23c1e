"""Mocked calls: everything but the network (``mock_response``, ``mock_tool_calls``,
``mock_testing_fallbacks``; LiteLLM's testing switches, same names).

The call is validated, planned, checked against the provider's parameters (so a mocked test
fails, or drops, exactly where the real call would), budgeted, priced from locally counted
tokens (marked estimated) and recorded; only its server is in memory. The deployment keeps
its provider row (name, refused parameters, prices) with ``MockAdapter`` in front, whose
requests go to ``mock://`` and are answered by ``transport.MockAnswerTransport`` in the
OpenAI format, streams included::

    mock_response="text"                    the answer's content (chat, text_completion)
    mock_response=[0.1, 0.2, ...]           embedding(): the vector every input gets
    mock_tool_calls=[{...}]                 the answer carries these tool calls (streamed too)
    mock_response=Exception(...)            every attempt fails with it, typed (below)
    mock_response="litellm.RateLimitError"  every attempt fails with that error class, at
                                            LiteLLM's default status (``MOCK_ERRORS``)
    mock_testing_fallbacks=True             the primary (and model_list deployments) fail
                                            with a 500, so the fallbacks run

A failure is an answer of the mocked server (a non-2xx status), so it goes through the retry
and fallback policy like a real one, and every attempt is recorded. What it is raised as:

- a routerlib ``APIError`` the caller built: a copy of it, for each attempt (the caller's
  instance is never changed), with its own ``retry_after``;
- any other exception: the routerlib error for its ``status_code`` when it has one (LiteLLM's
  and the OpenAI SDK's errors do), else ``APIError``; the original is its ``__cause__``;
- a LiteLLM error name: that class, with LiteLLM's default status and message.

Failures routerlib makes here ask for no wait (``retry_after=0``): a mocked server answers at
once, so retries happen at once (``num_retries=0`` skips them). LiteLLM's Router skips the
primary's retries under ``mock_testing_fallbacks``; routerlib's policy retries it first, as
it would a real 500.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._mock_rules import MOCK_ERRORS, MockError, check_mock_error_name, check_tool_calls
from .._request import ChatRequest
from ..exceptions import (
    APIError,
    InternalServerError,
    InvalidRequestError,
    error_class_for_status,
)
from ..transport import HTTPRequest
from ..types import EmbeddingResponse, ModelResponse, TextCompletion
from .base import Adapter, Deployment, StreamParser, embedding_adapter
from .openai_compat import OpenAICompatAdapter, OpenAIStreamParser

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest, Request

__all__ = ["MOCK_ERRORS", "MockAdapter", "MockError", "check_mock_error_name", "check_tool_calls", "mocked"]

_OPENAI = OpenAICompatAdapter()


@dataclass(frozen=True)
class _Failure:
    """How each attempt of a mocked deployment fails (see the module docstring)."""

    kind: type[APIError]
    status: int | None
    message: str
    code: str | None = None
    cause: BaseException | None = None
    given: APIError | None = None

    def error(self, deployment: Deployment) -> APIError:
        if self.given is not None:
            error = copy.copy(self.given)  # a fresh one per attempt: the call annotates it
            error.attempts, error.history = (), None
            return error
        error = self.kind(self.message, status_code=self.status, provider=deployment.provider,
                          model=deployment.model, code=self.code, retry_after=0.0)
        if self.cause is not None:
            error.__cause__ = self.cause
        return error

    def wire(self) -> dict[str, Any]:
        """What the mocked server is asked to answer: this status, with this message."""
        return {"status": self.status if self.status and self.status >= 300 else 500, "message": self.message}


def _failure(request: Request, primary: bool) -> _Failure | None:
    mock = request.mock_response
    if isinstance(mock, APIError):
        return _Failure(type(mock), mock.status_code, mock.message, given=mock)
    if isinstance(mock, Exception):
        status = getattr(mock, "status_code", None)
        message = getattr(mock, "message", None)
        text = message if isinstance(message, str) and message else (str(mock) or type(mock).__name__)
        if isinstance(status, int) and not isinstance(status, bool) and 400 <= status < 600:
            return _Failure(error_class_for_status(status), status, text, cause=mock)
        return _Failure(APIError, None, text, cause=mock)
    if isinstance(mock, str) and mock.startswith("litellm.") and mock[8:] in MOCK_ERRORS:
        known = MOCK_ERRORS[mock[8:]]
        return _Failure(known.kind, known.status, known.message, known.code)
    if request.mock_testing_fallbacks and primary:
        fallbacks = [f if isinstance(f, str) else f.get("model") for f in request.fallbacks or ()]
        return _Failure(InternalServerError, 500, f"This is a mock exception for model={request.model}, to "
                        f"trigger a fallback. Fallbacks={fallbacks}")
    return None


def mocked(deployment: Deployment, request: Request, primary: bool) -> Deployment:
    """``deployment`` answered in memory (same id, row, prices and options), or as it is.

    ``primary``: the deployment belongs to the call's primary (or a model_list entry), which
    ``mock_testing_fallbacks`` fails. A fallback with nothing else mocked is answered for real.
    """
    mock = request.mock_response
    if mock.__class__ is str and not request.mock_testing_fallbacks and not mock.startswith("litellm."):
        failure = None  # the common case, text: decided with as few calls as possible
    else:
        failure = _failure(request, primary)
        if failure is None and mock is None and not request.mock_tool_calls:
            return deployment  # mock_testing_fallbacks: the fallbacks run for real
    if deployment.spec.adapter.__class__ is MockAdapter:
        return deployment
    if deployment.spec.options.get("in_process") and isinstance(request.mock_response, str) \
            and not request.mock_tool_calls and not (request.mock_testing_fallbacks and primary):
        return deployment  # LiteLLM takes a text mock_response (and its "litellm.X" names) itself
    return replace(deployment, spec=replace(deployment.spec, adapter=MockAdapter(deployment.adapter, failure)))


class MockAdapter:
    """The deployment's own adapter, with requests answered in memory (see the module docstring)."""

    #: The mock answers a text_completion() as text, whatever the provider.
    accepts_prompt = True

    def __init__(self, inner: Adapter, failure: _Failure | None = None) -> None:
        self.inner = inner
        self.failure = failure

    def _request(self, deployment: Deployment, answer: dict[str, Any]) -> HTTPRequest:
        body = {"fail": self.failure.wire()} if self.failure is not None else answer
        return HTTPRequest("POST", "mock://" + deployment.provider, {}, json.dumps(body).encode())

    def build_request(self, request: ChatRequest, params: dict[str, Any], deployment: Deployment) -> HTTPRequest:
        mock = request.mock_response
        calls = request.mock_tool_calls
        if calls and request.prompt is not None:
            raise InvalidRequestError("mock_tool_calls: only for chat completions (a text completion has no "
                                      "tool calls)", code="invalid_parameter")
        answer = {"model": deployment.model, "text": mock if mock.__class__ is str else None,
                  "tool_calls": _tool_calls(calls) if calls else None, "prompt": request.prompt is not None,
                  "stream": request.stream}
        return self._request(deployment, answer)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes, request: ChatRequest,
                       deployment: Deployment) -> ModelResponse | TextCompletion:
        return _OPENAI.parse_response(status, headers, body, request, deployment)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes, deployment: Deployment) -> APIError:
        if self.failure is not None:
            return self.failure.error(deployment)
        return _OPENAI.parse_error(status, headers, body, deployment)

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        return OpenAIStreamParser(deployment, text=request.prompt is not None)

    # -- embeddings: refused where the provider has none, as the real call would be
    def build_embedding_request(self, request: EmbeddingRequest, params: dict[str, Any],
                                deployment: Deployment) -> HTTPRequest:
        embedding_adapter(replace(deployment, spec=replace(deployment.spec, adapter=self.inner)))
        mock = request.mock_response
        vector = list(mock) if isinstance(mock, tuple) else None
        return self._request(deployment, {"model": deployment.model,
                                          "embedding": {"vector": vector, "count": request.count}})

    def parse_embedding_response(self, status: int, headers: Mapping[str, str], body: bytes,
                                 request: EmbeddingRequest, deployment: Deployment) -> EmbeddingResponse:
        return _OPENAI.parse_embedding_response(status, headers, body, request, deployment)


def _tool_calls(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """mock_tool_calls in OpenAI's shape: an id and type where missing, arguments as a JSON string."""
    out = []
    for i, call in enumerate(calls):
        function = call["function"]
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = json.dumps(dict(arguments))
        out.append({"id": call.get("id") or f"call_mock_{i}", "type": call.get("type") or "function",
                    "function": {"name": function["name"], "arguments": arguments}})
    return out
