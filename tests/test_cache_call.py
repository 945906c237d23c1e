"""CallCache: one call's lookup, single flight, store and abandon, against real backends and a scripted one."""

from __future__ import annotations

import base64
import json
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

from routerlib._request import ChatRequest, build_request
from routerlib.cache import call as call_module
from routerlib.cache.base import CacheBackend, LockResult
from routerlib.cache.call import CallCache
from routerlib.cache.memory import MemoryCache
from routerlib.cost.model_map import ModelMap
from routerlib.exceptions import InvalidRequestError
from routerlib.planning import Planner
from routerlib.providers import ProviderRegistry
from routerlib.providers.base import Deployment
from routerlib.types import ChatCompletionMessageToolCall, Cost, Function, ModelResponse

SECRET = "sk-call-SECRET-0123456789abcdef"
COST = Cost(total=Decimal("0.0002"), source="model_map")


def req(**params: Any) -> ChatRequest:
    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **params})


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    planner = Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})
    return planner.deployment("openai/gpt-4o-mini", {"api_key": SECRET})


def answer(text: str = "Hello!") -> ModelResponse:
    return ModelResponse.model_validate({"id": "c", "model": "gpt-4o-mini", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})


def started(backend: CacheBackend, **params: Any) -> CallCache:
    cache = CallCache.start(backend, req(**params))
    assert cache is not None
    return cache


def fill(backend: CacheBackend, deployment: Deployment, text: str = "Hello!", **params: Any) -> None:
    cache = started(backend, **params)
    assert cache.lookup(deployment, lambda: 1) is None
    cache.store(deployment, answer(text), COST)


def test_a_stored_answer_is_found_by_the_next_identical_call(deployment: Deployment) -> None:
    backend = MemoryCache()
    fill(backend, deployment)
    hit = started(backend).lookup(deployment, lambda: 1)
    assert hit is not None and hit.response.choices[0].message.content == "Hello!"
    assert hit.cost.total == 0 and hit.cost.saved == COST.total
    assert hit.provider == "openai" and hit.model == "gpt-4o-mini"
    assert started(backend, temperature=0.1).lookup(deployment, lambda: 1) is None  # another request


async def test_async_twin(deployment: Deployment) -> None:
    backend = MemoryCache()
    cache = started(backend)
    assert await cache.alookup(deployment, lambda: 1) is None
    await cache.astore(deployment, answer(), COST)
    hit = await started(backend).alookup(deployment, lambda: 1)
    assert hit is not None and hit.response.choices[0].message.content == "Hello!"


def test_calls_that_cannot_use_the_cache(deployment: Deployment) -> None:
    backend = MemoryCache()
    assert CallCache.start(backend, req(cache={"no-cache": True, "no-store": True})) is None
    assert CallCache.start(MemoryCache(per_user=True), req()) is None  # per-user scope, no user
    assert CallCache.start(MemoryCache(per_user=True), req(metadata={"user": "al"})) is not None
    with pytest.raises(InvalidRequestError):  # a value no key can hold never gets this far
        req(extra_body={"x": float("nan")})


def test_per_user_scope_keeps_users_apart(deployment: Deployment) -> None:
    backend = MemoryCache(per_user=True)
    fill(backend, deployment, metadata={"user": "alice"})
    assert started(backend, metadata={"user": "bob"}).lookup(deployment, lambda: 1) is None
    assert started(backend, metadata={"user": "alice"}).lookup(deployment, lambda: 1) is not None
    assert started(backend, user="alice").lookup(deployment, lambda: 1) is not None  # the OpenAI user field


def test_no_cache_skips_the_read_but_stores_the_fresh_answer(deployment: Deployment) -> None:
    backend = MemoryCache()
    fill(backend, deployment, "old")
    fresh = started(backend, cache={"no-cache": True})
    assert fresh.lookup(deployment, lambda: 1) is None
    fresh.store(deployment, answer("new"), COST)
    hit = started(backend).lookup(deployment, lambda: 1)
    assert hit is not None and hit.response.choices[0].message.content == "new"


def test_no_store_reads_but_never_writes(deployment: Deployment) -> None:
    backend = MemoryCache()
    cache = started(backend, cache={"no-store": True})
    assert cache.lookup(deployment, lambda: 1) is None
    cache.store(deployment, answer(), COST)
    assert len(backend) == 0
    fill(backend, deployment)
    assert started(backend, cache={"no-store": True}).lookup(deployment, lambda: 1) is not None


def test_namespaces_are_apart(deployment: Deployment) -> None:
    backend = MemoryCache(namespace="app")
    fill(backend, deployment)
    assert started(backend, cache={"namespace": "other"}).lookup(deployment, lambda: 1) is None
    assert started(backend, cache={"namespace": "app"}).lookup(deployment, lambda: 1) is not None


