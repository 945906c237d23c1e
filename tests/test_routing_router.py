"""routing.router: the Router's construction (every mistake up front), options, and calls without a network."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import routerlib
from routerlib import InvalidRequestError, RetryPolicy, Router, RouterConfigError
from routerlib.routing import BreakerConfig, MemoryHealth, RouterDeployment
from routerlib.transport import HTTPResponse, MockTransport

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "sk-test-SECRET-0123456789"


def dep(ident: str, group: str = "chat", **params: Any) -> dict[str, Any]:
    info = params.pop("model_info", {})
    return {"model_name": group, "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": f"http://h/{ident}",
                                                    "api_key": KEY, **params},
            "model_info": {"id": ident, **info}}


def make(model_list: list[Any] | None = None, **options: Any) -> Router:
    return Router(model_list or [dep("a"), dep("b")], environ={}, **options)


def test_router_is_exported_lazily() -> None:
    assert routerlib.Router is Router
    code = "import sys, routerlib; print('routerlib.routing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_groups_strategy_and_health() -> None:
    r = make([dep("a"), dep("b"), dep("c", group="backup")], routing_strategy="least-busy")
    assert r.groups == {"chat": ("a", "b"), "backup": ("c",)}
    assert r.routing_strategy == "least-busy"
    assert set(r.health()) == {"a", "b", "c"}
    assert isinstance(r, routerlib.Client)


def test_a_mocked_call_routes_and_records_why() -> None:
    r = make(seed=1)
    response = r.completion("chat", MESSAGES, mock_response="hello")
    attempt = response.attempts[0]
    assert attempt.deployment_id in ("a", "b") and attempt.strategy == "simple-shuffle"
    assert attempt.reason is not None and attempt.reason.startswith("simple-shuffle")
    assert sum(h.rpm_used for h in r.health().values()) == 1
    assert asyncio.run(r.ahealth()) == r.health()  # in memory, the async read is the same read


async def test_async_and_text_completion_route_too() -> None:
    r = make()
    response = await r.acompletion("chat", MESSAGES, mock_response="hello")
    assert response.attempts[0].strategy == "simple-shuffle"  # type: ignore[union-attr]
    text = r.text_completion("chat", "say hi", mock_response="hi")
    assert text.attempts[0].deployment_id in ("a", "b")  # type: ignore[union-attr]
    atext = await r.atext_completion("chat", "say hi", mock_response="hi")
    assert atext.attempts[0].deployment_id in ("a", "b")  # type: ignore[union-attr]


def test_num_retries_allowed_fails_and_cooldown_time_land_in_the_policy_and_breaker() -> None:
    r = make(num_retries=5, allowed_fails=7, cooldown_time=600)
    assert r.policy.num_retries == 5
    config = r._store._breakers[0].config  # type: ignore[attr-defined]
    assert (config.allowed_fails, config.cooldown_time, config.max_cooldown) == (7, 600, 600)
    custom = make(breaker=BreakerConfig(min_calls=3), policy=RetryPolicy(num_retries=1))
    assert custom._store._breakers[0].config.min_calls == 3  # type: ignore[attr-defined]
    assert custom.policy.num_retries == 1


def test_typed_deployments_and_a_state_object() -> None:
    state = MemoryHealth()
    r = Router([RouterDeployment("chat", "openai/gpt-4o", id="x", api_base="http://h/v1", api_key=KEY)],
               state=state, environ={})
    assert r.groups == {"chat": ("x",)}
    assert set(state.health()) == {"x"}


def test_a_model_that_names_no_group_is_called_directly() -> None:
    r = make()
    response = r.completion("openai/gpt-4o-mini", MESSAGES, mock_response="x", api_key=KEY)
    assert response.attempts[0].strategy is None
    assert sum(h.rpm_used for h in r.health().values()) == 0


def test_model_list_per_call_is_refused_for_a_group() -> None:
    with pytest.raises(InvalidRequestError, match="is a group of this Router"):
        make().completion("chat", MESSAGES, model_list=[{"model": "openai/gpt-4o"}], mock_response="x")


def test_router_preference_is_still_sent_to_a_deployment_that_takes_it() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: Any) -> HTTPResponse:
        seen.append(json.loads(request.body))
        body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        return HTTPResponse(200, {"content-type": "application/json"}, json.dumps(body).encode())

    wise = {"model_name": "chat", "litellm_params": {"model": "wiserouter/auto", "api_key": KEY}}
    plain = dep("plain", group="plain")
    r = Router([wise, plain], environ={}, transport=MockTransport(handler))
    r.completion("chat", MESSAGES, router_preference="efficient")
    r.completion("plain", MESSAGES, router_preference="efficient")
    assert seen[0]["router_preference"] == "efficient"
    assert "router_preference" not in seen[1]


@pytest.mark.parametrize(("options", "message"), [
    ({"model_list": [dep("a"), dep("a")]}, r"model_list\[1\]: deployment id 'a' is already used by model_list\[0\]"),
    ({"model_list": [dep("a", model_info={}), dep("b", model_info={})],
      "transform": lambda ml: [{**m, "model_info": {}, "litellm_params": {**m["litellm_params"], "api_base": "http://h"}}
                               for m in ml]}, "is already used"),
    ({"model_list": [dep("a", weight=0), dep("b", weight=0)]}, "every deployment has weight 0"),
    ({"routing_strategy": "fastest"}, "routing_strategy='fastest'"),
    ({"fallbacks": [{"chat": ["nowhere"]}]}, "names no group with a deployment"),
    ({"fallbacks": [{"ghost": ["chat"]}]}, "'ghost' is not a group"),
    ({"context_window_fallbacks": [{"chat": ["nowhere"]}]}, "context_window_fallbacks"),
    ({"model_group_alias": {"gpt-4": "ghost"}}, "model_group_alias"),
    ({"redis_url": "redis://x", "state": MemoryHealth()}, "not both"),
    ({"state": object()}, "must be a routing state"),
    ({"num_retries": -1}, "num_retries=-1"),
    ({"deadline": 0}, "deadline=0"),
    ({"breaker": {"allowed_fails": 1}}, "must be a routerlib.routing.BreakerConfig"),
    ({"allowed_fails": -1}, "allowed_fails=-1"),
    ({"model_list": [{"model_name": "chat", "litellm_params": {"model": "nonsense-model"}}]},
     r"model_list\[0\] \(chat\): cannot tell the provider"),
    ({"model_list": [{"model_name": "chat", "litellm_params": {"model": "anthropic/claude-haiku-4-5"}}]},
     r"model_list\[0\] \(chat\): no API key for anthropic"),
])
def test_configuration_mistakes_are_refused_at_construction(options: dict[str, Any], message: str) -> None:
    transform = options.pop("transform", None)
    model_list = options.pop("model_list", None)
    if transform is not None:
        model_list = transform(model_list)
    with pytest.raises(RouterConfigError, match=message) as caught:
        make(model_list, **options)
    assert KEY not in str(caught.value)


def test_the_default_deadline_applies_unless_the_call_gives_one() -> None:
    r = make(deadline=30)
    seen: list[float | None] = []

    class Spy(routerlib.observe.Observer):  # type: ignore[name-defined]
        def on_call_start(self, event: Any) -> None:
            seen.append(event.request.deadline)

    r2 = Router([dep("a")], environ={}, deadline=30, observers=[Spy()])
    r2.completion("chat", MESSAGES, mock_response="x")
    r2.completion("chat", MESSAGES, mock_response="x", deadline=5)
    assert seen == [30, 5]
    assert r.completion("chat", MESSAGES, mock_response="x").choices[0].message.content == "x"



def test_a_budget_refusal_after_the_pick_gives_the_slot_back() -> None:
    from routerlib import Budget, BudgetExceededError

    r = Router([dep("a", max_parallel_requests=1, input_cost_per_token=1.0, output_cost_per_token=1.0)],
               budgets=[Budget("0.01", scope="global")], environ={})
    for _ in range(3):
        with pytest.raises(BudgetExceededError):
            r.completion("chat", MESSAGES, mock_response="x", max_tokens=10)
        assert r.health()["a"].in_flight == 0


def test_a_deadline_passed_right_after_the_pick_gives_the_slot_back() -> None:
    ticks = iter([0.0, 0.0, 0.0] + [100.0] * 50)  # the call starts and picks; then its deadline is gone
    r = Router([dep("a", max_parallel_requests=1)], environ={}, clock=lambda: next(ticks))
    with pytest.raises(routerlib.APITimeoutError):
        r.completion("chat", MESSAGES, mock_response="x", deadline=1)
    assert r._store._flight == [0]  # type: ignore[attr-defined]


def test_embedding_picks_from_a_group_and_switches_to_a_sibling() -> None:
    def embed(ident: str) -> dict[str, Any]:
        return {"model_name": "embed", "model_info": {"id": ident},
                "litellm_params": {"model": "openai/text-embedding-3-small", "api_base": f"http://h/{ident}",
                                   "api_key": KEY}}

    sent: list[str] = []

    def handler(request: Any) -> HTTPResponse:
        sent.append(request.url)
        if "/down/" in request.url:
            return HTTPResponse(503, {}, b'{"error": {"message": "overloaded"}}')
        body = {"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2},
                "data": [{"object": "embedding", "index": i, "embedding": [float(i)]} for i in range(2)]}
        return HTTPResponse(200, {}, json.dumps(body).encode())

    r = Router([embed("down"), embed("up")], environ={}, transport=MockTransport(handler),
               routing_strategy="simple-shuffle", seed=3, num_retries=1)
    response = r.embedding("embed", ["a", "b"])
    assert [d.embedding for d in response.data] == [[0.0], [1.0]]
    assert response.attempts[-1].deployment_id == "up" and sent[-1] == "http://h/up/embeddings"
    assert sent[0] == "http://h/down/embeddings"  # (this seed picks it first) a 503 switches at once
    assert all(url.endswith("/embeddings") for url in sent)
