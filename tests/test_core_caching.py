"""The cache in the call core: a hit is an attempt that observers, the response and the ledger see;
misses store, streams store only when complete, errors never."""

from __future__ import annotations

import asyncio
import gc
from decimal import Decimal
from typing import Any

import pytest
from core_helpers import (
    KEY,
    MESSAGES,
    MODEL,
    async_client,
    chat_body,
    chunk,
    client,
    complete_stream,
    never_called,
    ok,
    sse,
    sse_response,
)

import routerlib
from routerlib.cache import MemoryCache
from routerlib.observe import AttemptEnd, AttemptStart, CallEnd, CallStart, Observer
from routerlib.spend import Budget, MemoryLedger
from routerlib.transport import HTTPRequest, HTTPResponse

PRICES = {"input_cost_per_token": "0.001", "output_cost_per_token": "0.002"}
USAGE_COST = Decimal("0.015")  # 9 prompt tokens x 0.001 + 3 completion tokens x 0.002


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_call_start(self, event: CallStart) -> None:
        self.events.append(event)

    def on_attempt_start(self, event: AttemptStart) -> None:
        self.events.append(event)

    def on_attempt_end(self, event: AttemptEnd) -> None:
        self.events.append(event)

    def on_call_end(self, event: CallEnd) -> None:
        self.events.append(event)


def call(c: routerlib.Client, **params: Any) -> Any:
    return c.completion(MODEL, MESSAGES, api_key=KEY, **{**PRICES, **params})


def test_a_hit_sends_nothing_costs_nothing_and_is_an_observed_attempt() -> None:
    recorder = Recorder()
    ledger = MemoryLedger()
    c, transport = client(ok(), cache=MemoryCache(), observers=[recorder], ledger=ledger)
    first = call(c)
    assert not first.cache_hit and first.cost.total == USAGE_COST and first.cost.saved == 0
    recorder.events.clear()
    hit = call(c)
    assert len(transport.requests) == 1
    assert hit.cache_hit and hit.cost.total == 0 and hit.cost.saved == USAGE_COST
    assert hit.choices[0].message.content == "Hi!" and hit.usage.total_tokens == 12 and hit.provider == "openai"
    assert [a.outcome for a in hit.attempts] == ["cache_hit"] and hit.attempts[0].summary().endswith("cache hit")
    assert "cache_hit" not in hit.model_dump() and "cost" not in hit.model_dump()
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["CallStart", "AttemptStart", "AttemptEnd", "CallEnd"]
    end = recorder.events[2]
    assert end.outcome == "cache_hit" and end.cost.total == 0 and end.cost.saved == USAGE_COST
    assert recorder.events[3].outcome == "ok" and recorder.events[3].cost.saved == USAGE_COST
    records = ledger.records()
    assert [(r.cache_hit, r.cost, r.saved) for r in records] == [(False, USAGE_COST, None), (True, 0, USAGE_COST)]
    assert ledger.total() == USAGE_COST


def test_litellm_hit_markers_and_namespaces() -> None:
    c, transport = client(ok(), cache=MemoryCache())
    assert call(c)._hidden_params["cache_hit"] is False
    assert call(c)._hidden_params["cache_hit"] is True  # what LiteLLM code reads to count hits
    other = call(c, metadata={"redis_namespace": "tenant-b"})  # LiteLLM's per-call namespace
    assert not other.cache_hit and len(transport.requests) == 2
    assert call(c, metadata={"redis_namespace": "tenant-b"}).cache_hit
    assert call(c, cache={"namespace": "tenant-b"}).cache_hit  # the same namespace, either spelling
    assert not call(c, cache={"use-cache": False}).cache_hit and len(transport.requests) == 3
    with pytest.raises(routerlib.InvalidRequestError, match=r"metadata\.redis_namespace"):
        call(c, metadata={"redis_namespace": "a b"})


def test_a_hit_is_not_charged_to_a_budget_that_is_spent() -> None:
    ledger = MemoryLedger()
    c, transport = client(ok(), cache=MemoryCache(), ledger=ledger,
                          budgets=[Budget(USAGE_COST, scope="global")])
    call(c, max_tokens=3)  # spends the whole budget
    with pytest.raises(routerlib.BudgetExceededError):
        call(c, max_tokens=3, temperature=0.5)  # not cached: refused, nothing sent
    hit = call(c, max_tokens=3)
    assert hit.cache_hit and len(transport.requests) == 1 and ledger.total() == USAGE_COST


def test_a_changed_parameter_sends_again_and_each_answer_is_kept() -> None:
    c, transport = client(ok(), cache=MemoryCache())
    call(c)
    call(c, temperature=0.3)
    assert len(transport.requests) == 2
    assert call(c, temperature=0.3).cache_hit and call(c).cache_hit and len(transport.requests) == 2


