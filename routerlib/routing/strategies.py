"""Routing strategies: pure functions of a health snapshot.

Each takes the pool of candidates that passed the pre-call checks, a read-only ``Snapshot``,
the request's ``Mix`` and a ``random.Random``, and returns the member it picks with the
reason, in words, that the attempt records. Same inputs and seed, same pick.

- ``simple-shuffle``: weighted random (weight, else rpm, else tpm, else equal); O(log n)
  with the pool's cumulative weights.
- ``least-busy``: fewest calls in flight, ties broken at random. (Taking the first of the
  ties sends nearly everything to one backend at low load: LiteLLM #39322 measured 93.7%.)
- ``latency-based-routing``: power of two choices (Mitzenmacher) over a peak EWMA of latency
  times the calls in flight, as Finagle's P2C + PeakEWMA balancer: seconds per output token
  for plain calls, time to first token for streams. A deployment with no sample yet scores 0,
  so it gets explored instead of starved.
- ``cost-based-routing``: the cheapest deployment for *this request's* token mix: its prompt
  tokens at the input price plus its expected output at the output price (not the sum of the
  two per-token prices, which ranks a long prompt wrong). Unpriced deployments are ranked
  after priced ones and the attempt says so; with no price known at all, simple-shuffle.
- ``usage-based-routing``: the lowest share of its rpm/tpm limits used over the rolling 60 s
  window (reservations included, see ``health``); unlimited deployments count as 0%.

``router_preference`` (per call, from the WiseRouter seed document) reorders a group locally:
``efficient`` = cost-based; ``powerful`` = highest ``model_info["quality"]``; ``balanced`` =
highest quality per dollar of this request. routerlib ships no default quality table: a
score is whatever the deployment's configuration says (any scale, higher is better), and a
deployment without one is never ranked as if it had one: the attempt says what the pick
rested on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from random import Random
from typing import TypeVar

from .members import DEFAULT_OUTPUT, Member, Mix, Pool, Snapshot

__all__ = [
    "cost_based",
    "latency_based",
    "least_busy",
    "preferring",
    "ranked",
    "simple_shuffle",
    "soonest_to_reopen",
    "usage_based",
]

Strategy = Callable[[Pool, Snapshot, Mix, Random], tuple[Member, str]]
T = TypeVar("T")


def simple_shuffle(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    member = pool.weighted(rng.random())
    if len(pool.members) == 1:
        return member, "simple-shuffle: the only candidate"
    why = _SHUFFLED.get(member.weight)
    if why is None:
        why = _SHUFFLED[member.weight] = f"simple-shuffle: weighted random, weight {member.weight:g}"
    return member, why


_SHUFFLED: dict[float, str] = {}


def least_busy(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    counts = snap.in_flights(pool)
    at, low, ties = _lowest_at(counts, rng)
    tie = f", tie of {ties} broken at random" if ties > 1 else ""
    return pool.members[at], f"least-busy: {low} in flight{tie}"


def _lowest_at(values: Sequence[T], rng: Random) -> tuple[int, T, int]:
    """(position, value, ties) of the lowest value, ties broken uniformly at random.

    Drawing positions until one holds the lowest value is uniform over the ties and, when most
    values tie (an idle group), takes one draw; a few misses fall back to listing the ties.
    """
    low = min(values)  # type: ignore[type-var]
    ties = values.count(low)
    if ties == 1:
        return values.index(low), low, 1
    n = len(values)
    for _ in range(8):
        at = int(rng.random() * n)
        if values[at] == low:
            return at, low, ties
    positions = [i for i, v in enumerate(values) if v == low]
    return positions[int(rng.random() * ties)], low, ties


def latency_based(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    members = pool.members
    n = len(members)
    if n == 1:
        return members[0], "latency-based: the only candidate"
    i = int(rng.random() * n)
    j = int(rng.random() * (n - 1))
    if j >= i:
        j += 1
    a, b = members[i], members[j]
    score_a, text_a = _latency_score(a, snap, mix.stream)
    score_b, text_b = _latency_score(b, snap, mix.stream)
    winner, loser = (b, a) if score_b < score_a else (a, b)
    texts = {a.id: text_a, b.id: text_b}
    return winner, (f"latency-based: {texts[winner.id]} vs {loser.id} {texts[loser.id]} "
                    f"(power of two choices)")


def _latency_score(member: Member, snap: Snapshot, stream: bool) -> tuple[float, str]:
    latency = snap.latency(member.index, stream)
    busy = snap.in_flight(member.index)
    if latency is None:
        return 0.0, "no latency sample yet (explored)"
    what = "to first token" if stream else "per output token"
    return latency * (busy + 1), f"{latency * 1000:.2f} ms {what} x {busy + 1}"


def cost_based(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    table = pool.memo("prices", _PriceTable)
    if not table.priced:
        member, why = simple_shuffle(pool, snap, mix, rng)
        return member, f"cost-based: no candidate has a known price, so {why}"
    output = mix.max_output
    if output is not None and table.model is not None:  # one model, a known output: only the hull can win
        prompt = mix.prompt_tokens(table.priced[0].deployment)
        costs = [prompt * a + output * b for a, b in zip(table.hull_input, table.hull_output, strict=True)]
        at, cost, _ = _lowest_at(costs, rng)
        member = table.hull[at]
    else:
        cost, member = _lowest(_costs(table.priced, snap, mix)[0], rng)
    after = f"; {len(table.unpriced)} unpriced ranked after" if table.unpriced else ""
    return member, (f"cost-based: ${cost:.6g} for this request ({_mix_of(member, snap, mix)}), cheapest of "
                    f"{len(table.priced)}{after}")


class _PriceTable:
    """A pool's prices, built once per pool.

    With one model (one prompt count) and a known output, a request's cost on a member is
    ``prompt x input_price + output x output_price``: linear in the member's price point with
    positive weights, so the cheapest member is always one whose price point is a vertex of the
    lower-left convex hull of the pool's price points. ``hull`` lists those members (every
    member sharing such a point, so ties are still broken at random): a pick evaluates a handful
    of costs, not one per deployment.
    """

    def __init__(self, members: Sequence[Member]) -> None:
        self.priced = [m for m in members if m.input_price is not None and m.output_price is not None]
        self.unpriced = [m for m in members if m.input_price is None or m.output_price is None]
        models = {m.deployment.model for m in self.priced}
        #: The one model every priced member serves (one prompt count), else None.
        self.model = models.pop() if len(models) == 1 else None
        vertices = set(_lower_left_hull({(m.input_price or 0.0, m.output_price or 0.0) for m in self.priced}))
        self.hull = [m for m in self.priced if (m.input_price, m.output_price) in vertices]
        self.hull_input = [m.input_price or 0.0 for m in self.hull]
        self.hull_output = [m.output_price or 0.0 for m in self.hull]


def _lower_left_hull(points: set[tuple[float, float]]) -> list[tuple[float, float]]:
    """The vertices of the convex hull that face the origin (Andrew's monotone chain, lower half,
    from the cheapest input price to the cheapest output price)."""
    hull: list[tuple[float, float]] = []
    for p in sorted(points):
        while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1])
                                  - (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0])) <= 0:
            hull.pop()
        hull.append(p)
    lowest = min(range(len(hull)), key=lambda i: (hull[i][1], hull[i][0])) if hull else -1
    return hull[:lowest + 1]


def _costs(members: Sequence[Member], snap: Snapshot, mix: Mix) -> tuple[list[tuple[float, Member]], list[Member]]:
    """Each priced member's cost for this request (prompt tokens counted once per model)."""
    priced: list[tuple[float, Member]] = []
    unpriced: list[Member] = []
    counted: dict[str, int] = {}
    fixed = mix.max_output
    for member in members:
        input_price, output_price = member.input_price, member.output_price
        if input_price is None or output_price is None:
            unpriced.append(member)
            continue
        model = member.deployment.model
        prompt = counted.get(model)
        if prompt is None:
            prompt = counted[model] = mix.prompt_tokens(member.deployment)
        output = fixed if fixed is not None else (snap.mean_output(member.index) or DEFAULT_OUTPUT)
        priced.append((prompt * input_price + output * output_price, member))
    return priced, unpriced


