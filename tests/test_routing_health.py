"""routing.health: usage windows, peak EWMA, and the in-memory store's atomic pick-and-reserve."""

from __future__ import annotations

import threading
from random import Random

import pytest
from routing_helpers import Clock, member, members

from routerlib.routing.breaker import BreakerConfig
from routerlib.routing.health import MemoryHealth, Outcome, Picked, Refused, UsageWindow, peak_ewma
from routerlib.routing.members import Member, Mix, Pool
from routerlib.routing.strategies import least_busy, simple_shuffle, soonest_to_reopen

MIX = Mix(stream=False, prompt_tokens=lambda d: 10, max_output=20)


def need(tokens: int = 30):  # type: ignore[no-untyped-def]
    return lambda m: tokens


def store(ms: list[Member], clock: Clock | None = None, **config: object) -> MemoryHealth:
    s = MemoryHealth()
    s.bind(ms, BreakerConfig(**config), clock or Clock())  # type: ignore[arg-type]
    return s


def choose(s: MemoryHealth, ms: list[Member], call: str = "c", tokens: int = 30, force: bool = False,
           strategy=simple_shuffle) -> Picked | Refused:  # type: ignore[no-untyped-def]
    return s.choose(call, Pool(ms), strategy, MIX, Random(0), need(tokens), force=force)


# -- usage window
def test_usage_window_counts_for_at_least_sixty_seconds() -> None:
    w = UsageWindow()
    w.add(100.2, 1, 50)
    w.add(130.0, 2, 10)
    assert w.totals(159.9) == (3, 60)
    assert w.totals(160.9) == (3, 60)  # the request at 100.2 is still within 60 s of some instant here
    assert w.totals(161.0) == (2, 10)
    assert w.totals(500.0) == (0, 0)


def test_usage_window_adjusts_only_buckets_still_in_the_window() -> None:
    w = UsageWindow()
    second = w.add(10.0, 1, 100)
    w.adjust(second, 0, -40)
    assert w.totals(10.5) == (1, 60)
    w.totals(200.0)
    w.adjust(second, 0, 1000)  # long gone: ignored
    assert w.totals(200.0) == (0, 0)


def test_usage_shares_follow_reservations_settlements_and_expiry() -> None:
    ms = [member(0, rpm=10), member(1, tpm=1000), member(2)]
    clock = Clock()
    s = store(ms, clock)
    pool = Pool(ms)
    s.choose("a", Pool(ms[:1]), simple_shuffle, MIX, Random(0), need(30))
    s.choose("b", Pool(ms[1:2]), simple_shuffle, MIX, Random(0), need(300))
    s.choose("c", Pool(ms[2:]), simple_shuffle, MIX, Random(0), need(30))
    assert s.usage_shares(pool) == [pytest.approx(0.1), pytest.approx(0.3), 0.0]  # the larger of rpm and tpm shares
    s.report("b", "d1", Outcome("ok", latency=0.1, tokens=500, completion_tokens=5))
    assert s.usage_shares(pool)[1] == pytest.approx(0.5)  # settled to the real usage
    s.release("a")
    assert s.usage_shares(pool)[0] == 0.0
    clock.now += 61.0
    s.choose("d", Pool(ms[2:]), simple_shuffle, MIX, Random(0), need(30))  # a pick reads the new time
    assert s.usage_shares(pool) == [0.0, 0.0, 0.0]  # every window expired, picked or not


def test_peak_ewma_jumps_up_and_decays_down() -> None:
    assert peak_ewma(None, 0.0, 0.5, 0.0) == 0.5
    assert peak_ewma(0.1, 0.0, 0.5, 0.0) == 0.5  # a slower sample is taken at once
    decayed = peak_ewma(0.5, 0.0, 0.1, 10.0)  # one decay time later: e^-1 of the old value left
    assert decayed == pytest.approx(0.5 * 0.3679 + 0.1 * 0.6321, rel=1e-3)


