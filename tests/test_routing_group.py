"""routing.group: pre-call checks, untried first, the all-open trial, and when to switch."""

from __future__ import annotations

from random import Random

import pytest
from routing_helpers import Clock, FakeCall, member, request

from routerlib import exceptions as ex
from routerlib.routing.breaker import BreakerConfig
from routerlib.routing.group import Group, GroupTarget
from routerlib.routing.health import MemoryHealth, Outcome
from routerlib.routing.members import Member, Pool
from routerlib.routing.strategies import STRATEGIES


def setup(ms: list[Member], strategy: str = "simple-shuffle", clock: Clock | None = None,
          **config: object) -> tuple[Group, MemoryHealth, Clock]:
    clock = clock or Clock()
    store = MemoryHealth()
    store.bind(ms, BreakerConfig(**config), clock)  # type: ignore[arg-type]
    return Group("chat", ms, strategy, STRATEGIES[strategy]), store, clock


def target(group: Group, store: MemoryHealth, seed: int = 0) -> GroupTarget:
    return GroupTarget(group, store, Random(seed))


def fail(store: MemoryHealth, m: Member, call: str = "f", verdict: str = "failure") -> None:
    store.choose(call, Pool([m]), STRATEGIES["simple-shuffle"], None, Random(0), lambda x: 0)  # type: ignore[arg-type]
    store.report(call, m.id, Outcome(verdict, detail="InternalServerError 500"))  # type: ignore[arg-type]


def test_pick_records_the_strategy_and_why() -> None:
    group, store, _ = setup([member(0), member(1)], "least-busy")
    t = target(group, store)
    deployment = t.pick(FakeCall(request()))
    assert deployment.id in ("d0", "d1")
    assert t.last is not None and t.last[0] == "least-busy"
    assert t.last[1].startswith("least-busy: 0 in flight, tie of 2")
    assert t.name == "chat" and t.kind == "group"


def test_tags_route_only_to_deployments_carrying_one() -> None:
    ms = [member(0, tags=frozenset({"eu"})), member(1, tags=frozenset({"us"})), member(2, tags=frozenset({"default"}))]
    group, store, _ = setup(ms)
    for _ in range(20):
        assert target(group, store).pick(FakeCall(request(metadata={"tags": ["eu"]}))).id == "d0"
        store.release("call-1")
        assert target(group, store).pick(FakeCall(request())).id == "d2"  # untagged -> "default"
        store.release("call-1")
    with pytest.raises(ex.NoDeploymentAvailableError, match="match none of the call's") as caught:
        target(group, store).pick(FakeCall(request(metadata={"tags": "asia"})))
    assert set(caught.value.reasons) == {"d0", "d1", "d2"}


def test_untagged_calls_go_anywhere_when_no_deployment_is_tagged_default() -> None:
    group, store, _ = setup([member(0, tags=frozenset({"eu"})), member(1)])
    seen = set()
    for seed in range(30):
        seen.add(target(group, store, seed).pick(FakeCall(request(), call_id=str(seed))).id)
    assert seen == {"d0", "d1"}


def test_context_window_pre_check_inside_the_group() -> None:
    ms = [member(0, "small", max_input=1000), member(1, "big", max_input=100_000)]
    group, store, _ = setup(ms)
    long = request(messages=[{"role": "user", "content": "x" * 5000}], max_tokens=100)
    t = target(group, store)
    for _ in range(10):
        assert t.pick(FakeCall(long, prompt=4000)).id == "big"
        store.release("call-1")
    assert "small: context window: 4000 prompt + 100 output tokens > 1000" in (t.last or ("", ""))[1]


def test_a_group_too_small_for_the_request_raises_a_context_length_error() -> None:
    group, store, _ = setup([member(0, max_input=100), member(1, max_output=50)])
    long = request(messages=[{"role": "user", "content": "x" * 5000}], max_tokens=100)
    with pytest.raises(ex.NoDeploymentFitsError) as caught:
        target(group, store).pick(FakeCall(long, prompt=4000))
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.reasons["d1"] == "max output 100 > its 50 tokens"
    # Caught as a plain Client's error for the same request is (LiteLLM's pre-call checks too):
    assert isinstance(caught.value, ex.ContextWindowExceededError)
    assert isinstance(caught.value, ex.NoDeploymentAvailableError)


def test_short_prompts_are_never_tokenized() -> None:
    group, store, _ = setup([member(0, max_input=100_000)])

    class Counting(FakeCall):
        counted = 0

        def prompt_tokens(self, deployment):  # type: ignore[no-untyped-def]
            Counting.counted += 1
            return 5

    target(group, store).pick(Counting(request()))
    assert Counting.counted == 0


def test_untried_deployments_come_first() -> None:
    group, store, _ = setup([member(0), member(1), member(2)])
    for seed in range(20):
        picked = target(group, store, seed).pick(FakeCall(request(), tried=frozenset({"d0", "d1"}), call_id=str(seed)))
        assert picked.id == "d2"