def _mix_of(member: Member, snap: Snapshot, mix: Mix) -> str:
    output, on = mix.output_estimate(member, snap)
    return f"{mix.prompt_tokens(member.deployment)} prompt + {output:.0f} output tokens, output from {on}"


def _lowest(scored: list[tuple[float, Member]], rng: Random) -> tuple[float, Member]:
    low = min(s[0] for s in scored)
    slack = 0.0 if math.isinf(low) else abs(low) * 1e-12  # equal up to float rounding
    ties = [s for s in scored if s[0] == low or s[0] - low <= slack]
    return ties[int(rng.random() * len(ties))] if len(ties) > 1 else ties[0]


def usage_based(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    at, share, _ = _lowest_at(snap.usage_shares(pool), rng)
    member = pool.members[at]
    requests, tokens = snap.usage(member.index)
    return member, (f"usage-based: {share:.0%} of its rpm/tpm limits used ({requests} requests, {tokens} tokens "
                    f"in 60 s), the lowest")


def soonest_to_reopen(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    """For a group whose every deployment is open: the one whose open time ends first."""
    member = min(pool.members, key=lambda m: snap.reopens_in(m.index))
    return member, f"trial: every deployment is open, this one reopens first (in {snap.reopens_in(member.index):.1f} s)"


# -- router_preference
def preferring(preference: str, fallback: Strategy) -> Strategy:
    """The strategy for a call's ``router_preference`` (``fallback`` when nothing it needs is known)."""
    if preference == "efficient":
        return _efficient
    if preference == "powerful":
        return lambda pool, snap, mix, rng: _powerful(pool, snap, mix, rng, fallback)
    return lambda pool, snap, mix, rng: _balanced(pool, snap, mix, rng, fallback)


def _efficient(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    member, why = cost_based(pool, snap, mix, rng)
    return member, "router_preference=efficient: " + why


def _powerful(pool: Pool, snap: Snapshot, mix: Mix, rng: Random, fallback: Strategy) -> tuple[Member, str]:
    scored = [m for m in pool.members if m.quality is not None]
    if not scored:
        member, why = fallback(pool, snap, mix, rng)
        return member, f"router_preference=powerful: no candidate has a quality score (model_info.quality), so {why}"
    best = max(m.quality for m in scored if m.quality is not None)
    top = Pool([m for m in scored if m.quality == best])
    member, why = cost_based(top, snap, mix, rng) if len(top) > 1 else (top.members[0], "")
    unscored = len(pool) - len(scored)
    after = f"; {unscored} without a quality score ranked after" if unscored else ""
    tie = f"; tie broken by {why}" if why else ""
    return member, f"router_preference=powerful: quality {best:g}, the highest of {len(scored)}{after}{tie}"


def _balanced(pool: Pool, snap: Snapshot, mix: Mix, rng: Random, fallback: Strategy) -> tuple[Member, str]:
    scored = [m for m in pool.members if m.quality is not None]
    priced, _ = _costs(scored, snap, mix)
    if not priced:
        member, why = (_powerful(pool, snap, mix, rng, fallback) if scored else fallback(pool, snap, mix, rng))
        what = "no scored candidate has a known price" if scored else "no candidate has a quality score"
        return member, f"router_preference=balanced: {what}, so {why}"
    ranked_ = [(-(m.quality or 0.0) / cost if cost > 0 else float("-inf"), m) for cost, m in priced]
    value, member = _lowest(ranked_, rng)
    left = len(pool) - len(priced)
    after = f"; {left} without a quality score or price ranked after" if left else ""
    per = "free" if value == float("-inf") else f"{-value:.6g} quality per $"
    return member, (f"router_preference=balanced: {per} ({_mix_of(member, snap, mix)}), the best of "
                    f"{len(priced)}{after}")


#: The routing strategies by LiteLLM's names (``usage-based-routing-v2`` is LiteLLM's newer name).
STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": latency_based,
    "cost-based-routing": cost_based,
    "usage-based-routing": usage_based,
    "usage-based-routing-v2": usage_based,
}


def ranked(strategy: Strategy, pool: Pool, snap: Snapshot, mix: Mix, rng: Random,
           k: int) -> list[tuple[Member, str]]:
    """The strategy's first ``k`` choices, each picked from what the previous ones left."""
    out: list[tuple[Member, str]] = []
    while pool.members and len(out) < k:
        member, why = strategy(pool, snap, mix, rng)
        out.append((member, why))
        pool = pool.without(member)
    return out