def test_errors_are_never_cached() -> None:
    responses = [HTTPResponse(400, {}, b'{"error": {"message": "bad"}}'), ok()]

    def handler(request: HTTPRequest) -> HTTPResponse:
        return responses.pop(0)

    c, transport = client(handler, cache=MemoryCache())
    with pytest.raises(routerlib.BadRequestError):
        call(c)
    assert not call(c).cache_hit and call(c).cache_hit and len(transport.requests) == 2


def test_a_fallback_answer_is_stored_as_that_fallbacks_entry() -> None:
    def handler(request: HTTPRequest) -> HTTPResponse:
        if '"gpt-4o-mini"' in request.body.decode():
            return HTTPResponse(401, {}, b'{"error": {"message": "no"}}')
        return ok(chat_body("from the fallback"))

    cache = MemoryCache()
    c, transport = client(handler, cache=cache)
    first = call(c, fallbacks=["openai/gpt-4o"])
    assert first.choices[0].message.content == "from the fallback" and len(cache) == 1
    direct = c.completion("openai/gpt-4o", MESSAGES, api_key=KEY, **PRICES)
    assert direct.cache_hit and direct.choices[0].message.content == "from the fallback"
    assert not call(c, fallbacks=["openai/gpt-4o"]).cache_hit  # the primary's own entry is not the fallback's
    assert len(transport.requests) == 4


BIG = [{"role": "user", "content": "word " * 9000}]  # ~9k tokens: over gpt-4's 8k window


def _by_model(request: HTTPRequest) -> HTTPResponse:
    assert '"gpt-4o"' in request.body.decode()  # gpt-4 is never sent: the prompt does not fit it
    return ok(chat_body("from gpt-4o"))


def test_a_context_window_fallback_answer_is_found_behind_the_skipped_primary() -> None:
    # The primary is skipped for its window; the fallback it moves to is looked up, and hits.
    c, transport = client(_by_model, cache=MemoryCache())
    params = {"api_key": KEY, "context_window_fallback_dict": {"openai/gpt-4": "openai/gpt-4o"}}
    first = c.completion("openai/gpt-4", BIG, **params)
    second = c.completion("openai/gpt-4", BIG, **params)
    assert not first.cache_hit and second.cache_hit and len(transport.requests) == 1
    assert [a.outcome for a in second.attempts] == ["skipped", "cache_hit"]
    assert second.choices[0].message.content == "from gpt-4o"


async def test_a_context_window_fallback_answer_is_found_behind_the_skipped_primary_async() -> None:
    c, transport = async_client(_by_model, cache=MemoryCache())
    params = {"api_key": KEY, "context_window_fallback_dict": {"openai/gpt-4": "openai/gpt-4o"}}
    first = await c.acompletion("openai/gpt-4", BIG, **params)
    second = await c.acompletion("openai/gpt-4", BIG, **params)
    assert not first.cache_hit and second.cache_hit and len(transport.requests) == 1
    assert [a.outcome for a in second.attempts] == ["skipped", "cache_hit"]


def test_a_hit_does_not_skip_the_context_check() -> None:
    # An answer stored by a client with a wider window is not served where the request cannot fit:
    # a request is refused or answered the same with or without a cache.
    cache = MemoryCache()
    wide, _ = client(ok(), cache=cache)
    big = [{"role": "user", "content": "word " * 2000}]
    assert not wide.completion("openai/gpt-4o-mini", big, api_key=KEY).cache_hit
    narrow, transport = client(ok(), cache=cache)
    narrow.register_model("openai/gpt-4o-mini", max_input_tokens=1000)
    with pytest.raises(routerlib.ContextWindowExceededError):
        narrow.completion("openai/gpt-4o-mini", big, api_key=KEY)
    assert transport.requests == []


def test_no_cache_and_no_store_per_call() -> None:
    c, transport = client(ok(), cache=MemoryCache())
    call(c, cache={"no-store": True})
    assert not call(c).cache_hit  # nothing was stored
    assert not call(c, cache={"no-cache": True}).cache_hit  # sent although an entry exists
    assert call(c).cache_hit and len(transport.requests) == 3


def test_a_client_without_a_cache_is_unchanged() -> None:
    c, transport = client(ok())
    assert not call(c).cache_hit and not call(c).cache_hit and len(transport.requests) == 2
    with pytest.raises(TypeError, match="MemoryCache"):
        routerlib.Client(cache={"type": "memory"})  # type: ignore[arg-type]


