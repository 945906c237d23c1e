"""routing.strategies: pure functions of a snapshot, checked with fixed seeds and wide statistical bounds."""

from __future__ import annotations

from collections import Counter
from random import Random

import pytest
from routing_helpers import FakeSnapshot, member, members

from routerlib.routing import strategies as st
from routerlib.routing.members import Mix, Pool


def mix(prompt: int = 100, output: int | None = 50, stream: bool = False, preference: str | None = None) -> Mix:
    return Mix(stream=stream, prompt_tokens=lambda d: prompt, max_output=output, preference=preference)


def shares(strategy: st.Strategy, pool: Pool, snap: FakeSnapshot, m: Mix, n: int = 20000,
           seed: int = 7) -> dict[str, float]:
    rng = Random(seed)
    counts = Counter(strategy(pool, snap, m, rng)[0].id for _ in range(n))
    return {k: v / n for k, v in counts.items()}


def test_simple_shuffle_honours_weights_within_statistical_bounds() -> None:
    pool = Pool([member(0, weight=1.0), member(1, weight=3.0), member(2, weight=6.0)])
    got = shares(st.simple_shuffle, pool, FakeSnapshot(), mix())
    # 20,000 draws: the standard error of a share is < 0.4%; 2% is five of them.
    assert got["d0"] == pytest.approx(0.1, abs=0.02)
    assert got["d1"] == pytest.approx(0.3, abs=0.02)
    assert got["d2"] == pytest.approx(0.6, abs=0.02)


def test_simple_shuffle_never_picks_a_zero_weight() -> None:
    pool = Pool([member(0, weight=0.0), member(1, weight=1.0)])
    assert set(shares(st.simple_shuffle, pool, FakeSnapshot(), mix(), n=2000)) == {"d1"}


def test_same_seed_same_picks() -> None:
    pool = Pool(members(5))
    rng1, rng2 = Random(3), Random(3)
    a = [st.least_busy(pool, FakeSnapshot(), mix(), rng1)[0].id for _ in range(50)]
    b = [st.least_busy(pool, FakeSnapshot(), mix(), rng2)[0].id for _ in range(50)]
    assert a == b


def test_least_busy_takes_the_fewest_in_flight() -> None:
    pool = Pool(members(4))
    snap = FakeSnapshot(flight={0: 3, 1: 1, 2: 2, 3: 5})
    member_, why = st.least_busy(pool, snap, mix(), Random(1))
    assert member_.id == "d1"
    assert why == "least-busy: 1 in flight"


def test_least_busy_breaks_ties_at_random_not_first() -> None:
    # LiteLLM #39322: "the first of the ties" sent 93.7% of traffic to one backend.
    pool = Pool(members(4))
    got = shares(st.least_busy, pool, FakeSnapshot(flight={3: 1}), mix(), n=9000)
    assert set(got) == {"d0", "d1", "d2"}
    for share in got.values():
        assert share == pytest.approx(1 / 3, abs=0.03)


def test_latency_prefers_the_fast_by_power_of_two_choices() -> None:
    pool = Pool(members(5))
    snap = FakeSnapshot(lat={0: 0.001, 1: 0.01, 2: 0.01, 3: 0.01, 4: 0.1})
    got = shares(st.latency_based, pool, snap, mix(), n=10000)
    # The fastest wins every comparison it is in (2/5 of draws); the slowest never wins one.
    assert got["d0"] == pytest.approx(0.4, abs=0.03)
    assert "d4" not in got


def test_latency_weighs_calls_in_flight() -> None:
    pool = Pool(members(2))
    snap = FakeSnapshot(lat={0: 0.001, 1: 0.002}, flight={0: 5})
    picked, why = st.latency_based(pool, snap, mix(), Random(0))
    assert picked.id == "d1"  # 1 ms x 6 > 2 ms x 1
    assert "power of two choices" in why


def test_latency_explores_a_deployment_without_samples() -> None:
    pool = Pool(members(2))
    picked, why = st.latency_based(pool, FakeSnapshot(lat={0: 0.001}), mix(), Random(0))
    assert picked.id == "d1"
    assert "no latency sample yet" in why


def test_latency_uses_time_to_first_token_for_streams() -> None:
    pool = Pool(members(2))
    snap = FakeSnapshot(lat={0: 0.001, 1: 0.01}, ttft={0: 0.5, 1: 0.1})
    assert st.latency_based(pool, snap, mix(stream=True), Random(0))[0].id == "d1"
    assert st.latency_based(pool, snap, mix(stream=False), Random(0))[0].id == "d0"


# Cheap input and dear output (A) against dear input and cheap output (B): which is cheaper
# depends on the request's own mix; the sum of the per-token prices always says B.
A = dict(input_price=1e-6, output_price=10e-6)
B = dict(input_price=5e-6, output_price=1e-6)


def test_cost_based_picks_by_the_requests_own_token_mix() -> None:
    pool = Pool([member(0, "a", **A), member(1, "b", **B)])  # type: ignore[arg-type]
    long_prompt = st.cost_based(pool, FakeSnapshot(), mix(prompt=1000, output=10), Random(0))
    long_answer = st.cost_based(pool, FakeSnapshot(), mix(prompt=10, output=1000), Random(0))
    assert long_prompt[0].id == "a"
    assert long_answer[0].id == "b"
    assert "1000 prompt + 10 output tokens" in long_prompt[1]