def test_ttl_control_and_s_maxage(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    from routerlib.cache import memory

    now = [1000.0]
    wall = [1_700_000_000.0]
    monkeypatch.setattr(memory.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(call_module.time, "time", lambda: wall[0])
    backend = MemoryCache(ttl=3600)
    fill(backend, deployment, cache={"ttl": 60})
    now[0] += 30
    wall[0] += 30
    strict = started(backend, cache={"s-maxage": 10})
    assert strict.lookup(deployment, lambda: 1) is None  # too old for this call, which then sends...
    strict.abandon()  # ...and fails
    assert len(backend) == 1  # the entry is still good for others
    assert started(backend, cache={"s-maxage": 40}).lookup(deployment, lambda: 1) is not None
    now[0] += 31
    assert started(backend).lookup(deployment, lambda: 1) is None  # the entry's own ttl of 60 s has passed


def test_a_corrupt_entry_is_ignored_deleted_and_replaced(deployment: Deployment) -> None:
    backend = MemoryCache()
    cache = started(backend)
    key = cache.key_for(deployment)
    assert key is not None
    backend.set(key, b'{"format": 1, "garbage": true}')
    assert cache.lookup(deployment, lambda: 1) is None and backend.get(key) is None
    cache.store(deployment, answer("replaced"), COST)
    hit = started(backend).lookup(deployment, lambda: 1)
    assert hit is not None and hit.response.choices[0].message.content == "replaced"


def test_an_answer_echoing_a_credential_is_never_stored(deployment: Deployment) -> None:
    backend = MemoryCache()
    cache = started(backend)
    assert cache.lookup(deployment, lambda: 1) is None
    cache.store(deployment, answer(f"your key is {SECRET}"), COST)
    assert len(backend) == 0


def test_a_short_test_key_does_not_stop_answers_being_stored() -> None:
    planner = Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})
    deployment = planner.deployment("openai/gpt-4o-mini", {"api_key": "k"})  # "k" is in every answer's JSON
    backend = MemoryCache()
    fill(backend, deployment)
    assert len(backend) == 1


HEADER_SECRET = "hdr-SECRET-0123456789abcdef"
ODD_SECRET = 'sk-odd/+"\\-SECRET-0123456789'  # characters that URL, base64 and JSON each encode


BASIC = base64.b64encode(b"user:basic-PASSWORD-0123456789").decode()


def _echo_forms() -> list[str]:
    return [
        f"your key: {ODD_SECRET}", base64.b64encode(ODD_SECRET.encode()).decode(),
        "k=" + base64.b64encode(b"x" + ODD_SECRET.encode()).decode(),  # inside a longer base64 blob
        quote(ODD_SECRET, safe=""), quote(ODD_SECRET),
        f"you sent {HEADER_SECRET}", f"Authorization: Basic {BASIC}", "password basic-PASSWORD-0123456789",
        json.dumps({"key": ODD_SECRET}),  # escaped once more, as a JSON text inside the answer
    ]


@pytest.mark.parametrize("echo", _echo_forms())
def test_an_answer_echoing_any_form_of_any_credential_is_never_stored(echo: str) -> None:
    """Not only the raw api_key: every secret the deployment sends (credential headers, the token and
    password of a Basic header), and the URL-encoded, base64 and JSON-escaped forms routerlib's
    redaction knows. Before, only the raw api_key / bearer bytes were searched for."""
    planner = Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})
    deployment = planner.deployment("openai/gpt-4o-mini", {
        "api_key": ODD_SECRET, "headers": {"x-api-key": HEADER_SECRET, "Proxy-Authorization": f"Basic {BASIC}"}})
    backend = MemoryCache()
    cache = started(backend)
    assert cache.lookup(deployment, lambda: 1) is None
    cache.store(deployment, answer(echo), COST)
    assert len(backend) == 0
    tool_echo = answer("ok")
    tool_echo.choices[0].message.tool_calls = [ChatCompletionMessageToolCall(
        id="c", function=Function(name="f", arguments=json.dumps({"k": ODD_SECRET})))]
    cache = started(backend, seed=1)
    assert cache.lookup(deployment, lambda: 1) is None
    cache.store(deployment, tool_echo, COST)  # escaped twice: a JSON string inside the JSON body
    assert len(backend) == 0
    fill(backend, deployment, "an answer that shows no credential", seed=2)
    assert len(backend) == 1


@pytest.mark.parametrize("short", ["k", "sk-1234"])
def test_short_credentials_of_every_kind_are_exempt_alike(short: str) -> None:
    """A test key shorter than redaction's minimum occurs in every answer's JSON; whether it is the key or
    a header's value, it is not searched for (one rule with routerlib's redaction)."""
    planner = Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})
    for params in ({"api_key": short}, {"api_key": SECRET, "headers": {"x-api-key": short}}):
        deployment = planner.deployment("openai/gpt-4o-mini", params)
        backend = MemoryCache()
        fill(backend, deployment, f"an answer that mentions {short} in passing")
        assert len(backend) == 1