def test_a_stream_is_stored_when_complete_and_replayed_with_usage() -> None:
    c, transport = client(sse_response(complete_stream()), cache=MemoryCache())
    first = call(c, stream=True, stream_options={"include_usage": True})
    original = list(first)
    hit = call(c, stream=True, stream_options={"include_usage": True})
    replayed = list(hit)
    assert len(transport.requests) == 1
    text = "".join(ch.choices[0].delta.content or "" for ch in original if ch.choices)
    assert text == "Hello" and "".join(ch.choices[0].delta.content or "" for ch in replayed if ch.choices) == text
    assert replayed[-1].usage is not None and replayed[-1].usage.total_tokens == 9
    assert hit.response is not None and hit.response.cache_hit and hit.cost is not None and hit.cost.total == 0
    assert hit.cost.saved == first.cost.total and [a.outcome for a in hit.attempts] == ["cache_hit"]
    plain = call(c)  # a streamed answer also answers the same call without stream
    assert plain.cache_hit and plain.choices[0].message.content == "Hello"


def test_a_cached_answer_streams_without_usage_unless_asked() -> None:
    c, transport = client(ok(), cache=MemoryCache())
    call(c)
    chunks = list(call(c, stream=True))
    assert all(ch.choices for ch in chunks) and len(transport.requests) == 1


def test_a_truncated_or_closed_stream_is_never_stored() -> None:
    truncated = sse(chunk("", role="assistant"), chunk("Hel"), done=False)
    c, _ = client(sse_response(truncated), cache=MemoryCache(), policy=routerlib.RetryPolicy(num_retries=0))
    stream = call(c, stream=True)
    with pytest.raises(routerlib.StreamInterruptedError):
        list(stream)
    assert len(c._runtime.cache) == 0  # type: ignore[arg-type]
    c2, _ = client(sse_response(complete_stream()), cache=MemoryCache())
    stream = call(c2, stream=True)
    next(iter(stream))
    stream.close()
    assert len(c2._runtime.cache) == 0  # type: ignore[arg-type]


def test_a_multi_choice_stream_is_stored_only_when_every_choice_finished() -> None:
    """With n=2 one finish reason is not completion. An end marker after which choice 1 is still unfinished
    ends the stream without error (the provider said it is over, as for n=1) but is not stored; a stream
    whose every choice finished is stored and replayed with both."""
    unfinished = sse(chunk("A", index=0), chunk("B", index=1), chunk(finish="stop", index=0))  # with [DONE]
    c, transport = client(sse_response(unfinished), cache=MemoryCache(), policy=routerlib.RetryPolicy(num_retries=0))
    stream = call(c, stream=True, n=2)
    list(stream)
    assert stream.response is not None and [ch.finish_reason for ch in stream.response.choices] == ["stop", None]
    assert len(c._runtime.cache) == 0  # type: ignore[arg-type]
    complete = sse(chunk("A", index=0), chunk("B", index=1), chunk(finish="stop", index=0),
                   chunk(finish="length", index=1))
    c, transport = client(sse_response(complete), cache=MemoryCache())
    list(call(c, stream=True, n=2))
    hit = call(c, n=2)
    assert hit.cache_hit and [(ch.message.content, ch.finish_reason) for ch in hit.choices] == [
        ("A", "stop"), ("B", "length")]
    assert len(transport.requests) == 1


def test_a_stream_dropped_unread_releases_its_followers() -> None:
    cache = MemoryCache()
    c, _ = client(sse_response(complete_stream()), cache=cache)
    stream = call(c, stream=True)
    assert len(cache.flights) == 1
    del stream
    gc.collect()
    assert len(cache.flights) == 0


async def test_async_hits_streams_and_twenty_concurrent_calls_send_once() -> None:
    gate = asyncio.Event()
    sent = 0

    class SlowTransport:
        async def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
            nonlocal sent
            sent += 1
            await gate.wait()
            return ok()

        async def aclose(self) -> None:
            pass

    c = routerlib.Client(async_transport=SlowTransport(), cache=MemoryCache(), environ={})  # type: ignore[arg-type]
    calls = [asyncio.ensure_future(c.acompletion(MODEL, MESSAGES, api_key=KEY)) for _ in range(20)]
    await asyncio.sleep(0.05)
    gate.set()
    responses = await asyncio.gather(*calls)
    assert sent == 1
    assert sum(not r.cache_hit for r in responses) == 1 and all(r.choices[0].message.content == "Hi!"
                                                                for r in responses)
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True)
    assert "".join([ch.choices[0].delta.content or "" async for ch in stream]) == "Hi!"
    assert stream.response is not None and stream.response.cache_hit and sent == 1