def test_cost_based_uses_the_observed_output_when_the_request_sets_no_max() -> None:
    pool = Pool([member(0, "a", **A), member(1, "b", **B)])  # type: ignore[arg-type]
    picked, why = st.cost_based(pool, FakeSnapshot(out={0: 900.0, 1: 900.0}), mix(prompt=10, output=None),
                                Random(0))
    assert picked.id == "b"
    assert "observed mean output" in why


def test_cost_based_ranks_unknown_prices_after_and_says_so() -> None:
    pool = Pool([member(0, "free-looking"), member(1, "b", **B)])  # type: ignore[arg-type]
    picked, why = st.cost_based(pool, FakeSnapshot(), mix(), Random(0))
    assert picked.id == "b"
    assert "1 unpriced ranked after" in why


def test_cost_based_with_no_price_at_all_says_it_shuffled() -> None:
    _picked, why = st.cost_based(Pool(members(3)), FakeSnapshot(), mix(), Random(0))
    assert why.startswith("cost-based: no candidate has a known price, so simple-shuffle")


def test_usage_based_takes_the_lowest_share_of_its_limits() -> None:
    pool = Pool([member(0, rpm=100), member(1, rpm=10), member(2, tpm=1000)])
    snap = FakeSnapshot(used={0: (50, 0), 1: (2, 0), 2: (0, 900)})
    picked, why = st.usage_based(pool, snap, mix(), Random(0))
    assert picked.id == "d1"
    assert "20% of its rpm/tpm limits" in why


def test_soonest_to_reopen() -> None:
    pool = Pool(members(3))
    picked, why = st.soonest_to_reopen(pool, FakeSnapshot(reopen={0: 9.0, 1: 2.0, 2: 5.0}), mix(), Random(0))
    assert picked.id == "d1"
    assert "reopens first (in 2.0 s)" in why


def test_powerful_takes_the_highest_quality_and_ranks_unscored_after() -> None:
    pool = Pool([member(0, quality=70.0), member(1, quality=90.0), member(2)])
    strategy = st.preferring("powerful", st.simple_shuffle)
    picked, why = strategy(pool, FakeSnapshot(), mix(), Random(0))
    assert picked.id == "d1"
    assert "quality 90" in why and "1 without a quality score ranked after" in why


def test_powerful_without_any_quality_says_what_it_rested_on() -> None:
    strategy = st.preferring("powerful", st.least_busy)
    picked, why = strategy(Pool(members(2)), FakeSnapshot(flight={0: 1}), mix(), Random(0))
    assert picked.id == "d1"
    assert why.startswith("router_preference=powerful: no candidate has a quality score")
    assert "least-busy" in why


def test_efficient_is_the_cheapest_for_the_request() -> None:
    pool = Pool([member(0, "a", quality=99.0, **A), member(1, "b", quality=1.0, **B)])  # type: ignore[arg-type]
    picked, why = st.preferring("efficient", st.simple_shuffle)(pool, FakeSnapshot(), mix(10, 1000), Random(0))
    assert picked.id == "b"
    assert why.startswith("router_preference=efficient: cost-based")


def test_balanced_is_quality_per_dollar_of_this_request() -> None:
    # a: quality 80 at $0.0011 for this mix; b: quality 60 at $0.0050 -> a
    pool = Pool([member(0, "a", quality=80.0, **A), member(1, "b", quality=60.0, **B)])  # type: ignore[arg-type]
    picked, why = st.preferring("balanced", st.simple_shuffle)(pool, FakeSnapshot(), mix(1000, 10), Random(0))
    assert picked.id == "a"
    assert "quality per $" in why


def test_balanced_without_prices_falls_back_to_quality_and_says_so() -> None:
    pool = Pool([member(0, quality=50.0), member(1, quality=60.0)])
    picked, why = st.preferring("balanced", st.simple_shuffle)(pool, FakeSnapshot(), mix(), Random(0))
    assert picked.id == "d1"
    assert "no scored candidate has a known price" in why


def test_ranked_gives_distinct_choices_in_order() -> None:
    pool = Pool(members(5))
    snap = FakeSnapshot(flight={0: 4, 1: 3, 2: 2, 3: 1, 4: 0})
    got = [m.id for m, _ in st.ranked(st.least_busy, pool, snap, mix(), Random(0), 3)]
    assert got == ["d4", "d3", "d2"]


def test_cost_based_over_many_deployments_finds_the_cheapest_for_every_mix() -> None:
    rng = Random(5)
    pool = Pool([member(i, input_price=rng.uniform(1e-7, 1e-5), output_price=rng.uniform(1e-7, 1e-5))
                 for i in range(300)])
    for prompt, output in ((1, 1), (5000, 1), (1, 5000), (800, 300), (37, 12345)):
        picked, _ = st.cost_based(pool, FakeSnapshot(), mix(prompt=prompt, output=output), Random(0))
        cheapest = min(pool.members, key=lambda m: prompt * (m.input_price or 0) + output * (m.output_price or 0))
        assert picked.id == cheapest.id, (prompt, output)


def test_cost_based_breaks_exact_ties_at_random() -> None:
    pool = Pool([member(i, **B) for i in range(4)])  # type: ignore[arg-type]
    got = shares(st.cost_based, pool, FakeSnapshot(), mix(), n=4000)
    assert len(got) == 4 and all(0.2 <= v <= 0.3 for v in got.values())