def test_the_value_stored_never_holds_the_api_key(deployment: Deployment) -> None:
    backend = MemoryCache()
    fill(backend, deployment, api_key=SECRET, headers={"Authorization": f"Bearer {SECRET}"})
    (key, (raw, _, _)), = backend._entries.items()
    assert SECRET not in key and SECRET.encode() not in raw


def test_one_lookup_per_call(deployment: Deployment) -> None:
    backend = MemoryCache()
    fill(backend, deployment)
    cache = started(backend)
    assert cache.lookup(deployment, lambda: 1) is not None
    assert cache.lookup(deployment, lambda: 1) is None  # retries and fallbacks do not look up again


def test_followers_get_the_leaders_answer(deployment: Deployment) -> None:
    backend = MemoryCache()
    leader = started(backend)
    assert leader.lookup(deployment, lambda: 1) is None
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(started(backend).lookup(deployment, lambda: 5)))
               for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert got == []
    leader.store(deployment, answer("shared"), COST)
    for t in threads:
        t.join()
    assert [a.response.choices[0].message.content for a in got] == ["shared"] * 5
    assert len({id(a.response) for a in got}) == 5  # each its own object


def test_a_failed_leader_shares_nothing(deployment: Deployment) -> None:
    backend = MemoryCache()
    leader = started(backend)
    assert leader.lookup(deployment, lambda: 1) is None
    got: list[Any] = []
    follower = threading.Thread(target=lambda: got.append(started(backend).lookup(deployment, lambda: 5)))
    follower.start()
    time.sleep(0.05)
    leader.abandon()
    follower.join()
    assert got == [None] and len(backend) == 0 and len(backend.flights) == 0


def test_a_follower_that_waits_too_long_calls_itself(deployment: Deployment) -> None:
    backend = MemoryCache()
    leader = started(backend)
    assert leader.lookup(deployment, lambda: 1) is None
    follower = started(backend)
    assert follower.lookup(deployment, lambda: 0.01) is None
    follower.store(deployment, answer("own"), COST)  # its own answer is stored
    leader.release_followers()
    hit = started(backend).lookup(deployment, lambda: 1)
    assert hit is not None and hit.response.choices[0].message.content == "own"


class ScriptedLocks(MemoryCache):
    """A MemoryCache that takes cross-process locks like RedisCache, with a scripted other process."""

    lock_wait = 5.0

    def __init__(self, results: list[LockResult]) -> None:
        super().__init__()
        self.results = results
        self.calls: list[tuple[str, str | None]] = []
        self.unlocked: list[tuple[str | None, str | None]] = []

    def get_or_lock(self, key: str, token: str | None) -> tuple[bytes | None, LockResult]:
        self.calls.append((key, token))
        value = self.get(key)
        return (value, "no_lock") if value is not None else (None, self.results.pop(0))

    def set_and_unlock(self, key: str, value: bytes | None, ttl: float | None,
                       locked: str | None = None, token: str | None = None) -> None:
        super().set_and_unlock(key, value, ttl, locked, token)
        self.unlocked.append((locked, token))


def test_a_lock_held_by_another_process_is_waited_on_then_taken(deployment: Deployment) -> None:
    backend = ScriptedLocks(["held", "held", "locked"])
    cache = started(backend)
    assert cache.lookup(deployment, lambda: 5) is None
    assert len(backend.calls) == 3 and backend.calls[0][1] is not None
    cache.store(deployment, answer(), COST)
    assert backend.unlocked == [(cache.key_for(deployment), backend.calls[0][1])]


def test_the_other_process_answer_arrives_while_waiting(deployment: Deployment) -> None:
    elsewhere = MemoryCache()  # what the other process stores, written into the shared backend later
    fill(elsewhere, deployment, "from elsewhere")
    (key, (raw, _, _)), = elsewhere._entries.items()
    backend = ScriptedLocks(["held"] * 100)
    cache = started(backend)
    timer = threading.Timer(0.05, lambda: backend.set(key, raw))
    timer.start()
    hit = cache.lookup(deployment, lambda: 5)
    timer.join()
    assert hit is not None and hit.response.choices[0].message.content == "from elsewhere"
    assert len(backend.calls) >= 2


def test_waiting_for_another_process_is_bounded_by_the_call(deployment: Deployment) -> None:
    backend = ScriptedLocks(["held"] * 100)
    cache = started(backend)
    assert cache.lookup(deployment, lambda: 0.05) is None  # the call's own bound, well below lock_wait
    cache.store(deployment, answer(), COST)
    assert backend.unlocked == [(cache.key_for(deployment), None)]  # no lock was ours to release
