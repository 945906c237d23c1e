"""The values routing works on: a group's members, a pool of candidates, a request's mix.

A ``Member`` is one deployment of a group as the Router resolved it at construction: the
``Deployment`` the core sends to, plus what routing reads of it (weight, limits, tags, prices,
quality, context window), flattened to plain numbers so that a pick does no lookups. Its
``index`` addresses the health store's per-deployment state.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ..providers.base import Deployment

__all__ = [
    "Member",
    "Mix",
    "Pool",
    "Snapshot",
]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Member:
    index: int
    group: str
    deployment: Deployment
    #: The simple-shuffle weight (weight, else rpm, else tpm, else 1: see ``config.shuffle_weights``).
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    tags: frozenset[str] = frozenset()
    quality: float | None = None
    #: The context window (prompt + output) and the output limit, from model_info or the model map.
    max_input: int | None = None
    max_output: int | None = None
    #: USD per token, from the deployment's own prices or the model map; None when unknown.
    input_price: float | None = None
    output_price: float | None = None
    #: Where the prices came from: "deployment", "model_map" or "unknown".
    price_source: str = "unknown"
    #: Whether any per-deployment limit applies (rpm, tpm, max_parallel_requests): picks of the
    #: others skip those checks.
    limited: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limited", self.rpm is not None or self.tpm is not None
                           or self.max_parallel is not None)

    @property
    def id(self) -> str:
        return self.deployment.id

    def __repr__(self) -> str:
        return f"Member({self.group}:{self.id})"


@dataclass(eq=False)
class Pool:
    """Candidates of one pick, with the cumulative weights of simple-shuffle built on demand."""

    members: Sequence[Member]
    _cumulative: list[float] | None = field(default=None, repr=False)
    _getter: Callable[[Sequence[Any]], Any] | None = field(default=None, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.members)

    def gather(self, values: Sequence[T]) -> list[T]:
        """``values`` (indexed by member index) for this pool's members, in order, at C speed."""
        getter = self._getter
        if getter is None:
            getter = self._getter = operator.itemgetter(*(m.index for m in self.members))
        got = getter(values)
        return list(got) if len(self.members) > 1 else [got]

    def memo(self, key: str, build: Callable[[Sequence[Member]], T]) -> T:
        """``build(members)``, computed once per pool (pools of a group are cached across calls)."""
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = build(self.members)
        return found

    def weighted(self, u: float) -> Member:
        """The member whose weight interval holds ``u`` in [0, 1): O(log n) once built."""
        cumulative = self._cumulative
        if cumulative is None:
            total = 0.0
            cumulative = []
            for member in self.members:
                total += member.weight
                cumulative.append(total)
            self._cumulative = cumulative
        top = cumulative[-1]
        if top <= 0:
            return self.members[int(u * len(self.members))]
        return self.members[min(bisect.bisect_right(cumulative, u * top), len(self.members) - 1)]

    def without(self, excluded: Member | frozenset[str]) -> Pool:
        if isinstance(excluded, Member):
            return Pool([m for m in self.members if m is not excluded])
        return Pool([m for m in self.members if m.id not in excluded])


class Snapshot(Protocol):
    """What strategies read of the health state (by member index). Read-only."""

    def in_flight(self, index: int) -> int: ...

    def in_flights(self, pool: Pool) -> Sequence[int]:
        """Calls in flight of each member of ``pool``, in order."""
        ...

    def latency(self, index: int, stream: bool) -> float | None:
        """Peak-EWMA seconds per output token (non-streams), or time to first token (streams)."""
        ...

    def usage(self, index: int) -> tuple[int, int]:
        """(requests, tokens) in the rolling 60 s window, reservations included."""
        ...

    def usage_shares(self, pool: Pool) -> Sequence[float]:
        """Share of its rpm/tpm limits each member of ``pool`` has used (the larger of the two; 0
        with no limit), in order."""
        ...

    def reopens_in(self, index: int) -> float:
        """Seconds until an open deployment reopens (0 when closed or half-open)."""
        ...

    def mean_output(self, index: int) -> float | None:
        """EWMA of completion tokens per answer, None before any answer."""
        ...


class Mix:
    """The request as strategies see it: streamed or not, its prompt per tokenizer, its output.

    ``prompt_tokens(deployment)`` counts the prompt for that deployment's tokenizer (once per
    tokenizer per call, by the core); ``max_output`` is max_completion_tokens/max_tokens x n,
    None when the request sets none. Built once per call (a plain class: cheap to make).
    """

    __slots__ = ("max_output", "preference", "prompt_tokens", "stream")

    def __init__(self, stream: bool, prompt_tokens: Callable[[Deployment], int], max_output: int | None = None,
                 preference: str | None = None) -> None:
        self.stream = stream
        self.prompt_tokens = prompt_tokens
        self.max_output = max_output
        self.preference = preference

    def output_estimate(self, member: Member, snap: Snapshot) -> tuple[float, str]:
        """Expected output tokens and what the number rests on."""
        if self.max_output is not None:
            return float(self.max_output), "max_tokens"
        observed = snap.mean_output(member.index)
        if observed is not None:
            return observed, "observed mean output"
        return DEFAULT_OUTPUT, f"no max_tokens and no answer yet: assumed {DEFAULT_OUTPUT:g}"


#: Output tokens assumed for a request with no max_tokens on a deployment never seen answering.
DEFAULT_OUTPUT = 256.0
