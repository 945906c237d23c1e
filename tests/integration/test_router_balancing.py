"""Load balancing end to end: weights, least-busy, latency, cost and router_preference, tags, windows."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers

import routerlib
from routerlib import MemoryLedger, Router

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def servers() -> Iterator[list[FaultServer]]:
    with fault_servers("a", "b", "c") as three:
        yield three


def shares(r: Router, n: int, **params: Any) -> Counter[str]:
    return Counter(r.completion("chat", MESSAGES, **params).choices[0].message.content for _ in range(n))


def test_weights_are_honoured_within_statistical_bounds(servers: list[FaultServer]) -> None:
    a, b, c = servers
    r = Router([entry(a, weight=1), entry(b, weight=3), entry(c, weight=0)], environ={}, seed=11)
    got = shares(r, 800)
    # 800 draws at p = 0.75: standard deviation 1.5%; 0.65..0.85 is over six of them.
    assert 0.65 <= got["b"] / 800 <= 0.85
    assert got["c"] == 0
    assert (a.count(), b.count(), c.count()) == (got["a"], got["b"], 0)


def test_rpm_is_the_weight_when_no_weight_is_given(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    r = Router([entry(a, rpm=100_000), entry(b, rpm=300_000)], environ={}, seed=5)
    got = shares(r, 800)
    assert 0.65 <= got["b"] / 800 <= 0.85


def test_least_busy_prefers_the_idle(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    r = Router([entry(a), entry(b)], routing_strategy="least-busy", environ={}, seed=3)
    held = r.completion("chat", MESSAGES, stream=True)  # one call in flight until closed
    first = (a.count() and "a") or "b"
    other = {"a": "b", "b": "a"}[first]
    assert shares(r, 20) == Counter({other: 20})
    held.close()
    assert set(shares(r, 40)) == {"a", "b"}  # ties broken at random once both are idle


def test_least_busy_under_concurrency_sends_less_to_the_slow(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(latency=0.2)
    r = Router([entry(a), entry(b)], routing_strategy="least-busy", environ={}, seed=3)
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(6):
            text = r.completion("chat", MESSAGES).choices[0].message.content or ""
            with lock:
                results.append(text)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = Counter(results)
    assert got["b"] > 2 * got["a"]


def test_latency_based_prefers_the_fast(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(latency=0.1)
    r = Router([entry(a), entry(b)], routing_strategy="latency-based-routing", environ={}, seed=2)
    got = shares(r, 30)
    assert got["b"] >= 25  # a is explored (no sample yet), then not preferred
    assert r.health()["a"].latency is not None
    assert r.health()["a"].latency > r.health()["b"].latency  # type: ignore[operator]


def test_latency_based_streams_use_time_to_first_token(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(latency=0.1)
    r = Router([entry(a), entry(b)], routing_strategy="latency-based-routing", environ={}, seed=2)
    texts = []
    for _ in range(20):
        stream = r.completion("chat", MESSAGES, stream=True)
        texts.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices).split()[0])
    assert Counter(texts)["b"] >= 16
    assert r.health()["a"].ttft is not None


# a: cheap input, dear output; b: dear input, cheap output (USD per token).
A_PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-5}
B_PRICE = {"input_cost_per_token": 5e-6, "output_cost_per_token": 1e-6}
LONG = [{"role": "user", "content": "word " * 2000}]


def test_cost_based_picks_by_the_requests_own_token_mix(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    r = Router([entry(a, **A_PRICE), entry(b, **B_PRICE)], routing_strategy="cost-based-routing", environ={})
    long_prompt = r.completion("chat", LONG, max_tokens=10)
    long_answer = r.completion("chat", MESSAGES, max_tokens=4000)
    assert long_prompt.choices[0].message.content == "a"
    assert long_answer.choices[0].message.content == "b"
    reason = long_prompt.attempts[0].reason or ""
    assert reason.startswith("cost-based: $") and "output from max_tokens" in reason


def test_router_preference_is_honoured_locally(servers: list[FaultServer]) -> None:
    a, b, c = servers
    unpriced = entry(c)
    unpriced["litellm_params"]["model"] = "openai/my-own-model"  # not in the model map: no price, no quality
    r = Router([entry(a, **A_PRICE, model_info={"quality": 90}), entry(b, **B_PRICE, model_info={"quality": 60}),
                unpriced], environ={})
    powerful = r.completion("chat", MESSAGES, router_preference="powerful")
    efficient = r.completion("chat", MESSAGES, max_tokens=4000, router_preference="efficient")
    balanced = r.completion("chat", LONG, max_tokens=10, router_preference="balanced")
    assert powerful.choices[0].message.content == "a"
    assert efficient.choices[0].message.content == "b"
    assert balanced.choices[0].message.content == "a"
    assert "1 without a quality score ranked after" in (powerful.attempts[0].reason or "")
    # openai deployments do not take the parameter: the Router honoured it, nothing was sent
    assert all("router_preference" not in e["body"] for s in servers for e in s.journal)


def test_tags(servers: list[FaultServer]) -> None:
    a, b, c = servers
    r = Router([entry(a, tags=["eu"]), entry(b, tags=["us"]), entry(c, tags=["default"])], environ={}, seed=1)
    assert shares(r, 10, metadata={"tags": ["eu"]}) == Counter({"a": 10})
    assert shares(r, 10, metadata={"tags": ["us", "eu"]}).keys() <= {"a", "b"}
    assert shares(r, 10) == Counter({"c": 10})
    with pytest.raises(routerlib.NoDeploymentAvailableError, match="match none of the call's"):
        r.completion("chat", MESSAGES, metadata={"tags": ["asia"]})


def test_context_window_pre_check_inside_a_group(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    r = Router([entry(a, model_info={"max_input_tokens": 500}), entry(b, model_info={"max_input_tokens": 50_000})],
               environ={}, seed=4)
    for _ in range(10):
        response = r.completion("chat", LONG, max_tokens=10)
        assert response.choices[0].message.content == "b"
    assert a.count() == 0


def test_the_ledger_records_the_deployment_that_answered(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(status=500)
    ledger = MemoryLedger()
    r = Router([entry(a), {**entry(b), "litellm_params": {**entry(b)["litellm_params"], "model": "openai/gpt-4o"}}],
               environ={}, ledger=ledger, allowed_fails=0, seed=1)
    for _ in range(5):
        r.completion("chat", MESSAGES)
    records = ledger.records()
    assert len(records) == 5
    assert {(x.provider, x.model) for x in records} == {("openai", "gpt-4o")}


def test_a_model_that_names_no_group_is_called_directly(servers: list[FaultServer]) -> None:
    a, _b, c = servers
    r = Router([entry(a)], environ={})
    response = r.completion("openai/gpt-4o-mini", MESSAGES, api_base=c.url, api_key="sk-test-0123456789")
    assert response.choices[0].message.content == "c"
    assert response.attempts[0].strategy is None


def test_a_router_takes_a_cache_and_limits_like_a_client() -> None:
    """Router(cache=...) answers an identical call from the cache; Router(limits=...) bounds answers."""
    from routerlib import Limits
    from routerlib.cache import MemoryCache

    with fault_servers("a") as (a,):
        router = Router([entry(a)], environ={}, cache=MemoryCache())
        first = router.completion("chat", [{"role": "user", "content": "hi"}])
        second = router.completion("chat", [{"role": "user", "content": "hi"}])
        assert a.count() == 1 and second.cache_hit and not first.cache_hit  # type: ignore[union-attr]
        tiny = Router([entry(a)], environ={}, limits=Limits(max_response_bytes=16))
        with pytest.raises(routerlib.ResponseTooLargeError):
            tiny.completion("chat", [{"role": "user", "content": "hi"}], num_retries=0)
