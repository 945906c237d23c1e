"""The OpenAI wire format: /chat/completions, /completions and /embeddings, for OpenAI and
every gateway that speaks it (the provider rows in ``_rows`` differ only in data).

Bodies are parsed by pydantic-core's JSON parser straight into the response models
(no intermediate dicts), and request bodies are serialised by ``pydantic_core.to_json``:
both are measured hot spots (benchmarks/).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pydantic_core
from pydantic import ValidationError

from .._request import ChatRequest
from ..exceptions import APIError
from ..transport import HTTPRequest
from ..types import ChatCompletionChunk, EmbeddingResponse, ModelResponse, TextCompletion
from ._errors import build_error, decode_error_body, unreadable_body
from ._wire import dump_body, unserialisable
from .base import Deployment, ProviderSpec, StreamParser

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest

__all__ = [
    "OpenAICompatAdapter",
    "OpenAIStreamParser",
    "auth_headers",
    "embedding_body",
    "error_in_body",
    "in_input_order",
    "merge_headers",
    "request_body",
]

_JSON = "application/json"


def auth_headers(spec: ProviderSpec, deployment: Deployment) -> dict[str, str]:
    """Headers for a request to ``deployment``: content type, authentication, extras."""
    headers = {"content-type": _JSON, "accept": _JSON}
    key = deployment.api_key
    if key:
        if spec.auth in ("bearer", "bearer+x-api-key"):
            headers["authorization"] = "Bearer " + key
        if spec.auth in ("x-api-key", "bearer+x-api-key"):
            headers["x-api-key"] = key
        if spec.auth == "api-key":
            headers["api-key"] = key
    if spec.extra_headers:  # a row's own headers: lower-case names, like routerlib's
        headers.update(spec.extra_headers)
    if deployment.headers:
        merge_headers(headers, deployment.headers)
    return headers


def merge_headers(headers: dict[str, str], extra: Mapping[str, str]) -> None:
    """Add ``extra`` to ``headers``, a name given again in another case replacing the first:
    ``Authorization`` from the caller replaces routerlib's ``authorization`` rather than both
    being sent (a server would take either)."""
    for name, value in extra.items():
        if name not in headers:
            lower = name.lower()
            for existing in [k for k in headers if k.lower() == lower]:
                del headers[existing]
        headers[name] = value


def request_body(request: ChatRequest, params: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The OpenAI-format JSON body: model, messages or prompt, params, stream flags, extra_body."""
    body: dict[str, Any] = {"model": deployment.model}
    if request.prompt is not None:
        body["prompt"] = request.prompt if isinstance(request.prompt, str) else list(request.prompt)
    else:
        body["messages"] = request.messages
    body.update(params)
    if request.stream:
        body["stream"] = True
        if "stream_options" not in deployment.spec.unsupported:
            # Always ask for usage so that cost is exact; the usage chunk reaches the caller
            # only if they asked for it (see streaming.py).
            body["stream_options"] = {**(request.stream_options or {}), "include_usage": True}
    elif "stream_options" in body:
        # OpenAI answers 400 to stream_options without stream=true; it means nothing there.
        del body["stream_options"]
    if request.extra_body:
        body.update(request.extra_body)
    return body