# -- pick and reserve
def test_choose_reserves_a_slot_and_tokens_and_report_settles_them() -> None:
    ms = members(1, tpm=10_000)
    s = store(ms)
    picked = choose(s, ms, tokens=30)
    assert isinstance(picked, Picked) and picked.member.id == "d0" and not picked.trial
    assert s.in_flight(0) == 1
    assert s.usage(0) == (1, 30)
    s.report("c", "d0", Outcome("ok", latency=0.2, tokens=18, completion_tokens=8))
    assert s.in_flight(0) == 0
    assert s.usage(0) == (1, 18)
    assert s.latency(0, False) == pytest.approx(0.025)
    assert s.mean_output(0) == 8.0


def test_without_a_tpm_limit_no_tokens_are_counted_until_the_answer() -> None:
    ms = members(1)
    s = store(ms)
    choose(s, ms, tokens=30)
    assert s.usage(0) == (1, 0)  # no tokenizing for a deployment without a tpm limit
    s.report("c", "d0", Outcome("ok", latency=0.2, tokens=18, completion_tokens=8))
    assert s.usage(0) == (1, 18)


def test_release_gives_back_a_pick_that_was_never_sent() -> None:
    ms = members(1, rpm=5)
    s = store(ms)
    choose(s, ms)
    s.release("c")
    assert s.in_flight(0) == 0
    assert s.usage(0) == (0, 0)


def test_a_report_for_another_deployment_or_call_is_ignored() -> None:
    ms = members(2)
    s = store(ms)
    picked = choose(s, ms[:1])
    assert isinstance(picked, Picked)
    s.report("c", "d1", Outcome("failure"))
    s.report("other", "d0", Outcome("failure"))
    assert s.in_flight(0) == 1


def test_max_parallel_requests_refuses_with_the_reason() -> None:
    ms = members(1, max_parallel=1)
    s = store(ms)
    assert isinstance(choose(s, ms, call="a"), Picked)
    refused = choose(s, ms, call="b")
    assert isinstance(refused, Refused)
    assert refused.refused[0][1] == "max_parallel_requests 1 reached"


def test_rpm_and_tpm_limits_refuse_before_they_are_exceeded() -> None:
    ms = [member(0, rpm=2), member(1, tpm=100)]
    s = store(ms)
    assert isinstance(choose(s, ms[:1], call="a"), Picked)
    assert isinstance(choose(s, ms[:1], call="b"), Picked)
    refused = choose(s, ms[:1], call="c")
    assert isinstance(refused, Refused) and "rpm limit 2 reached" in refused.refused[0][1]
    assert isinstance(choose(s, ms[1:], call="d", tokens=60), Picked)
    refused = choose(s, ms[1:], call="e", tokens=60)
    assert isinstance(refused, Refused)
    assert refused.refused[0][1] == "tpm limit 100: 60 used + 60 for this request"


def test_a_refused_member_is_dropped_and_the_strategy_runs_on_the_rest() -> None:
    ms = members(3, max_parallel=1)
    s = store(ms)
    picks = [choose(s, ms, call=f"c{i}", strategy=least_busy) for i in range(3)]
    assert sorted(p.member.id for p in picks if isinstance(p, Picked)) == ["d0", "d1", "d2"]
    last = choose(s, ms, call="c9")
    assert isinstance(last, Refused) and len(last.refused) == 3


def test_concurrent_threads_never_overshoot_rpm() -> None:
    ms = members(1, rpm=50)
    s = store(ms)
    picked: list[Picked | Refused] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(40):
            result = choose(s, ms, call=f"{k}-{i}")
            with lock:
                picked.append(result)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(p, Picked) for p in picked) == 50


def test_failures_open_the_breaker_and_the_store_refuses_then_trials() -> None:
    clock = Clock()
    ms = members(2)
    s = store(ms, clock, allowed_fails=0, cooldown_time=5.0)
    choose(s, ms[:1])
    s.report("c", "d0", Outcome("failure", detail="InternalServerError 500"))
    refused = choose(s, ms[:1], call="x")
    assert isinstance(refused, Refused)
    assert refused.refused[0][1].startswith("open for 5.0 s more (1 failures in a row")
    clock.advance(5.0)
    trial = choose(s, ms[:1], call="y")
    assert isinstance(trial, Picked) and trial.trial
    assert isinstance(choose(s, ms[:1], call="z"), Refused)  # one trial at a time
    s.report("y", "d0", Outcome("ok", latency=0.1, tokens=5, completion_tokens=5))
    assert s.health()["d0"].state == "closed"