def test_once_every_deployment_was_tried_a_retry_picks_among_all() -> None:
    group, store, _ = setup([member(0), member(1)])
    seen = {target(group, store, s).pick(FakeCall(request(), tried=frozenset({"d0", "d1"}), call_id=str(s))).id
            for s in range(30)}
    assert seen == {"d0", "d1"}


def test_an_untried_open_deployment_leaves_the_tried_healthy_one() -> None:
    group, store, _ = setup([member(0), member(1)], allowed_fails=0)
    fail(store, group.members[1])
    picked = target(group, store).pick(FakeCall(request(), tried=frozenset({"d0"})))
    assert picked.id == "d0"


def test_every_deployment_open_gives_one_trial_of_the_soonest_then_the_typed_error() -> None:
    group, store, clock = setup([member(0), member(1)], allowed_fails=0, cooldown_time=5.0)
    fail(store, group.members[0], "a")
    clock.advance(1.0)
    fail(store, group.members[1], "b")
    t = target(group, store)
    trial = t.pick(FakeCall(request()))
    assert trial.id == "d0"  # reopens first
    assert t.last is not None and t.last[0] == "trial"
    assert "reopens first" in t.last[1]
    store.report("call-1", "d0", Outcome("failure", detail="InternalServerError 500"))
    with pytest.raises(ex.NoDeploymentAvailableError) as caught:
        t.pick(FakeCall(request(), tried=frozenset({"d0"})))
    error = caught.value
    assert str(error).startswith("[chat] all 2 deployments of chat are cooling down until ")
    assert "this call's trial of the first to reopen failed" in str(error)
    assert error.open_until is not None and error.retryable is False
    assert set(error.reasons) == {"d0", "d1"}


def test_no_trial_without_time_left() -> None:
    group, store, _ = setup([member(0)], allowed_fails=0)
    fail(store, group.members[0])
    with pytest.raises(ex.NoDeploymentAvailableError, match="cooling down"):
        target(group, store).pick(FakeCall(request(), left=0.0))


def test_limits_are_not_an_all_open_group() -> None:
    group, store, _ = setup([member(0, max_parallel=1), member(1)], allowed_fails=0)
    target(group, store).pick(FakeCall(request(), call_id="busy", tried=frozenset({"d1"})))
    fail(store, group.members[1])
    with pytest.raises(ex.NoDeploymentAvailableError, match=r"can take the call: .*max_parallel_requests 1"):
        target(group, store).pick(FakeCall(request(), call_id="x"))


@pytest.mark.parametrize("error", [
    ex.RateLimitError("x", status_code=429, retry_after=30), ex.InternalServerError("x", status_code=500),
    ex.AuthenticationError("x", status_code=401), ex.APIConnectionError("x"),
])
def test_alternative_switches_when_an_untried_sibling_can_take_the_call(error: ex.RouterlibError) -> None:
    group, store, _ = setup([member(0), member(1)])
    t = target(group, store)
    failed = group.members[0].deployment
    assert t.alternative(FakeCall(request(), tried=frozenset({"d0"})), failed, error)
    assert not t.alternative(FakeCall(request(), tried=frozenset({"d0", "d1"})), failed, error)


@pytest.mark.parametrize("error", [
    ex.BadRequestError("x", status_code=400), ex.ContextWindowExceededError("x"),
    ex.ContentPolicyViolationError("x"), ex.UnsupportedParamsError("x"),
])
def test_client_errors_never_switch_inside_the_group(error: ex.RouterlibError) -> None:
    group, store, _ = setup([member(0), member(1)])
    assert not target(group, store).alternative(FakeCall(request(), tried=frozenset({"d0"})),
                                                group.members[0].deployment, error)


def test_alternative_ignores_open_siblings() -> None:
    group, store, _ = setup([member(0), member(1)], allowed_fails=0)
    fail(store, group.members[1])
    assert not target(group, store).alternative(FakeCall(request(), tried=frozenset({"d0"})),
                                                group.members[0].deployment, ex.InternalServerError("x"))


def test_router_preference_is_named_on_the_attempt() -> None:
    group, store, _ = setup([member(0, quality=1.0), member(1, quality=9.0)])
    t = target(group, store)
    assert t.pick(FakeCall(request(router_preference="powerful"))).id == "d1"
    assert t.last is not None and t.last[0] == "router_preference=powerful"


async def test_apick_mirrors_pick() -> None:
    group, store, _ = setup([member(0), member(1)], "least-busy")
    deployment = await target(group, store).apick(FakeCall(request(), tried=frozenset({"d0"})))
    assert deployment.id == "d1"


def test_the_cache_scope_is_the_group_over_the_deployments_a_call_may_go_to() -> None:
    ms = [member(0, tags=frozenset({"eu"})), member(1, tags=frozenset({"default"}))]
    group, store, _ = setup(ms)
    t = target(group, store)
    assert t.cache_scope is None  # nothing picked yet
    t.pick(FakeCall(request()))
    scope = t.cache_scope
    assert scope is not None and b"'chat'" in scope
    assert scope is group.untagged.memo("cache_scope", lambda _: b"")  # computed once per pool
    tagged = target(group, store)
    tagged.pick(FakeCall(request(metadata={"tags": ["eu"]}), call_id="call-2"))
    assert tagged.cache_scope is not None