class OpenAICompatAdapter:
    """Adapter for the OpenAI chat and text completion formats."""

    chat_path = "/chat/completions"
    text_path = "/completions"
    embeddings_path = "/embeddings"
    #: The model travels in the JSON body, not in the URL (Azure's subclass says otherwise).
    model_in_url = False
    #: Takes text_completion() prompts as they are (chat-only adapters get them as a message).
    accepts_prompt = True

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        path = self.text_path if request.prompt is not None else self.chat_path
        body = request_body(request, params, deployment)
        try:
            data = pydantic_core.to_json(body)
        except ValueError as exc:
            raise unserialisable(exc) from None
        return HTTPRequest("POST", deployment.api_base.rstrip("/") + path,
                           auth_headers(deployment.spec, deployment), data)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes,
                       request: ChatRequest, deployment: Deployment) -> ModelResponse | TextCompletion:
        model = TextCompletion if request.prompt is not None else ModelResponse
        try:
            response = model.model_validate_json(body)
        except ValidationError as exc:
            raise error_in_body(body, deployment, headers, "the provider's answer is not a valid "
                                "completion") from exc
        if not response.choices:  # nothing to return: as unusable as a body without choices
            raise unreadable_body("the provider's answer has no choices", body,
                                  provider=deployment.provider, model=deployment.model, headers=headers)
        return response

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes,
                    deployment: Deployment) -> APIError:
        return build_error(status, headers, body, provider=deployment.provider, model=deployment.model)

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        return OpenAIStreamParser(deployment, text=request.prompt is not None)

    # -- embeddings (platform.openai.com/docs/api-reference/embeddings/create)
    def build_embedding_request(self, request: EmbeddingRequest, params: dict[str, Any],
                                deployment: Deployment) -> HTTPRequest:
        body = dump_body(embedding_body(request, params, deployment))
        return HTTPRequest("POST", deployment.api_base.rstrip("/") + self.embeddings_path,
                           auth_headers(deployment.spec, deployment), body)

    def parse_embedding_response(self, status: int, headers: Mapping[str, str], body: bytes,
                                 request: EmbeddingRequest, deployment: Deployment) -> EmbeddingResponse:
        try:
            response = EmbeddingResponse.model_validate_json(body)
        except ValidationError as exc:
            raise error_in_body(body, deployment, headers, "the provider's answer is not a valid list of "
                                "embeddings") from exc
        return in_input_order(response, request, deployment, body, headers)


def embedding_body(request: EmbeddingRequest, params: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The OpenAI-format embeddings body: model, input, the selected params, extra_body."""
    body: dict[str, Any] = {"model": deployment.model, "input": request.input, **params}
    if request.extra_body:
        body.update(request.extra_body)
    return body


def in_input_order(response: EmbeddingResponse, request: EmbeddingRequest, deployment: Deployment,
                   body: bytes, headers: Mapping[str, str]) -> EmbeddingResponse:
    """The answer with one embedding per input, sorted by ``index`` (OpenAI sends them in order;
    a gateway need not); a count that does not match the inputs is an unreadable answer."""
    data = response.data
    if len(data) != request.count:
        raise unreadable_body(f"the provider's answer has {len(data)} embeddings for {request.count} inputs",
                              body, provider=deployment.provider, model=deployment.model, headers=headers)
    if any(item.index != i for i, item in enumerate(data)):
        data.sort(key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(data))):
            raise unreadable_body("the provider's answer has embedding indexes that match no input", body,
                                  provider=deployment.provider, model=deployment.model, headers=headers)
    return response


class OpenAIStreamParser:
    """Parses ``data: {...}`` events until ``data: [DONE]``."""

    def __init__(self, deployment: Deployment, *, text: bool = False) -> None:
        self.done = False
        self._deployment = deployment
        self._model: type[ChatCompletionChunk] | type[TextCompletion] = (
            TextCompletion if text else ChatCompletionChunk)

    def feed(self, event: str | None, data: bytes) -> list[Any]:
        # [DONE] with trailing whitespace ("data: [DONE] ") ends a stream too.
        if data.startswith(b"[DONE]") and (len(data) == 6 or not data[6:].strip()):
            self.done = True
            return []
        try:
            chunk = self._model.model_validate_json(data)
        except ValidationError as exc:
            raise error_in_body(data, self._deployment, {}, "malformed stream chunk") from exc
        if not chunk.choices and chunk.usage is None and chunk.model_extra and "error" in chunk.model_extra:
            raise error_in_body(data, self._deployment, {}, "malformed stream chunk")
        return [chunk]


def error_in_body(raw: bytes, deployment: Deployment, headers: Mapping[str, str], reason: str) -> APIError:
    """The error a 2xx body or a stream event carries (``{"error": ...}``), typed like any other;
    else, for a body that is simply unreadable, a retryable APIResponseValidationError."""
    parsed = decode_error_body(raw)[2]
    if isinstance(parsed, Mapping) and "error" in parsed:
        status = _error_status(parsed["error"])
        return build_error(status, headers, raw, provider=deployment.provider, model=deployment.model)
    return unreadable_body(reason, raw, provider=deployment.provider, model=deployment.model, headers=headers)


def _error_status(error: Any) -> int:
    """An error inside a 2xx carries no HTTP status of its own: use the error's code when numeric."""
    code = error.get("code") if isinstance(error, Mapping) else None
    if isinstance(code, int) and 400 <= code < 600:
        return code
    return 500