async def test_async_stream_miss_is_stored() -> None:
    c, transport = async_client(sse_response(complete_stream()), cache=MemoryCache(), ledger=MemoryLedger())
    stream = await c.acompletion(MODEL, MESSAGES, api_key=KEY, stream=True, **PRICES)
    assert "".join([ch.choices[0].delta.content or "" async for ch in stream]) == "Hello"
    hit = await c.acompletion(MODEL, MESSAGES, api_key=KEY, **PRICES)
    assert hit.cache_hit and hit.choices[0].message.content == "Hello" and len(transport.requests) == 1


def test_a_hit_does_not_need_the_transport() -> None:
    cache = MemoryCache()
    filler, _ = client(ok(), cache=cache)
    call(filler)
    c, _ = client(never_called, cache=cache)  # another client sharing the cache
    assert call(c).cache_hit


def test_a_text_completion_is_cached_as_text() -> None:
    body = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": " 42", "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}
    c, transport = client(lambda request: ok() if request.url.endswith("/chat/completions") else ok(body),
                          cache=MemoryCache())
    first = c.text_completion("openai/gpt-3.5-turbo-instruct", "The answer is", api_key=KEY)
    hit = c.text_completion("openai/gpt-3.5-turbo-instruct", "The answer is", api_key=KEY)
    assert not first.cache_hit and hit.cache_hit and len(transport.requests) == 1
    assert isinstance(hit, routerlib.TextCompletion) and hit.choices[0].text == " 42"
    chat = c.completion("openai/gpt-3.5-turbo-instruct", [{"role": "user", "content": "The answer is"}],
                        api_key=KEY)  # a chat with the same words is another request
    assert not chat.cache_hit and len(transport.requests) == 2


def test_embeddings_are_cached_by_their_input_and_parameters() -> None:
    import json as _json

    body = {"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1, "total_tokens": 1},
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}]}
    c, transport = client(HTTPResponse(200, {}, _json.dumps(body).encode()), cache=MemoryCache())
    prices = {"input_cost_per_token": "0.000001"}
    first = c.embedding("openai/text-embedding-3-small", "x", api_key=KEY, **prices)
    hit = c.embedding("openai/text-embedding-3-small", "x", api_key=KEY, **prices)
    assert not first.cache_hit and hit.cache_hit and len(transport.requests) == 1
    assert isinstance(hit, routerlib.EmbeddingResponse) and hit.data[0].embedding == [0.5]
    assert hit.cost.total == 0 and hit.cost.saved == first.cost.total > 0
    assert [a.outcome for a in hit.attempts] == ["cache_hit"]
    c.embedding("openai/text-embedding-3-small", "x", api_key=KEY, dimensions=8)  # another parameter
    c.embedding("openai/text-embedding-3-small", "y", api_key=KEY)  # another input
    c.embedding("openai/text-embedding-3-small", "x", api_key=KEY, cache={"no-cache": True})
    assert len(transport.requests) == 4
    chat = c.completion("openai/text-embedding-3-small", [{"role": "user", "content": "x"}], api_key=KEY,
                        mock_response="a chat")  # the same words as a chat are another request
    assert not chat.cache_hit


def test_a_stored_embedding_that_does_not_fit_the_inputs_is_a_miss_and_replaced() -> None:
    import json as _json

    body = {"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2},
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5]},
                     {"object": "embedding", "index": 1, "embedding": [0.25]}]}
    cache = MemoryCache()
    c, transport = client(HTTPResponse(200, {}, _json.dumps(body).encode()), cache=cache)
    c.embedding("openai/text-embedding-3-small", ["x", "y"], api_key=KEY)
    (key,) = list(cache._entries)
    raw = cache.get(key)
    assert raw is not None
    one_vector = raw.replace(b',{"object":"embedding","index":1,"embedding":[0.25]}', b"")
    assert one_vector != raw
    cache.set(key, one_vector)  # as anyone who can write to a shared cache could
    again = c.embedding("openai/text-embedding-3-small", ["x", "y"], api_key=KEY)
    assert not again.cache_hit and len(again.data) == 2 and len(transport.requests) == 2
    assert cache.get(key) != one_vector  # the fresh answer replaced it


def test_cache_controls_on_a_client_without_a_cache_warn_once() -> None:
    from routerlib._core import caching

    caching.controls_without_cache.cache_clear()
    c, transport = client(ok())
    with pytest.warns(routerlib.RouterlibWarning, match="no cache: nothing is read or stored"):
        call(c, cache={"ttl": 60})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call(c, cache={"ttl": 60})  # once per process
        call(c)
    assert len(transport.requests) == 3
