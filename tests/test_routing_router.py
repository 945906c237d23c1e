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
    ({"fallbacks": [{"chat": ["nowhere"]}]}, "names no group or alias of this Router"),
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


# -- names: aliases in fallbacks, per-call fallbacks checked before sending, unknown groups

def chat_reply(text: str) -> HTTPResponse:
    body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}
    return HTTPResponse(200, {}, json.dumps(body).encode())


def failing_primary(**options: Any) -> tuple[Router, list[str]]:
    """chat = a (answers 500), backup = b; every URL sent is recorded."""
    sent: list[str] = []

    def handler(request: Any) -> HTTPResponse:
        sent.append(request.url)
        if "/a/" in request.url:
            return HTTPResponse(500, {}, b'{"error": {"message": "down"}}')
        return chat_reply(request.url.split("/")[3])

    options.setdefault("environ", {"OPENAI_API_KEY": "sk-env-would-go-to-openai"})
    r = Router([dep("a"), dep("b", group="backup")], transport=MockTransport(handler), num_retries=0, **options)
    return r, sent


def test_a_fallback_naming_an_alias_reaches_its_group_not_the_model_of_that_name() -> None:
    r, sent = failing_primary(model_group_alias={"gpt-4": "backup"}, fallbacks=[{"chat": ["gpt-4"]}])
    assert r.completion("chat", MESSAGES).choices[0].message.content == "b"
    assert sent == ["http://h/a/chat/completions", "http://h/b/chat/completions"]
    r2, sent2 = failing_primary(model_group_alias={"gpt-4": "backup"})
    assert r2.completion("chat", MESSAGES, fallbacks=["gpt-4"]).choices[0].message.content == "b"
    assert r2.completion("chat", MESSAGES, fallbacks=[{"chat": ["gpt-4"]}]).choices[0].message.content == "b"
    assert all(url.startswith("http://h/") for url in sent2)  # never api.openai.com


def test_an_alias_that_is_no_model_name_is_a_valid_fallback() -> None:
    r, _ = failing_primary(model_group_alias={"my-backup": "backup"}, fallbacks=[{"chat": ["my-backup"]}],
                           content_policy_fallbacks=[{"chat": ["my-backup"]}],
                           context_window_fallbacks=[{"chat": ["my-backup"]}])
    assert r.completion("chat", MESSAGES).choices[0].message.content == "b"
    with pytest.raises(RouterConfigError, match=r"'my-bakup' names no group or alias .*did you mean 'my-backup'.*"
                                                r"aliases: my-backup -> chat"):
        make(model_group_alias={"my-backup": "chat"}, fallbacks=[{"chat": ["my-bakup"]}])


@pytest.mark.parametrize(("fallbacks", "message"), [
    (["bakup"], r"fallbacks\[0\]: 'bakup' names no group or alias of this Router \(did you mean 'backup'\?\) "
                r"\(groups: chat, backup\)"),
    ([{"chat": ["bakup"]}], r"fallbacks\['chat'\]\[0\]: 'bakup' names no group"),
    ([{"backup": ["nowhere"]}], "'nowhere' names no group"),  # every list is checked, not only the one used
    ([{"caht": ["backup"]}], "'caht' is not a group of this Router"),
    ([{"chat": ["backup"]}, "backup"], "mixes LiteLLM's Router shape"),
    ([{"model": "openai/gpt-4o", "api_bse": "http://x"}], "unknown key 'api_bse' \\(did you mean 'api_base'\\?\\)"),
    ([{"model": "nonsense-model"}], "'nonsense-model' cannot be called directly"),
])
def test_per_call_fallbacks_are_checked_before_anything_is_sent(fallbacks: Any, message: str) -> None:
    r, sent = failing_primary()
    with pytest.raises(InvalidRequestError, match=message):
        r.completion("chat", MESSAGES, fallbacks=fallbacks)
    with pytest.raises(InvalidRequestError, match=r"context_window_fallback_dict.*'bigg' names no group"):
        r.completion("chat", MESSAGES, context_window_fallback_dict={"chat": "bigg"})
    assert sent == []


