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

from .members import Member, Mix, Pool, Snapshot

Strategy = Callable[[Pool, Snapshot, Mix, Random], tuple[Member, str]]


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
    members = pool.members
    counts = [snap.in_flight(m.index) for m in members]
    low = min(counts)
    ties = [m for m, c in zip(members, counts, strict=True) if c == low]
    member = ties[int(rng.random() * len(ties))] if len(ties) > 1 else ties[0]
    tie = f", tie of {len(ties)} broken at random" if len(ties) > 1 else ""
    return member, f"least-busy: {low} in flight{tie}"


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
    priced, unpriced = _costs(pool.members, snap, mix)
    if not priced:
        member, why = simple_shuffle(pool, snap, mix, rng)
        return member, f"cost-based: no candidate has a known price, so {why}"
    cost, member, basis = _lowest(priced, rng)
    after = f"; {len(unpriced)} unpriced ranked after" if unpriced else ""
    return member, f"cost-based: ${cost:.6g} for this request ({basis}), cheapest of {len(priced)}{after}"


def _costs(members: Sequence[Member], snap: Snapshot,
           mix: Mix) -> tuple[list[tuple[float, Member, str]], list[Member]]:
    priced: list[tuple[float, Member, str]] = []
    unpriced: list[Member] = []
    for member in members:
        if member.input_price is None or member.output_price is None:
            unpriced.append(member)
            continue
        prompt = mix.prompt_tokens(member.deployment)
        output, on = mix.output_estimate(member, snap)
        cost = prompt * member.input_price + output * member.output_price
        priced.append((cost, member, f"{prompt} prompt + {output:.0f} output tokens, output from {on}"))
    return priced, unpriced


def _lowest(scored: list[tuple[float, Member, str]], rng: Random) -> tuple[float, Member, str]:
    low = min(s[0] for s in scored)
    slack = 0.0 if math.isinf(low) else abs(low) * 1e-12  # equal up to float rounding
    ties = [s for s in scored if s[0] == low or s[0] - low <= slack]
    return ties[int(rng.random() * len(ties))] if len(ties) > 1 else ties[0]


def usage_based(pool: Pool, snap: Snapshot, mix: Mix, rng: Random) -> tuple[Member, str]:
    scored: list[tuple[float, Member, str]] = []
    for member in pool.members:
        requests, tokens = snap.usage(member.index)
        share = max(requests / member.rpm if member.rpm else 0.0, tokens / member.tpm if member.tpm else 0.0)
        scored.append((share, member, f"{share:.0%} of its rpm/tpm limits used ({requests} requests, "
                                      f"{tokens} tokens in 60 s)"))
    _, member, text = _lowest(scored, rng)
    return member, f"usage-based: {text}, the lowest"


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
    ranked = [(-(m.quality or 0.0) / cost if cost > 0 else float("-inf"), m, basis) for cost, m, basis in priced]
    value, member, basis = _lowest(ranked, rng)
    left = len(pool) - len(priced)
    after = f"; {left} without a quality score or price ranked after" if left else ""
    per = "free" if value == float("-inf") else f"{-value:.6g} quality per $"
    return member, f"router_preference=balanced: {per} ({basis}), the best of {len(priced)}{after}"


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
