"""Provider quirks as data: behaviour an OpenAI-compatible row switches on through ``options``.

Most gateways differ from OpenAI only in data (base URL, key variable, parameters they refuse
or rename), which ``select_params`` and ``openai_compat`` already handle. A few need a small
behaviour on top; rather than a subclass per gateway, ``QuirksAdapter`` reads these keys of
``ProviderSpec.options`` (every key optional; a row without them behaves exactly like
``OpenAICompatAdapter``)::

    default_max_tokens: int          sent as max_tokens when the caller set neither max_tokens nor
                                     max_completion_tokens (servers whose own default is tiny)
    report_requested_model: bool     response.model and every chunk's model = the model routerlib
                                     sent (for servers that redact or rewrite it)
    model_pattern: str               a regex the model id must match in full; checked before
                                     sending, with model_pattern_hint naming the shape in words
    param_values: {param: values}    the only values a provider accepts for a parameter (routerlib
                                     name); others are refused, or dropped with drop_params=True
                                     (applied by ``select_params``, for every adapter)
    unsupported_message_fields: ()   message keys the provider rejects (Groq: messages[].name);
                                     refused, or removed with drop_params=True

A message field removed here (``unsupported_message_fields``) is not listed in
``response.dropped_params``: that list comes from ``select_params``, which runs before the
adapter. Use a row with ``adapter=QuirksAdapter()`` (``register_provider(..., adapter=...)``)
to opt in; the built-in rows that need it do so in ``_rows``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._request import ChatRequest
from ..exceptions import InvalidRequestError, UnsupportedParamsError
from ..transport import HTTPRequest
from ..types import ChatCompletionChunk, ModelResponse, TextCompletion
from .base import Deployment, ProviderSpec, StreamParser
from .openai_compat import OpenAICompatAdapter

__all__ = ["QUIRK_OPTIONS", "ModelRenamingStreamParser", "QuirksAdapter", "apply_request_quirks"]

#: The ``options`` keys this module gives a meaning to (a test checks rows use no others by mistake).
QUIRK_OPTIONS = frozenset({"default_max_tokens", "report_requested_model", "model_pattern",
                           "model_pattern_hint", "param_values", "unsupported_message_fields"})


class QuirksAdapter(OpenAICompatAdapter):
    """``OpenAICompatAdapter`` plus the option-driven quirks of the module docstring.

    Subclasses change the wire format through ``_parse`` and ``_inner_stream_parser`` and keep
    the quirks (``text_completion.TextCompletionAdapter`` does).
    """

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        if deployment.spec.options:
            request, params = apply_request_quirks(request, params, deployment)
        return super().build_request(request, params, deployment)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes,
                       request: ChatRequest, deployment: Deployment) -> ModelResponse | TextCompletion:
        response = self._parse(status, headers, body, request, deployment)
        if deployment.spec.options.get("report_requested_model"):
            response.model = deployment.model
        return response

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        parser = self._inner_stream_parser(request, deployment)
        if deployment.spec.options.get("report_requested_model"):
            return ModelRenamingStreamParser(parser, deployment.model)
        return parser

    def _parse(self, status: int, headers: Mapping[str, str], body: bytes,
               request: ChatRequest, deployment: Deployment) -> ModelResponse | TextCompletion:
        return super().parse_response(status, headers, body, request, deployment)

    def _inner_stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        return super().stream_parser(request, deployment)


class ModelRenamingStreamParser:
    """Wraps a stream parser and stamps ``model`` on every chunk (``report_requested_model``)."""

    def __init__(self, inner: StreamParser, model: str) -> None:
        self.done = False
        self._inner = inner
        self._model = model

    def feed(self, event: str | None, data: bytes) -> list[ChatCompletionChunk]:
        chunks = self._inner.feed(event, data)
        for chunk in chunks:
            chunk.model = self._model
        self.done = self._inner.done
        return chunks


def apply_request_quirks(request: ChatRequest, params: dict[str, Any],
                         deployment: Deployment) -> tuple[ChatRequest, dict[str, Any]]:
    """The request and params with the spec's request-side quirks applied (or a refusal)."""
    spec = deployment.spec
    options = spec.options
    pattern = options.get("model_pattern")
    if pattern is not None:
        _check_model(pattern, options.get("model_pattern_hint"), deployment)
    fields = options.get("unsupported_message_fields")
    if fields and request.messages:
        request = _check_message_fields(fields, request, spec)
    default = options.get("default_max_tokens")
    if default is not None and request.max_tokens is None and request.max_completion_tokens is None:
        params = {**params, spec.renamed.get("max_tokens", "max_tokens"): int(default)}
    return request, params


def _check_model(pattern: str, hint: str | None, deployment: Deployment) -> None:
    if re.fullmatch(pattern, deployment.model) is None:
        shape = hint or f"ids matching {pattern!r}"
        raise InvalidRequestError(
            f"{deployment.provider} model ids are {shape}; got {deployment.model!r}",
            provider=deployment.provider, model=deployment.model, code="invalid_model")


def _check_message_fields(fields: Sequence[str], request: ChatRequest, spec: ProviderSpec) -> ChatRequest:
    found = [(i, name) for i, message in enumerate(request.messages) for name in fields if name in message]
    if not found:
        return request
    if not request.drop_params:
        where = ", ".join(f"messages[{i}].{name}" for i, name in found)
        raise UnsupportedParamsError(
            f"{spec.name} does not accept {where}; pass drop_params=True to remove these fields",
            provider=spec.name, model=request.model, code="unsupported_params")
    messages = tuple({k: v for k, v in m.items() if k not in fields} for m in request.messages)
    return request.model_copy(update={"messages": messages})