def test_per_call_fallbacks_in_litellms_router_shape_take_the_called_groups_entry() -> None:
    r, sent = failing_primary()
    assert r.completion("chat", MESSAGES, fallbacks=[{"chat": ["backup"]}]).choices[0].message.content == "b"
    assert r.completion("chat", MESSAGES, fallbacks=[{"*": ["backup"]}]).choices[0].message.content == "b"
    with pytest.raises(routerlib.InternalServerError):  # an entry for another group only: no fallback
        r.completion("chat", MESSAGES, fallbacks=[{"backup": ["chat"]}])
    assert sent.count("http://h/b/chat/completions") == 2


def test_a_misspelt_group_lists_the_groups_and_sends_nothing() -> None:
    r, sent = failing_primary(model_group_alias={"gpt-4": "backup"})
    with pytest.raises(InvalidRequestError, match=r"'caht' names no group or alias of this Router \(did you mean "
                                                  r"'chat'\?\) \(groups: chat, backup; aliases: gpt-4 -> backup\) "
                                                  r"and is not a model to call directly: cannot tell the provider"):
        r.completion("caht", MESSAGES)
    assert sent == []
    assert r.completion("caht", MESSAGES, api_base="http://h/x/v1").choices[0].message.content == "x"  # direct


# -- LiteLLM's Router options and model_list keys, end to end

def test_litellm_router_options_are_taken_refused_or_suggested_never_a_type_error() -> None:
    r = make(enable_pre_call_checks=True, set_verbose=False, debug_level="INFO", client_ttl=3600,
             default_fallbacks=["backup"], default_max_parallel_requests=3, cache_responses=True,
             model_list=[dep("a"), dep("b", group="backup", max_parallel_requests=1)])
    from routerlib.cache import MemoryCache

    assert r._plan.fallbacks == {"*": ("backup",)}
    assert [m.max_parallel for g in r._groups.values() for m in g.members] == [3, 1]
    assert isinstance(r._runtime.cache, MemoryCache)
    for bad, message in (({"enable_pre_call_checks": False}, "cannot be turned off"),
                         ({"stream_timeout": 30}, "use timeout="),
                         ({"routing_stratgy": "least-busy"}, "did you mean 'routing_strategy'")):
        with pytest.raises(RouterConfigError, match=message):
            make(**bad)


def test_redis_host_port_and_password_become_the_redis_url() -> None:
    pytest.importorskip("redis")
    r = make(redis_host="127.0.0.1", redis_port=1, redis_password="pw")
    assert type(r._store).__name__ == "RedisHealth"
    assert r._store._url == "redis://:pw@127.0.0.1:1/0"  # type: ignore[attr-defined]


def test_custom_llm_provider_in_litellm_params() -> None:
    r = make([dep("a", model="gpt-4o-mini", custom_llm_provider="openai")])
    assert r._groups["chat"].members[0].deployment.provider == "openai"
    with pytest.raises(RouterConfigError, match=r"custom_llm_provider='opneai' \(did you mean 'openai'\?\): not a "
                                                r"provider routerlib knows"):
        make([dep("a", custom_llm_provider="opneai")])


def test_base_model_prices_and_sizes_a_deployment_the_model_map_does_not_know() -> None:
    r = make([dep("a", model="openai/my-gpt4o-deployment", model_info={"base_model": "gpt-4o"})])
    member = r._groups["chat"].members[0]
    assert (member.input_price, member.max_input, member.price_source) == (2.5e-06, 128000, "deployment")
    response = r.completion("chat", MESSAGES, mock_response="hi")
    assert response.cost.total is not None and response.cost.total > 0
    known = make([dep("a", model_info={"base_model": "gpt-4o", "mode": "chat", "supports_vision": True})])
    assert known._groups["chat"].members[0].deployment.options.prices is None  # its own row prices it
    with pytest.raises(RouterConfigError, match=r"base_model='gpt-4oo': not in the model map"):
        make([dep("a", model="openai/my-deployment", model_info={"base_model": "gpt-4oo"})])
