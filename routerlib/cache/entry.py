"""The stored value: one answer, as bytes every backend keeps as they are. Two JSON lines::

    [format, routerlib version, key, kind, provider, model, created, usage_estimated,
     cost, source, estimated, priced_as]
    <the response's OpenAI JSON, usage included>

for example::

    [1,"0.1.0","v1:0.1.0:default:9f2c…","chat","openai","gpt-4o-mini",1764863000.5,false,
     "0.000123","model_map",false,"gpt-4o-mini"]
    {"id":"chatcmpl-…","object":"chat.completion","choices":[…],"usage":{…},…}

The head is an array (the fields in this order) because it is read on every hit and an array
decodes fastest; the response is parsed and validated in one step by pydantic's JSON
validator. ``kind`` is "chat", "text" or "embedding"; ``created`` is epoch seconds (for s-maxage);
``cost`` is what the answer cost when it was fetched (exact decimal text; null when no price
was known), so that a hit can say what it saved; ``source``, ``estimated`` and ``priced_as``
say how that cost was priced, as on the original response.
The key is stored inside the value and checked on read, with the format and the routerlib
version: an entry written by another version, under another key, or of the wrong shape
(corrupt, truncated, foreign) is *invalid*: never returned, and the caller deletes it so
that the next answer replaces it. Nothing a provider could have put in a response is trusted
until pydantic has validated it into a ``ModelResponse`` / ``TextCompletion`` /
``EmbeddingResponse`` again.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from decimal import Decimal
from typing import Literal, cast

import pydantic_core
from pydantic import BaseModel, ValidationError

from ..types import Cost, EmbeddingResponse, ModelResponse, TextCompletion
from .keys import FORMAT_VERSION

__all__ = ["Answer", "CachedAnswer", "InvalidEntryError", "decode", "encode", "kind_of"]

Kind = Literal["chat", "text", "embedding"]
#: What a stored answer is: a chat completion, a raw-prompt completion, or an embedding.
Answer = ModelResponse | TextCompletion | EmbeddingResponse


_ZERO = Decimal(0)
_HEAD_FIELDS = 12
_Source = Literal["model_map", "override", "per_second", "unknown"]
_SOURCES = frozenset({"model_map", "override", "per_second", "unknown"})
_KINDS: tuple[Kind, ...] = ("chat", "text", "embedding")
_MODELS: dict[str, type[Answer]] = {"chat": ModelResponse, "text": TextCompletion, "embedding": EmbeddingResponse}
#: A saved cost has at most this many digits before the point (a trillion), and this many after it.
_MAX_COST_DIGITS, _MAX_COST_PLACES = 12, 40
#: A head is a dozen short fields (the key is ~100 characters); anything longer is not one of ours,
#: and is refused before it is parsed (json.loads of 100,000 "[" recurses until RecursionError).
_MAX_HEAD_BYTES = 4096


class CachedAnswer:
    """A valid entry, decoded: a fresh response object for each reader. (A plain slotted class: a
    frozen dataclass costs a microsecond more to build, on every hit.)"""

    __slots__ = ("cost", "created", "model", "provider", "raw", "response")

    def __init__(self, response: Answer, provider: str, model: str, cost: Cost,
                 created: float, raw: bytes) -> None:
        self.response = response
        self.provider = provider
        self.model = model
        #: The cost of this hit: total 0, ``saved`` the cost the answer had (None: it was unknown).
        self.cost = cost
        #: Epoch seconds when it was stored (for s-maxage).
        self.created = created
        #: The encoded entry, as read (a follower of a single flight decodes the same bytes).
        self.raw = raw

    def age(self, now: float) -> float:
        return max(0.0, now - self.created)


def kind_of(response: Answer) -> Kind:
    if isinstance(response, TextCompletion):
        return "text"
    return "embedding" if isinstance(response, EmbeddingResponse) else "chat"


def _version() -> str:
    return str(getattr(sys.modules.get("routerlib"), "__version__", "0"))


def encode(key: str, response: Answer, *, provider: str, model: str,
           cost: Cost | None, created: float) -> bytes:
    """The stored bytes of ``response`` under ``key``.

    The response's own JSON is produced by pydantic (fast, and only the OpenAI fields: the
    routerlib fields are excluded from dumps).
    """
    usage = response.usage
    estimated = usage is not None and usage.estimated
    kind = kind_of(response)
    head: tuple[object, ...]
    if cost is None:
        head = (FORMAT_VERSION, _version(), key, kind, provider, model, created, estimated,
                None, "unknown", False, None)
    else:
        total = None if cost.total is None else format(cost.total, "f")
        head = (FORMAT_VERSION, _version(), key, kind, provider, model, created, estimated, total, cost.source,
                cost.estimated, cost.priced_as)
    # JSON never holds a raw newline (they are escaped), so the first b"\n" ends the head. pydantic's
    # Rust serializer writes both lines (several times faster than json; routerlib's fields excluded).
    return pydantic_core.to_json(head) + b"\n" + response.__pydantic_serializer__.to_json(response)


def _hit_cost(text: object, source: object, estimated: object, priced_as: object) -> Cost:
    """The cost of a hit from the head's fields, each type-checked before it is used (a ``source``
    that is a list would make ``in _SOURCES`` raise TypeError rather than refuse the entry)."""
    if text is not None and not isinstance(text, str):
        raise InvalidEntryError("a cost that is not decimal text")
    try:
        saved = None if text is None else Decimal(text)
    except ArithmeticError:
        raise InvalidEntryError("a cost that is not decimal text") from None
    if saved is not None and (not saved.is_finite() or saved < 0):
        raise InvalidEntryError("a negative or non-finite cost")
    if saved is not None and (saved.adjusted() > _MAX_COST_DIGITS
                              or int(saved.as_tuple().exponent) < -_MAX_COST_PLACES):
        # 1E+999999999 is finite, but adding it to a total overflows the decimal context, and
        # 1E-999999999 formats as a billion digits: both would fail the call later, not here.
        raise InvalidEntryError("a cost out of range")
    if not isinstance(source, str) or source not in _SOURCES or not isinstance(estimated, bool) \
            or not (priced_as is None or isinstance(priced_as, str)):
        raise InvalidEntryError("cost fields of the wrong shape")
    # Validated construction: pydantic's model_construct deep-copies every default and is slower.
    return Cost(total=_ZERO, saved=saved, source=cast(_Source, source), estimated=estimated, priced_as=priced_as)


class InvalidEntryError(ValueError):
    """A stored value that must not be returned (see the module docstring)."""


_Head = tuple[int, str, str, Kind, str, str, float, bool, Cost]


@functools.lru_cache(maxsize=4096)
def _parse_head(head: bytes) -> _Head:
    """The head's fields, each type-checked, and the hit's cost built (or ``InvalidEntryError``).

    Memoized by the head's exact bytes: a popular entry is parsed once, not on every hit (its
    response is still validated afresh each time). What depends on the reader -- the routerlib
    version, the key, the kind -- is checked by ``decode`` on every read, never memoized; a head
    that is refused raises, so it is never memoized either.
    """
    if len(head) > _MAX_HEAD_BYTES:
        raise InvalidEntryError("not an entry head (too long)")
    try:
        data = json.loads(head.decode())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidEntryError("not JSON") from None
    if not isinstance(data, list) or len(data) != _HEAD_FIELDS:
        raise InvalidEntryError("not an entry head")
    version, routerlib_version, stored_key, stored_kind, provider, model, created, usage_estimated = data[:8]
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(routerlib_version, str) \
            or not isinstance(stored_key, str) or not isinstance(stored_kind, str) or stored_kind not in _KINDS:
        raise InvalidEntryError("format, version, key or kind of the wrong shape")
    if not isinstance(provider, str) or not isinstance(model, str):
        raise InvalidEntryError("provider or model missing")
    if isinstance(created, bool) or not isinstance(created, int | float) or not math.isfinite(created):
        raise InvalidEntryError("creation time missing")
    if created > time.time() + _CLOCK_SKEW:  # its age would read 0: it would pass every s-maxage
        raise InvalidEntryError("created in the future")
    if not isinstance(usage_estimated, bool):
        raise InvalidEntryError("usage_estimated of the wrong shape")
    return (version, routerlib_version, stored_key, stored_kind, provider, model, float(created),
            usage_estimated, _hit_cost(*data[8:]))


#: How far ahead of this host's clock another host's entry may be stamped (clocks differ a little).
_CLOCK_SKEW = 300.0


def decode(key: str, raw: bytes, kind: Kind, inputs: int | None = None) -> CachedAnswer:
    """The answer stored in ``raw`` for ``key``, or ``InvalidEntryError`` saying why it cannot be used.
    ``inputs``: an embedding call's input count (its answer holds one vector per input, in order).

    Every failure while decoding or validating is an ``InvalidEntryError`` (the caller then treats
    the entry as a miss and deletes it): a forged or corrupt entry must never fail the call.
    """
    try:
        return _decode(key, raw, kind, inputs)
    except InvalidEntryError:
        raise
    except Exception as exc:  # anything else a hostile entry can provoke: still only a bad entry
        raise InvalidEntryError(f"undecodable ({type(exc).__name__})") from None


def _decode(key: str, raw: bytes, kind: Kind, inputs: int | None) -> CachedAnswer:
    head, _, body = raw.partition(b"\n")
    version, routerlib_version, stored_key, stored_kind, provider, model, created, usage_estimated, cost = \
        _parse_head(head)
    if version != FORMAT_VERSION or routerlib_version != _version():
        raise InvalidEntryError("written by another routerlib version or format")
    if stored_key != key:
        raise InvalidEntryError("stored under another key")
    if stored_kind != kind:
        raise InvalidEntryError(f"a {stored_kind!r} answer, {kind!r} expected")
    try:
        response = _MODELS[kind].model_validate_json(body)
    except (ValidationError, ValueError, RecursionError):
        raise InvalidEntryError("the response does not validate") from None
    if isinstance(response, EmbeddingResponse):
        # Stored from an answer already checked and put in input order (``in_input_order``): anything
        # else is not what routerlib wrote, and would pair vectors with the wrong inputs.
        if not response.data or (inputs is not None and [e.index for e in response.data] != list(range(inputs))):
            raise InvalidEntryError("embeddings that are not one per input, in order")
    elif not response.choices:
        raise InvalidEntryError("a response without choices")
    if _sets_routerlib_fields(response) or _sets_routerlib_fields(response.usage):
        raise InvalidEntryError("the response sets routerlib's own fields")
    if response.usage is not None and usage_estimated:
        response.usage.estimated = True
    return CachedAnswer(response, provider, model, cost, created, raw)


def _sets_routerlib_fields(model: BaseModel | None) -> bool:
    """Whether a stored body gave a value to one of routerlib's own fields (``cost``, ``attempts``,
    ``ledger_error``, ``cache_hit``, ``usage.estimated``...): ``encode`` never writes them (they are
    excluded from dumps), so a body that has them was forged, and a hit must not report them."""
    if model is None:
        return False
    fields = type(model).model_fields
    return any(fields[name].exclude for name in model.model_fields_set if name in fields)
