"""The stored value: one answer, as bytes every backend keeps as they are.

::

    {"format": 1, "routerlib": "0.1.0", "key": "<the key it was stored under>",
     "kind": "chat" | "text", "provider": "openai", "model": "gpt-4o-mini",
     "created": <epoch seconds>, "usage_estimated": false,
     "cost": {"total": "0.000123", "input": "...", ..., "source": "model_map"} | null,
     "response": <the response's OpenAI JSON, usage included>}

``cost`` is what the answer cost when it was fetched, so that a hit can say what it saved.
The key is stored inside the value and checked on read, with the format and the routerlib
version: an entry written by another version, under another key, or of the wrong shape
(corrupt, truncated, foreign) is *invalid*: never returned, and the caller deletes it so
that the next answer replaces it. Nothing a provider could have put in a response is trusted
until pydantic has validated it into a ``ModelResponse`` / ``TextCompletion`` again.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import ValidationError

from ..types import Cost, ModelResponse, TextCompletion
from .keys import FORMAT_VERSION

__all__ = ["CachedAnswer", "InvalidEntryError", "decode", "encode", "kind_of", "saved_cost"]

Kind = Literal["chat", "text"]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A valid entry, decoded: a fresh response object for each reader."""

    response: ModelResponse | TextCompletion
    provider: str
    model: str
    #: What the answer cost when it was fetched (None: no price was known).
    cost: Cost | None
    #: Epoch seconds when it was stored (for s-maxage).
    created: float
    #: The encoded entry, as read (a follower of a single flight decodes the same bytes).
    raw: bytes

    def age(self, now: float) -> float:
        return max(0.0, now - self.created)


def kind_of(response: ModelResponse | TextCompletion) -> Kind:
    return "text" if isinstance(response, TextCompletion) else "chat"


def _version() -> str:
    return str(getattr(sys.modules.get("routerlib"), "__version__", "0"))


def encode(key: str, response: ModelResponse | TextCompletion, *, provider: str, model: str,
           cost: Cost | None, created: float) -> bytes:
    """The stored bytes of ``response`` under ``key``.

    The response's own JSON is produced by pydantic (fast, and only the OpenAI fields: the
    routerlib fields are excluded from dumps) and spliced in, not parsed and dumped again.
    """
    head = {
        "format": FORMAT_VERSION, "routerlib": _version(), "key": key, "kind": kind_of(response),
        "provider": provider, "model": model, "created": created,
        "usage_estimated": bool(response.usage is not None and response.usage.estimated),
        "cost": None if cost is None else cost.model_dump(mode="json"),
    }
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    return text[:-1].encode() + b',"response":' + response.model_dump_json().encode() + b"}"


class InvalidEntryError(ValueError):
    """A stored value that must not be returned (see the module docstring)."""


def decode(key: str, raw: bytes, kind: Kind) -> CachedAnswer:
    """The answer stored in ``raw`` for ``key``, or ``InvalidEntryError`` saying why it cannot be used."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidEntryError("not JSON") from None
    if not isinstance(data, dict):
        raise InvalidEntryError("not an object")
    if data.get("format") != FORMAT_VERSION or data.get("routerlib") != _version():
        raise InvalidEntryError("written by another routerlib version or format")
    if data.get("key") != key:
        raise InvalidEntryError("stored under another key")
    if data.get("kind") != kind:
        raise InvalidEntryError(f"a {data.get('kind')!r} answer, {kind!r} expected")
    provider, model, created = data.get("provider"), data.get("model"), data.get("created")
    if not isinstance(provider, str) or not isinstance(model, str):
        raise InvalidEntryError("provider or model missing")
    if isinstance(created, bool) or not isinstance(created, int | float) or not math.isfinite(created):
        raise InvalidEntryError("creation time missing")
    try:
        response = (TextCompletion if kind == "text" else ModelResponse).model_validate(data.get("response"))
        cost_data = data.get("cost")
        cost = None if cost_data is None else Cost.model_validate(cost_data)
    except ValidationError:
        raise InvalidEntryError("the response or cost does not validate") from None
    if not response.choices:
        raise InvalidEntryError("a response without choices")
    if cost is not None and cost.total is not None and (not cost.total.is_finite() or cost.total < 0):
        raise InvalidEntryError("a negative or non-finite cost")
    if response.usage is not None and data.get("usage_estimated") is True:
        response.usage.estimated = True
    return CachedAnswer(response, provider, model, cost, float(created), raw)


def saved_cost(stored: Cost | None) -> Cost:
    """The cost of a hit: nothing paid, and the stored total as ``saved`` (None if it was unknown)."""
    if stored is None:
        return Cost(total=Decimal(0), saved=None, source="unknown")
    return Cost(total=Decimal(0), saved=stored.total, source=stored.source, estimated=stored.estimated,
                priced_as=stored.priced_as)
