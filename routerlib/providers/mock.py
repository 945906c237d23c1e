"""``mock_response="..."``: a call with everything but the network.

The call is validated, planned, checked against the provider's parameters (so a mocked test
fails, or drops, exactly where the real call would), budgeted, priced from locally counted
tokens (marked estimated) and recorded; only its server is in memory. The deployment keeps
its provider row (name, refused parameters, prices) with this adapter in front, whose
requests go to ``mock://`` and are answered by ``transport.MockAnswerTransport`` in the
OpenAI format, streams included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .._request import ChatRequest
from ..exceptions import APIError
from ..transport import HTTPRequest
from ..types import ModelResponse, TextCompletion
from .base import Adapter, Deployment, StreamParser
from .openai_compat import OpenAICompatAdapter, OpenAIStreamParser

_OPENAI = OpenAICompatAdapter()


class MockAdapter:
    """The deployment's own adapter, with requests answered in memory (see the module docstring)."""

    #: The mock answers a text_completion() as text, whatever the provider.
    accepts_prompt = True

    def __init__(self, inner: Adapter) -> None:
        self.inner = inner

    def build_request(self, request: ChatRequest, params: dict[str, Any], deployment: Deployment) -> HTTPRequest:
        body = {"model": deployment.model, "text": request.mock_response or "",
                "prompt": request.prompt is not None, "stream": request.stream}
        return HTTPRequest("POST", "mock://" + deployment.provider, {}, json.dumps(body).encode())

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes, request: ChatRequest,
                       deployment: Deployment) -> ModelResponse | TextCompletion:
        return _OPENAI.parse_response(status, headers, body, request, deployment)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes, deployment: Deployment) -> APIError:
        return _OPENAI.parse_error(status, headers, body, deployment)

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        return OpenAIStreamParser(deployment, text=request.prompt is not None)


def mocked(deployment: Deployment) -> Deployment:
    """``deployment`` with its requests answered in memory (same id, row, prices and options)."""
    if isinstance(deployment.adapter, MockAdapter) or deployment.spec.options.get("in_process"):
        return deployment  # LiteLLM takes mock_response itself
    return replace(deployment, spec=replace(deployment.spec, adapter=MockAdapter(deployment.adapter)))
