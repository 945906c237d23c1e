"""Fallbacks between groups, context-window and content-policy fallbacks, aliases, direct models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fault_server import FaultServer, entry, fault_servers

import routerlib
from routerlib import RetryPolicy, Router

MESSAGES = [{"role": "user", "content": "hi"}]
LONG = [{"role": "user", "content": "word " * 2000}]
FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0.0)


@pytest.fixture
def servers() -> Iterator[list[FaultServer]]:
    with fault_servers("a", "b", "c") as three:
        yield three


def answer(response: Any) -> str:
    return str(response.choices[0].message.content)


def test_a_failing_group_falls_back_to_the_next_group(servers: list[FaultServer]) -> None:
    a, b, c = servers
    a.set(status=500)
    b.set(status=500)
    r = Router([entry(a), entry(b), entry(c, group="backup")], fallbacks=[{"chat": ["backup"]}], environ={},
               policy=FAST, num_retries=1)
    response = r.completion("chat", MESSAGES)
    assert answer(response) == "c"
    ids = [x.deployment_id for x in response.attempts]
    assert ids[-1] == "c" and set(ids[:-1]) == {"a", "b"}


def test_when_everything_fails_the_last_typed_error_carries_the_history(servers: list[FaultServer]) -> None:
    a, b, c = servers
    for s in servers:
        s.set(status=503)
    r = Router([entry(a), entry(b), entry(c, group="backup")], fallbacks=[{"*": ["backup"]}], environ={},
               policy=FAST, num_retries=0)
    with pytest.raises(routerlib.ServiceUnavailableError) as caught:
        r.completion("chat", MESSAGES)
    assert [x.deployment_id for x in caught.value.attempts][-1] == "c"
    assert caught.value.history is not None


def test_context_window_fallbacks_from_the_pre_check(servers: list[FaultServer]) -> None:
    a, b, c = servers
    r = Router([entry(a, model_info={"max_input_tokens": 500}), entry(b, group="big"), entry(c, group="other")],
               context_window_fallbacks=[{"chat": ["big"]}], fallbacks=[{"chat": ["other"]}], environ={})
    response = r.completion("chat", LONG, max_tokens=10)
    assert answer(response) == "b"
    assert a.count() == 0


def test_context_window_fallbacks_from_the_providers_error(servers: list[FaultServer]) -> None:
    a, b, c = servers
    a.set(status=400, code="context_length_exceeded")
    r = Router([entry(a), entry(b, group="big"), entry(c, group="other")], environ={},
               context_window_fallbacks=[{"chat": ["big"]}], fallbacks=[{"chat": ["other"]}])
    response = r.completion("chat", MESSAGES)
    assert answer(response) == "b"
    assert r.health()["a"].state == "closed"  # the request's fault, not the deployment's


def test_content_policy_fallbacks(servers: list[FaultServer]) -> None:
    a, b, c = servers
    a.set(status=400, code="content_filter")
    r = Router([entry(a), entry(b, group="lenient"), entry(c, group="other")], environ={},
               content_policy_fallbacks=[{"chat": ["lenient"]}], fallbacks=[{"chat": ["other"]}])
    assert answer(r.completion("chat", MESSAGES)) == "b"


def test_model_group_alias(servers: list[FaultServer]) -> None:
    a, _, _ = servers
    r = Router([entry(a)], model_group_alias={"gpt-4": "chat"}, environ={})
    response = r.completion("gpt-4", MESSAGES)
    assert answer(response) == "a"


def test_per_call_fallbacks_replace_the_routers(servers: list[FaultServer]) -> None:
    a, b, c = servers
    a.set(status=500)
    r = Router([entry(a), entry(b, group="backup"), entry(c, group="other")], fallbacks=[{"chat": ["backup"]}],
               environ={}, policy=FAST, num_retries=0)
    assert answer(r.completion("chat", MESSAGES, fallbacks=["other"])) == "c"


def test_a_fallback_to_a_direct_model_uses_its_own_credentials(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(status=500)
    r = Router([entry(a)], environ={}, policy=FAST, num_retries=0)
    response = r.completion("chat", MESSAGES, fallbacks=[
        {"model": "openai/gpt-4o", "api_base": b.url, "api_key": "sk-other-key-987654"}])
    assert answer(response) == "b"
    assert b.journal[-1]["headers"]["authorization"] == "Bearer sk-other-key-987654"
    assert "sk-test" not in str(b.journal[-1]["headers"])


def test_a_router_level_fallback_to_a_direct_model(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(status=500)
    environ = {"AZURE_API_KEY": "az-env-key-5555", "AZURE_API_BASE": b.url.removesuffix("/v1"),
               "AZURE_API_VERSION": "2024-06-01"}
    r = Router([entry(a)], fallbacks=[{"chat": ["azure/my-gpt4o"]}], policy=FAST, num_retries=0, environ=environ)
    assert answer(r.completion("chat", MESSAGES)) == "b"
    headers = b.journal[-1]["headers"]
    assert headers["api-key"] == "az-env-key-5555"  # its own key, from its own environment variable
    assert "sk-test" not in str(headers)


def test_the_routers_deadline_bounds_every_call(servers: list[FaultServer]) -> None:
    a, _, _ = servers
    a.set(latency=2.0)
    r = Router([entry(a)], deadline=0.2, environ={}, num_retries=0)
    with pytest.raises(routerlib.APITimeoutError):
        r.completion("chat", MESSAGES)


def test_a_fallback_naming_an_alias_goes_to_its_group_not_to_a_model_of_that_name(
        servers: list[FaultServer]) -> None:
    """"gpt-4" is an alias of backup: a fallback to it must reach b, never the OpenAI endpoint the
    environment names (c stands in for api.openai.com, with the environment's key)."""
    a, b, c = servers
    a.set(status=500)
    environ = {"OPENAI_API_KEY": "sk-env-key-for-openai", "OPENAI_BASE_URL": c.url}
    r = Router([entry(a), entry(b, group="backup")], model_group_alias={"gpt-4": "backup", "my-backup": "backup"},
               fallbacks=[{"chat": ["gpt-4"]}], policy=FAST, num_retries=0, environ=environ)
    assert answer(r.completion("chat", MESSAGES)) == "b"
    assert answer(r.completion("chat", MESSAGES, fallbacks=["my-backup"])) == "b"
    assert answer(r.completion("chat", MESSAGES, fallbacks=[{"chat": ["gpt-4"]}])) == "b"
    assert c.count() == 0 and b.count() == 3


def test_per_call_fallbacks_are_checked_before_anything_is_sent(servers: list[FaultServer]) -> None:
    a, b, _ = servers
    a.set(status=500)
    r = Router([entry(a), entry(b, group="backup")], policy=FAST, num_retries=0, environ={})
    for bad in (["bakup"], [{"chat": ["bakup"]}], [{"caht": ["backup"]}],
                [{"model": "openai/gpt-4o", "api_bse": b.url}]):
        with pytest.raises(routerlib.InvalidRequestError):
            r.completion("chat", MESSAGES, fallbacks=bad)
    with pytest.raises(routerlib.InvalidRequestError, match="did you mean 'chat'"):
        r.completion("caht", MESSAGES)
    assert a.count() == 0 and b.count() == 0  # nothing was sent
    assert answer(r.completion("chat", MESSAGES, fallbacks=[{"chat": ["backup"]}])) == "b"  # LiteLLM's shape
    assert a.count() == 1 and b.count() == 1
