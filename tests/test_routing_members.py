"""routing.members: pools (weighted draws, exclusions) and the request's output estimate."""

from __future__ import annotations

from routing_helpers import FakeSnapshot, member, members

from routerlib.routing.members import DEFAULT_OUTPUT, Mix, Pool


def test_weighted_draw_follows_the_cumulative_weights() -> None:
    pool = Pool([member(0, weight=1.0), member(1, weight=3.0)])
    assert pool.weighted(0.0).id == "d0"
    assert pool.weighted(0.2499).id == "d0"
    assert pool.weighted(0.25).id == "d1"
    assert pool.weighted(0.9999).id == "d1"


def test_all_zero_weights_draw_uniformly() -> None:
    pool = Pool(members(4, weight=0.0))
    assert [pool.weighted(u).id for u in (0.0, 0.3, 0.6, 0.99)] == ["d0", "d1", "d2", "d3"]


def test_without_a_member_or_ids() -> None:
    ms = members(3)
    pool = Pool(ms)
    assert [m.id for m in pool.without(ms[1]).members] == ["d0", "d2"]
    assert [m.id for m in pool.without(frozenset({"d0", "d2"})).members] == ["d1"]
    assert len(pool) == 3


def test_output_estimate_says_what_it_rests_on() -> None:
    m = member(0)
    mix = Mix(stream=False, prompt_tokens=lambda d: 1, max_output=50)
    assert mix.output_estimate(m, FakeSnapshot()) == (50.0, "max_tokens")
    open_ended = Mix(stream=False, prompt_tokens=lambda d: 1)
    assert open_ended.output_estimate(m, FakeSnapshot(out={0: 80.0})) == (80.0, "observed mean output")
    value, why = open_ended.output_estimate(m, FakeSnapshot())
    assert value == DEFAULT_OUTPUT and "assumed" in why


def test_members_print_their_group_and_id_never_a_key() -> None:
    assert repr(member(0, "eu", group="chat")) == "Member(chat:eu)"
