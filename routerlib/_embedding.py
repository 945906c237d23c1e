"""The validated embedding request: ``embedding(model, input, **params)``, checked once, frozen.

An embedding call runs on the same core as a chat call (plan, budget, retries, fallbacks,
cost, ledger, observers); only its request and its adapter methods differ. ``EmbeddingRequest``
carries ``input`` where a chat request carries ``messages``, plus the three OpenAI embedding
parameters, and every routing, connection, retry, price and testing field of ``BaseRequest``::

    input             "text" | ["text", ...] | [token, ...] | [[token, ...], ...]
    dimensions        int >= 1 (text-embedding-3 and later; Gemini's outputDimensionality)
    encoding_format   "float" | "base64"
    user              str (OpenAI's end-user id; also attributes spend, as for chat)

What OpenAI allows (platform.openai.com/docs/api-reference/embeddings/create) is checked here,
before anything is sent: no empty string and no empty list, at most 2048 inputs, token ids
non-negative integers. Unknown names and bad values raise ``InvalidRequestError``, exactly as
for completions.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pydantic_core
from pydantic import Field, ValidationError, field_validator

from ._base_request import BaseRequest
from ._mock_rules import check_mock_error_name
from ._request import (
    ALIASES,
    PROVIDER_PREFIX,
    ChatRequest,
    _check_json,
    _fold_aliases,
    _prefix_provider,
    _unknown_parameter_error,
    _validation_error,
)

__all__ = ["EMBEDDING_PARAMS", "MAX_INPUTS", "EmbeddingInput", "EmbeddingRequest", "Request",
           "build_embedding_request"]

#: Parameters of an embedding call forwarded to the provider.
EMBEDDING_PARAMS: tuple[str, ...] = ("dimensions", "encoding_format", "user")
#: OpenAI: "any array must be 2048 dimensions or less".
MAX_INPUTS = 2048

EmbeddingInput = str | tuple[str, ...] | tuple[int, ...] | tuple[tuple[int, ...], ...]


class EmbeddingRequest(BaseRequest):
    """One embedding call, validated. Build it with ``build_embedding_request``, never by hand."""

    operation: ClassVar[Literal["embeddings"]] = "embeddings"
    provider_params: ClassVar[tuple[str, ...]] = EMBEDDING_PARAMS
    #: An embedding is never streamed and never carries tool calls (the core reads both flags).
    stream: ClassVar[Literal[False]] = False
    mock_tool_calls: ClassVar[None] = None

    input: EmbeddingInput
    dimensions: int | None = Field(default=None, strict=True, ge=1)
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None
    # -- testing: the vector every input gets, or an exception (or "litellm.RateLimitError", ...)
    mock_response: tuple[float, ...] | str | Exception | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _check_input(cls, value: Any) -> Any:
        return checked_input(value)

    @field_validator("mock_response", mode="before")
    @classmethod
    def _check_mock_response(cls, value: Any) -> Any:
        if value is None or isinstance(value, Exception):
            return value
        if isinstance(value, str):
            check_mock_error_name(value, embedding=True)
            return value
        if isinstance(value, list | tuple) and value and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in value):
            return tuple(float(x) for x in value)
        raise ValueError("for embedding(), give a list of floats (the vector each input gets), an exception, "
                         "or an error name such as 'litellm.RateLimitError'")

    @property
    def count(self) -> int:
        """How many embeddings the answer must hold: one per input."""
        value = self.input
        if isinstance(value, str) or (value and isinstance(value[0], int)):
            return 1
        return len(value)

    def texts(self) -> tuple[str, ...] | None:
        """The inputs as a tuple of strings, or None when they are token ids."""
        value = self.input
        if isinstance(value, str):
            return (value,)
        if value and isinstance(value[0], str):
            return tuple(str(v) for v in value)
        return None

    def token_lists(self) -> tuple[tuple[int, ...], ...]:
        """The inputs as token-id lists (empty when they are strings)."""
        value = self.input
        if isinstance(value, str) or not value or isinstance(value[0], str):
            return ()
        if isinstance(value[0], int):
            return (tuple(int(v) for v in value),)
        return tuple(tuple(v) for v in value)


#: Either kind of request, as the call core, planning and observers see it.
Request = ChatRequest | EmbeddingRequest


def checked_input(value: Any) -> Any:
    """``input`` as a str or a tuple, or ValueError saying what is allowed (before pydantic's check)."""
    allowed = "a string, a list of strings, a list of token ids, or a list of token-id lists"
    if isinstance(value, str):
        if not value:
            raise ValueError("input='': an empty string cannot be embedded")
        return value
    if not isinstance(value, list | tuple):
        raise ValueError(f"input: must be {allowed}, got {type(value).__name__}")
    if not value:
        raise ValueError("input=[]: give at least one input")
    if len(value) > MAX_INPUTS:
        raise ValueError(f"input: at most {MAX_INPUTS} inputs per call, got {len(value)}")
    first = value[0]
    if isinstance(first, str):
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise ValueError(f"input[{i}]: every input of a list of strings must be a non-empty string")
        return tuple(value)
    if _is_token(first):
        _check_tokens(value, "input")
        return tuple(value)
    if isinstance(first, list | tuple):
        for i, item in enumerate(value):
            if not isinstance(item, list | tuple) or not item:
                raise ValueError(f"input[{i}]: every input of a list of token-id lists must be a non-empty list")
            _check_tokens(item, f"input[{i}]")
        return tuple(tuple(item) for item in value)
    raise ValueError(f"input[0]: must be {allowed}; got a list of {type(first).__name__}")


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_tokens(tokens: Any, where: str) -> None:
    for j, token in enumerate(tokens):
        if not _is_token(token):
            raise ValueError(f"{where}[{j}]: token ids are integers >= 0, got {type(token).__name__}")
        if token < 0:
            raise ValueError(f"{where}[{j}]={token}: token ids are integers >= 0")


FIELDS = frozenset(EmbeddingRequest.model_fields)
ACCEPTED = FIELDS | set(ALIASES) | {PROVIDER_PREFIX}


def build_embedding_request(params: dict[str, Any]) -> EmbeddingRequest:
    """Validate embedding call parameters into an ``EmbeddingRequest``, or raise ``InvalidRequestError``."""
    unknown = params.keys() - ACCEPTED
    if unknown:
        raise _unknown_parameter_error(sorted(unknown), ACCEPTED)
    if params.keys() & ALIASES.keys():
        params = _fold_aliases(dict(params))
    if PROVIDER_PREFIX in params:
        params = _prefix_provider(dict(params))
    try:
        request = EmbeddingRequest.model_validate(params)
    except ValidationError as exc:
        error = _validation_error(exc, params)
    else:
        # As for chat (``_request.build_request``): every JSON-bound value must serialise (no lone
        # surrogate in an input, no NaN in extra_body), checked in C, the culprit named if not.
        values = request.__dict__
        try:
            text = pydantic_core.to_json([values[name] for name in _JSON_FIELDS if values[name] is not None])
        except ValueError:
            text = b"NaN"
        if b"NaN" in text or b"Infinity" in text:
            _check_json(request, _JSON_FIELDS)
        return request
    raise error  # outside the except block: pydantic's error holds the whole input (the key too)


_JSON_FIELDS = ("input", "extra_body", "metadata", "user")

