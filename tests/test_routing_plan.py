"""routing.plan: which target follows which error; no target twice; direct fallbacks resolve lazily."""

from __future__ import annotations

from random import Random
from typing import Any

import pytest
from routing_helpers import FakeCall, member, request

from routerlib import exceptions as ex
from routerlib.routing.breaker import BreakerConfig
from routerlib.routing.group import Group, GroupTarget
from routerlib.routing.health import MemoryHealth
from routerlib.routing.plan import DirectTarget, Names, RouterPlan, RouterSource, call_fallbacks
from routerlib.routing.strategies import simple_shuffle

NAMES = ("chat", "backup", "big", "lenient", "other")


def plan(fallbacks: dict[str, tuple[str, ...]] | None = None, *, cw: dict[str, tuple[str, ...]] | None = None,
         cp: dict[str, tuple[str, ...]] | None = None) -> tuple[RouterPlan, list[Any]]:
    ms = [member(i, f"{name}-0", group=name) for i, name in enumerate(NAMES)]
    store = MemoryHealth()
    store.bind(ms, BreakerConfig(), lambda: 0.0)
    groups = {m.group: Group(m.group, [m], "simple-shuffle", simple_shuffle) for m in ms}
    resolved: list[Any] = []

    def direct(name: str, entry: Any) -> Any:
        resolved.append((name, entry))
        return ms[0].deployment

    return RouterPlan(groups, store, Random(0), fallbacks=fallbacks or {}, context_window=cw or {},
                      content_policy=cp or {}, direct=direct), resolved


def walk(source: RouterSource, errors: list[ex.RouterlibError], call: FakeCall) -> list[tuple[str, str]]:
    seen = []
    target = source.next_target(call, None)
    for error in errors:
        assert target is not None
        seen.append((target.name, target.kind))
        target = source.next_target(call, error)
    if target is not None:
        seen.append((target.name, target.kind))
    return seen


def test_fallbacks_in_order_then_none() -> None:
    p, _ = plan({"chat": ("backup", "other")})
    call = FakeCall(request())
    source = RouterSource(p, call.request, p.groups["chat"])
    err = ex.InternalServerError("x")
    assert walk(source, [err, err, err], call) == [("chat", "group"), ("backup", "fallback"), ("other", "fallback")]


def test_star_fallbacks_apply_to_groups_without_their_own() -> None:
    p, _ = plan({"*": ("backup",), "other": ("chat",)})
    call = FakeCall(request())
    assert walk(RouterSource(p, call.request, p.groups["chat"]), [ex.APIConnectionError("x")], call) == [
        ("chat", "group"), ("backup", "fallback")]


def test_context_errors_go_to_context_window_fallbacks_first() -> None:
    p, _ = plan({"chat": ("backup",)}, cw={"chat": ("big",)})
    call = FakeCall(request(context_window_fallback_dict={"chat": "lenient"}))
    source = RouterSource(p, call.request, p.groups["chat"])
    too_big = ex.NoDeploymentAvailableError("x", group="chat", reasons={}, code="context_length_exceeded")
    got = walk(source, [too_big, ex.ContextWindowExceededError("x"), ex.InternalServerError("x")], call)
    assert got == [("chat", "group"), ("lenient", "context_window"), ("big", "context_window"), ("backup", "fallback")]


def test_content_policy_errors_go_to_content_policy_fallbacks_first() -> None:
    p, _ = plan({"chat": ("backup",)}, cp={"*": ("lenient",)})
    call = FakeCall(request())
    got = walk(RouterSource(p, call.request, p.groups["chat"]),
               [ex.ContentPolicyViolationError("x"), ex.InternalServerError("x")], call)
    assert got == [("chat", "group"), ("lenient", "fallback"), ("backup", "fallback")]


def test_no_target_is_visited_twice() -> None:
    p, _ = plan({"chat": ("backup", "chat", "backup")}, cw={"chat": ("backup",)})
    call = FakeCall(request())
    got = walk(RouterSource(p, call.request, p.groups["chat"]),
               [ex.ContextWindowExceededError("x"), ex.InternalServerError("x")], call)
    assert got == [("chat", "group"), ("backup", "context_window")]


def test_per_call_fallbacks_replace_the_routers_and_may_be_direct_entries() -> None:
    p, resolved = plan({"chat": ("backup",)})
    entry = {"model": "openai/gpt-4o", "api_key": "sk-own-key-123456"}
    call = FakeCall(request(fallbacks=["other", "openai/gpt-4o-mini", entry]))
    source = RouterSource(p, call.request, p.groups["chat"])
    err = ex.InternalServerError("x")
    targets = [source.next_target(call, None)] + [source.next_target(call, err) for _ in range(3)]
    assert [(t.name, type(t).__name__) for t in targets if t is not None] == [
        ("chat", "GroupTarget"), ("other", "GroupTarget"), ("openai/gpt-4o-mini", "DirectTarget"),
        ("openai/gpt-4o", "DirectTarget")]
    assert resolved == []  # resolved only when picked
    direct = targets[3]
    assert isinstance(direct, DirectTarget)
    direct.pick(call)
    direct.pick(call)
    assert resolved == [("openai/gpt-4o", entry)]
    assert direct.alternative(call, direct.pick(call), err) is False
    assert direct.honours_preference and GroupTarget.honours_preference


def test_a_bad_per_call_entry_is_refused() -> None:
    p, _ = plan()
    call = FakeCall(request(fallbacks=[{"api_base": "http://x"}]))
    source = RouterSource(p, call.request, p.groups["chat"])
    source.next_target(call, None)
    with pytest.raises(ex.InvalidRequestError, match="a dict with a 'model'"):
        source.next_target(call, ex.InternalServerError("x"))


def test_a_fallback_alias_opens_its_group_even_from_a_calls_own_context_dict() -> None:
    p, resolved = plan()
    p.names = Names(NAMES, {"gpt-4": "big"}, lambda name: None)
    call = FakeCall(request(context_window_fallback_dict={"chat": "gpt-4"}, fallbacks=["gpt-4"]))
    got = walk(RouterSource(p, call.request, p.groups["chat"]), [ex.ContextWindowExceededError("x")], call)
    assert got == [("chat", "group"), ("big", "context_window")]
    assert resolved == []  # never called directly as a model named "gpt-4"


def test_call_fallbacks_resolve_names_and_pick_the_called_groups_entry() -> None:
    names = Names(NAMES, {"gpt-4": "backup"}, lambda name: None if "/" in name else "no provider")
    ok = lambda name, entry: None  # noqa: E731
    shaped = request(fallbacks=[{"chat": ["gpt-4", "openai/gpt-4o"]}, {"*": ["other"]}],
                     context_window_fallback_dict={"chat": "gpt-4"})
    assert call_fallbacks(shaped, "chat", names, ok) == (("backup", "openai/gpt-4o"), {"chat": "backup"})
    assert call_fallbacks(shaped, "big", names, ok) == (("other",), {"chat": "backup"})
    entry = {"model": "openai/gpt-4o", "api_base": "http://x/v1"}
    assert call_fallbacks(request(fallbacks=["gpt-4", entry]), "chat", names, ok)[0] == ("backup", entry)
    with pytest.raises(ex.InvalidRequestError, match=r"fallbacks\[0\]: 'bakup' names no group or alias"):
        call_fallbacks(request(fallbacks=["bakup"]), "chat", names, ok)