def test_a_forced_trial_goes_through_an_open_breaker() -> None:
    clock = Clock()
    ms = members(2)
    s = store(ms, clock, allowed_fails=0)
    for i, m in enumerate(ms):
        choose(s, [m], call=f"f{i}")
        s.report(f"f{i}", m.id, Outcome("failure"))
    clock.advance(1.0)
    forced = choose(s, ms, call="t", force=True, strategy=soonest_to_reopen)
    assert isinstance(forced, Picked) and forced.trial


def test_health_reports_every_figure() -> None:
    clock = Clock()
    ms = [member(0, rpm=10, tpm=1000), member(1, group="other")]
    s = store(ms, clock, allowed_fails=1)
    choose(s, ms[:1], call="a")
    s.report("a", "d0", Outcome("ok", latency=1.0, tokens=40, completion_tokens=10))
    s.first_token("a", "d0", 0.3)
    choose(s, ms[:1], call="b")
    s.report("b", "d0", Outcome("failure", detail="InternalServerError 500"))
    choose(s, ms[1:], call="c")
    h = s.health()
    d0 = h["d0"]
    assert d0.group == "chat" and d0.state == "closed" and d0.consecutive_failures == 1
    assert d0.failure_rate == 0.5 and d0.calls_in_window == 2
    assert d0.rpm_used == 2 and d0.tpm_used == 70 and d0.rpm_limit == 10 and d0.tpm_limit == 1000
    assert d0.latency == pytest.approx(1.0) and d0.ttft == pytest.approx(3.0)  # 0.1 and 0.3, x10 by the failure
    assert d0.open_until is None and d0.cause == "" and d0.openings == 0
    assert h["d1"].in_flight == 1 and h["d1"].group == "other"
    choose(s, ms[:1], call="d")
    s.report("d", "d0", Outcome("failure", detail="InternalServerError 500"))
    d0 = s.health()["d0"]
    assert d0.state == "open" and d0.openings == 1
    assert d0.open_until is not None and d0.cause.startswith("2 failures in a row")


def test_admits_and_reopening_read_the_last_state() -> None:
    clock = Clock()
    ms = members(2)
    s = store(ms, clock, allowed_fails=0, cooldown_time=5.0)
    assert s.admits(ms[0]) and s.reopening(ms) is None
    choose(s, ms[:1])
    s.report("c", "d0", Outcome("failure"))
    assert not s.admits(ms[0])
    assert s.reopening(ms) is not None


def test_an_average_nobody_refreshes_decays_so_one_bad_sample_cannot_starve() -> None:
    clock = Clock()
    ms = members(1)
    s = store(ms, clock)
    choose(s, ms)
    s.report("c", "d0", Outcome("ok", latency=1.0, tokens=10, completion_tokens=10))
    choose(s, ms, call="x")  # refreshes the store's notion of now
    s.release("x")
    assert s.latency(0, False) == pytest.approx(0.1)
    clock.advance(10.0)
    choose(s, ms, call="y")
    s.release("y")
    assert s.latency(0, False) == pytest.approx(0.1 * 0.3679, rel=1e-3)



def test_all_open_trials_are_limited_like_half_open_ones() -> None:
    clock = Clock()
    ms = members(1)
    s = store(ms, clock, allowed_fails=0)
    choose(s, ms)
    s.report("c", "d0", Outcome("failure"))
    assert isinstance(choose(s, ms, call="t1", force=True, strategy=soonest_to_reopen), Picked)
    refused = choose(s, ms, call="t2", force=True, strategy=soonest_to_reopen)
    assert isinstance(refused, Refused) and refused.refused[0][1] == "open, 1 trial call(s) in flight"


def test_a_failure_makes_a_deployment_look_slower_to_latency_based_routing() -> None:
    clock = Clock()
    ms = members(1)
    s = store(ms, clock, allowed_fails=100)
    choose(s, ms)
    s.report("c", "d0", Outcome("ok", latency=0.5, tokens=10, completion_tokens=5))
    choose(s, ms, call="f")
    s.report("f", "d0", Outcome("failure", latency=0.01))
    choose(s, ms, call="x")
    s.release("x")
    assert s.latency(0, False) == pytest.approx(1.0)  # 0.1 s per token, x FAILURE_PENALTY
