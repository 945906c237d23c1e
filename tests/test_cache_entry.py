"""The stored value: round trip, and every kind of foreign or corrupt entry refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import routerlib
from routerlib.cache.entry import InvalidEntryError, decode, encode
from routerlib.types import Cost, EmbeddingResponse, ModelResponse, TextCompletion

KEY = "v1:0.1.0:default:abc"
COST = Cost(total=Decimal("0.000123"), input=Decimal("0.0001"), output=Decimal("0.000023"), source="model_map",
            priced_as="gpt-4o-mini")


def chat() -> ModelResponse:
    return ModelResponse.model_validate({
        "id": "chatcmpl-1", "created": 1700000000, "model": "gpt-4o-mini", "system_fingerprint": "fp",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi there",
                     "tool_calls": [{"id": "c1", "type": "function",
                                     "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
                     "logprobs": {"content": []}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                  "prompt_tokens_details": {"cached_tokens": 2}},
        "service_tier": "default"})


def test_round_trip_keeps_the_openai_body_usage_and_cost() -> None:
    response = chat()
    response.cost = COST  # routerlib fields are not stored
    response.provider = "openai"
    raw = encode(KEY, response, provider="openai", model="gpt-4o-mini", cost=COST, created=1.5)
    answer = decode(KEY, raw, "chat")
    assert answer.response.model_dump() == chat().model_dump()
    assert answer.response.model_extra == {"service_tier": "default"}
    assert answer.cost.total == 0 and answer.cost.saved == COST.total and answer.cost.source == "model_map"
    assert answer.cost.priced_as == "gpt-4o-mini" and answer.cost.input == 0
    assert answer.provider == "openai" and answer.model == "gpt-4o-mini"
    assert answer.created == 1.5 and answer.raw == raw
    assert answer.response.cost is None and answer.response.attempts == ()
    assert decode(KEY, raw, "chat").response is not answer.response  # every reader gets its own


def test_text_completions_and_estimated_usage_round_trip() -> None:
    text = TextCompletion.model_validate({"id": "c", "model": "m", "choices": [{"text": "hey", "index": 0}],
                                          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    text.usage.estimated = True  # type: ignore[union-attr]
    answer = decode(KEY, encode(KEY, text, provider="p", model="m", cost=None, created=0), "text")
    assert isinstance(answer.response, TextCompletion) and answer.response.usage.estimated  # type: ignore[union-attr]
    assert answer.cost.total == 0 and answer.cost.saved is None and answer.cost.source == "unknown"


def test_embeddings_round_trip_and_are_never_read_as_another_kind() -> None:
    vectors = EmbeddingResponse.model_validate({
        "object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -1.5]},
                 {"object": "embedding", "index": 1, "embedding": "AACAPw=="}]})
    raw = encode(KEY, vectors, provider="openai", model="text-embedding-3-small", cost=COST, created=2.0)
    answer = decode(KEY, raw, "embedding")
    assert isinstance(answer.response, EmbeddingResponse)
    assert answer.response.model_dump() == vectors.model_dump() and answer.cost.saved == COST.total
    for other in ("chat", "text"):
        with pytest.raises(InvalidEntryError, match="expected"):
            decode(KEY, raw, other)  # type: ignore[arg-type]
    assert decode(KEY, raw, "embedding", inputs=2).response.data[1].index == 1
    for inputs in (1, 3):  # one vector per input, or the entry is not the answer to this request
        with pytest.raises(InvalidEntryError, match="one per input"):
            decode(KEY, raw, "embedding", inputs=inputs)
    body = raw.partition(b"\n")[2]
    for forged in (b'{"object":"list","data":[],"model":"m"}',
                   body.replace(b'"index":0', b'"index":9'), body.replace(b'"index":1', b'"index":0')):
        with pytest.raises(InvalidEntryError, match="one per input"):
            decode(KEY, raw.replace(body, forged), "embedding", inputs=2)


FIELDS = ("format", "routerlib", "key", "kind", "provider", "model", "created", "usage_estimated", "cost", "source",
          "estimated", "priced_as")


def _mutated(**changes: object) -> bytes:
    head, _, body = encode(KEY, chat(), provider="openai", model="gpt-4o-mini", cost=COST, created=1).partition(b"\n")
    data = json.loads(head)
    if "response" in changes:
        body = json.dumps(changes.pop("response")).encode()
    for name, value in changes.items():
        data[FIELDS.index(name)] = value
    return json.dumps(data).encode() + b"\n" + body


@pytest.mark.parametrize(("raw", "why"), [
    (b"", "not JSON"), (b"\xff\xfe", "not JSON"), (b"[1, 2]", "not an entry head"),
    (b'{"format": 1}', "not an entry head"),
    (encode(KEY, chat(), provider="openai", model="m", cost=None, created=1)[:-20], "does not validate"),
    (encode(KEY, chat(), provider="openai", model="m", cost=None, created=1)[:50], "not JSON"),
    (encode(KEY, chat(), provider="openai", model="m", cost=None, created=1).replace(b"\n", b" "), "not JSON"),
    (_mutated(format=2), "another routerlib version"), (_mutated(routerlib="0.0.1"), "another routerlib version"),
    (_mutated(key="v1:0.1.0:default:other"), "another key"), (_mutated(kind="text"), "'text' answer"),
    (_mutated(provider=None), "provider or model"), (_mutated(created="yesterday"), "creation time"),
    (_mutated(created=float("inf")), "creation time"),
    (_mutated(created=4e9), "created in the future"),  # its age would read 0 and pass every s-maxage
    (_mutated(response={"id": "x", "choices": "nope"}), "does not validate"),
    (_mutated(response={"id": "x", "choices": []}), "without choices"),
    (_mutated(cost="-1"), "negative"), (_mutated(cost="NaN"), "non-finite"), (_mutated(cost="abc"), "decimal text"),
    (_mutated(cost=1.5), "decimal text"), (_mutated(source="free"), "wrong shape"),
    (_mutated(estimated="no"), "wrong shape"), (_mutated(priced_as=3), "wrong shape"),
])
def test_corrupt_or_foreign_entries_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(InvalidEntryError, match=why):
        decode(KEY, raw, "chat")


def test_an_entry_of_another_routerlib_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = encode(KEY, chat(), provider="openai", model="m", cost=None, created=1)
    monkeypatch.setattr(routerlib, "__version__", "9.0.0")
    with pytest.raises(InvalidEntryError, match="version"):
        decode(KEY, raw, "chat")


def test_a_hit_costs_nothing_and_says_what_it_saved() -> None:
    cost = decode(KEY, encode(KEY, chat(), provider="p", model="m", cost=COST, created=1), "chat").cost
    assert cost.total == 0 and cost.saved == Decimal("0.000123") and cost.source == "model_map"
    assert cost.input == 0 and cost.output == 0 and cost.estimated is False
    unknown = Cost(total=None, source="unknown")
    hit = decode(KEY, encode(KEY, chat(), provider="p", model="m", cost=unknown, created=1), "chat").cost
    assert hit.total == 0 and hit.saved is None
    assert (cost + COST).saved == Decimal("0.000123") and (hit + COST).saved is None


def _body(**fields: object) -> dict[str, object]:
    return {**json.loads(encode(KEY, chat(), provider="p", model="m", cost=None, created=1).partition(b"\n")[2]),
            **fields}


@pytest.mark.parametrize("raw", [
    _mutated(source=[]), _mutated(source={"a": 1}), _mutated(kind=[]), _mutated(kind={"chat": 1}),
    _mutated(key=["v1"]), _mutated(format=True), _mutated(format=[1]), _mutated(routerlib=["0"]),
    _mutated(usage_estimated="yes"), _mutated(usage_estimated=[]), _mutated(cost={"x": 1}),
    _mutated(cost=[]), _mutated(priced_as=[]), _mutated(priced_as={}), _mutated(estimated=[]),
    _mutated(cost="1e999999999"), _mutated(cost="1e-999999999"), _mutated(provider=[]),
    b"[" * 100_000 + b"\n{}", b'{"a":' * 100_000 + b"\n{}", b"[" + b" " * 10_000 + b"]\n{}",
    _mutated(response=_body(ledger_error="boom")), _mutated(response=_body(cache_hit=True)),
    _mutated(response=_body(cost={"total": "0"})), _mutated(response=_body(attempts=[])),
    _mutated(response=_body(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
                                   "estimated": True})),
])
def test_every_malformed_field_is_an_invalid_entry_never_another_error(raw: bytes) -> None:
    """A forged head field of another type (a list where ``in frozenset`` needs a hashable), a head nested
    deeply enough to exhaust recursion, a cost that overflows later, or a body setting routerlib's own fields:
    each an ``InvalidEntryError`` (a miss; the entry is deleted), never a TypeError or RecursionError
    that fails the call."""
    with pytest.raises(InvalidEntryError):
        decode(KEY, raw, "chat")
