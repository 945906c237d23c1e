"""Helpers shared by the native (non-OpenAI) adapters: bodies, content parts, tool calls, chunks.

The native adapters translate OpenAI-shaped requests into another wire format and the
answers back. The pieces both of them need live here so that the two modules agree on the
details (what a data URL is, how a bad tool-call argument string is reported, what a stream
chunk looks like) and neither imports the other.

Measured choices (benchmarks/, and the 1.2x budget against an OpenAI-compatible call):
bodies are parsed by ``pydantic_core.from_json`` (about 3x faster than ``json.loads``);
responses and chunks are built as plain dicts and validated once, in strict mode, by
pydantic-core: one pass in Rust instead of a Python constructor call per nested model, and
strict validation of a dict is about 40% cheaper than lax. The dicts are built here with
exact types, so strict passes; a provider that sends, say, ``20.0`` for a token count falls
back to lax validation rather than failing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from ..exceptions import InvalidRequestError, UnsupportedParamsError
from ..types import ChatCompletionChunk
from ._errors import unreadable_body

_M = TypeVar("_M", bound=BaseModel)

__all__ = [
    "ChunkFactory",
    "dump_body",
    "image_url_of",
    "load_arguments",
    "load_json",
    "new_id",
    "parse_json",
    "requested_max_tokens",
    "split_data_url",
    "stop_sequences",
    "text_of",
    "unserialisable",
    "unsupported_part",
    "validated",
]


def dump_body(body: Mapping[str, Any]) -> bytes:
    """The JSON request body (pydantic-core's serialiser: the measured fast path).

    Validation refuses what cannot serialise before this runs; a request built another way
    (a router's, an adapter's own additions) still fails typed, before anything is sent.
    """
    try:
        return pydantic_core.to_json(body)
    except ValueError as exc:
        raise unserialisable(exc) from None


def unserialisable(exc: ValueError) -> InvalidRequestError:
    """The error for a request body that is not JSON (not chained: the cause quotes the body)."""
    reason = str(exc).removeprefix("Error serializing to JSON: ")[:200]
    return InvalidRequestError(f"the request body cannot be sent as JSON: {reason}", code="invalid_parameter")


def parse_json(data: bytes) -> Any:
    """JSON bytes to Python values (raises ValueError on bad JSON)."""
    return pydantic_core.from_json(data)


def load_json(body: bytes, *, provider: str, model: str,
              headers: Mapping[str, str] | None = None, what: str = "the provider's answer") -> dict[str, Any]:
    """A 2xx body (or one stream event) as a dict, parsed once; else a retryable unreadable answer."""
    try:
        data = pydantic_core.from_json(body)
    except ValueError as exc:
        raise unreadable_body(f"{what} is not JSON", body, provider=provider, model=model,
                              headers=headers) from exc
    if not isinstance(data, dict):
        raise unreadable_body(f"{what} is not a JSON object", body, provider=provider, model=model,
                              headers=headers)
    return data


def validated(cls: type[_M], data: dict[str, Any], *, provider: str, model: str) -> _M:
    """``cls`` from a dict built by an adapter: strict (fast) first, lax if a type is loose."""
    try:
        return cls.model_validate(data, strict=True)
    except ValidationError:
        pass
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise unreadable_body(f"the provider's answer does not fit a {cls.__name__}",
                              json.dumps(data, default=str).encode(), provider=provider,
                              model=model) from exc


def new_id(prefix: str) -> str:
    """A fresh identifier for objects the provider did not name (responses, tool calls)."""
    return prefix + uuid.uuid4().hex[:24]


def requested_max_tokens(params: Mapping[str, Any]) -> int | None:
    """The caller's output cap: max_completion_tokens (OpenAI's current name) wins over max_tokens."""
    value = params.get("max_completion_tokens") or params.get("max_tokens")
    return int(value) if value else None


def stop_sequences(stop: str | Sequence[str]) -> list[str]:
    """OpenAI's ``stop`` (a string or up to four strings) as a list."""
    return [stop] if isinstance(stop, str) else list(stop)


def split_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL, else None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")] or "application/octet-stream", data


def image_url_of(part: Mapping[str, Any]) -> str:
    """The URL of an OpenAI ``image_url`` part (either ``{"url": ...}`` or a bare string)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequestError("an image_url content part needs a url", code="invalid_content")
    return url


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content if p.get("type") == "text")


def load_arguments(arguments: Any, *, provider: str) -> Any:
    """A tool call's arguments (OpenAI sends a JSON string) as the object the provider wants."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not arguments:
        return {}
    try:
        return json.loads(arguments)
    except ValueError as exc:
        raise InvalidRequestError(f"a tool call's arguments are not valid JSON ({provider} needs an "
                                  f"object): {str(arguments)[:100]!r}", provider=provider,
                                  code="invalid_tool_arguments") from exc


def unsupported_part(kind: str, provider: str) -> UnsupportedParamsError:
    """The error for a content part type the provider cannot take."""
    return UnsupportedParamsError(f"{provider} does not accept {kind!r} content parts", provider=provider,
                                  code="unsupported_content")


class ChunkFactory:
    """Builds OpenAI-shaped stream chunks for one stream (same id, model and created throughout)."""

    __slots__ = ("created", "id", "model", "provider")

    def __init__(self, ident: str, model: str, created: int, provider: str) -> None:
        self.id = ident
        self.model = model
        self.created = created
        self.provider = provider

    def choices(self, choices: list[dict[str, Any]]) -> ChatCompletionChunk:
        """A chunk from choice dicts ({"index", "delta", "finish_reason"})."""
        return validated(ChatCompletionChunk, {
            "id": self.id, "created": self.created, "model": self.model, "choices": choices},
            provider=self.provider, model=self.model)

    def delta(self, delta: dict[str, Any], finish: str | None = None, index: int = 0) -> ChatCompletionChunk:
        """A one-choice chunk."""
        return self.choices([{"index": index, "delta": delta, "finish_reason": finish}])

    def usage(self, usage: dict[str, Any]) -> ChatCompletionChunk:
        """The usage-only chunk that ends an OpenAI stream (``choices=[]``)."""
        return validated(ChatCompletionChunk, {
            "id": self.id, "created": self.created, "model": self.model, "choices": [], "usage": usage},
            provider=self.provider, model=self.model)
