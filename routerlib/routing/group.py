"""A model group as one step of a call's plan: a ``Target`` that picks afresh at every attempt.

``Group`` is fixed at construction (its members, their tag pools, the strategy);
``GroupTarget`` is one call's view of it. Each ``pick``:

1. keeps the members whose tags match the call (``metadata={"tags": [...]}`` goes only to
   deployments carrying one of them; an untagged call goes to the deployments tagged
   "default" when the group has any, else to all);
2. drops those the prompt cannot fit (context window and output limit, from model_info or the
   model map; the cheap byte bound first, so most calls never tokenize);
3. prefers members this call has not tried yet, so that a retry inside a group goes to
   another healthy deployment before it ever repeats one;
4. asks the health store to run the strategy and reserve on its pick, atomically, skipping
   open deployments and those at their max_parallel_requests or rpm/tpm limits;
5. when every candidate is open: one trial, for this call, of the one that reopens first
   (a call does not fail at once while its deadline allows an attempt); when that fails too,
   or nothing fits at all, ``NoDeploymentAvailableError`` with each deployment's reason
   (``NoDeploymentFitsError``, also a ``ContextWindowExceededError``, when no window fits).

``alternative`` answers "switch now?" after a failure: yes when an untried deployment of the
group could take the call (a 429 with a healthy sibling switches at once instead of waiting
for Retry-After); never for client errors (400, context window, content policy), which are
the request's fault and go to the fallback groups instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from random import Random
from typing import TYPE_CHECKING

from .._core.accounting import byte_bound
from ..exceptions import NoDeploymentAvailableError, NoDeploymentFitsError, RouterlibError
from .breaker import verdict
from .health import Picked, Refused
from .members import DEFAULT_OUTPUT, Member, Mix, Pool
from .strategies import Strategy, preferring, soonest_to_reopen

if TYPE_CHECKING:
    from .._core.source import CallView, TargetKind
    from ..providers.base import Deployment
    from ..request import ChatRequest, Request
    from .health import HealthStore

__all__ = [
    "Group",
    "GroupTarget",
]

#: Reasons that mean "the request is too big for it" (a group of only these: context-window fallbacks).
_TOO_BIG = ("context window", "max output")
#: Seconds a pick's slot outlives its attempt's timeout before it lapses (a process that died
#: mid-call holds nothing for longer than this in a shared store).
LEASE_SLACK = 2.0
#: Skipped deployments listed on an attempt's reason (the error lists them all).
LISTED = 3


_State = tuple[Pool, Sequence[tuple[Member, str]], Mix, Strategy, str, Callable[[Member], int]]


class Group:
    """One model group, fixed at construction."""

    def __init__(self, name: str, members: Sequence[Member], strategy_name: str, strategy: Strategy,
                 timeout: float = 600.0) -> None:
        self.name = name
        #: The longest an attempt in this group may last (the Router's timeout or a deployment's own).
        self.timeout = max([timeout, *(m.deployment.options.timeout or 0.0 for m in members)])
        self.members = tuple(members)
        self.strategy_name = strategy_name
        self.strategy = strategy
        self._all = Pool(self.members)
        self._defaults = Pool([m for m in self.members if "default" in m.tags])
        self._by_tags: dict[frozenset[str], Pool] = {}
        #: The pool of an untagged call: the deployments tagged "default" when any are, else all.
        self.untagged = self._defaults if self._defaults.members else self._all
        self.any_tpm = any(m.tpm is not None for m in self.members)
        windows = [m.max_input for m in self.members if m.max_input]
        #: The smallest known context window (None: no member's window is known).
        self.min_window = min(windows) if windows else None
        self.any_max_output = any(m.max_output for m in self.members)
        outputs = [m.max_output for m in self.members if m.max_output]
        #: The smallest known output limit (None: none is known).
        self.min_max_output = min(outputs) if outputs else None

    def pool(self, tags: frozenset[str]) -> Pool:
        """Members a call with these tags may go to (cached per tag set)."""
        if not tags:
            return self.untagged
        pool = self._by_tags.get(tags)
        if pool is None:
            pool = self._by_tags[tags] = Pool([m for m in self.members if m.tags & tags])
        return pool


class GroupTarget:
    """One call's view of a group (made per call by the Router's source)."""

    #: The call's router_preference was honoured here: the core does not send it to a
    #: deployment that does not take it (a WiseRouter deployment still receives it).
    honours_preference = True

    def __init__(self, group: Group, store: HealthStore, rng: Random, kind: TargetKind = "group") -> None:
        self.group = group
        self._store = store
        self._rng = rng
        self._kind = kind
        self._forced = False
        #: What does not change between this call's picks: the pool after tags and context checks,
        #: who those dropped and why, the request's mix, the strategy and its label, the tokens to reserve.
        self._state: _State | None = None
        self._fit_base: Pool | None = None
        #: (strategy, reason) of the last pick: recorded on its attempt.
        self.last: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self.group.name

    @property
    def kind(self) -> TargetKind:
        return self._kind

    @property
    def cache_scope(self) -> bytes | None:
        """What the response cache keys this call's answers by: the group, so that an identical call
        finds the answer whichever of its deployments it is routed to (``cache.keys.group_scope``:
        the name and the deployments the call may go to). None before the first pick, or when a
        deployment has no canonical form."""
        if self._state is None:
            return None
        name = self.group.name
        return self._state[0].memo("cache_scope", lambda members: _group_scope(name, members))

    # -- picking
    def pick(self, call: CallView) -> Deployment:
        state = self._state or self._prepare(call)
        base, skipped, mix, strategy, label, need = state
        tried = call.tried
        pool = self._untried(tried, base) if tried else base
        lease = 0.0 if self._store.batch == 1 else self._lease(call)
        result = self._store.choose(call.call_id, pool, strategy, mix, self._rng, need, lease=lease, call=call)
        if type(result) is not Picked:
            result, label = self._rescue(call, base, pool, result, skipped, strategy, label)
        return self._picked(result, skipped, label)

    def _prepare(self, call: CallView) -> _State:
        base, skipped = self._candidates(call)
        request = call.request
        output = call.output_tokens()
        preference = request.router_preference if request.operation == "chat" else None
        count = call.prompt_tokens  # not the call: this state must not hold it (a reference cycle)
        mix = Mix(request.stream, count, output, preference)
        if mix.preference:
            strategy, label = preferring(mix.preference, self.group.strategy), f"router_preference={mix.preference}"
        else:
            strategy, label = self.group.strategy, self.group.strategy_name
        need = _no_tokens
        if self.group.any_tpm:
            extra = int(DEFAULT_OUTPUT) if output is None else output
            need = lambda member: count(member.deployment) + extra  # noqa: E731
        self._state = state = (base, skipped, mix, strategy, label, need)
        return state

    def _rescue(self, call: CallView, base: Pool, pool: Pool, result: Picked | Refused,
                skipped: Sequence[tuple[Member, str]], strategy: Strategy, label: str) -> tuple[Picked, str]:
        """Every candidate was refused: the members this call already tried, then the all-open trial."""
        store = self._store
        _, _, mix, _, _, need = self._state or self._prepare(call)
        lease = self._lease(call)
        if isinstance(result, Refused) and pool is not base:
            again = store.choose(call.call_id, _tried_part(base, pool), strategy, mix, self._rng, need, lease=lease,
                                 call=call)
            result = _merge(result, again)
        if isinstance(result, Refused):
            trial = self._trial_pool(call, result)
            if trial is None:
                raise self._error([*skipped, *result.refused], call)
            result = _merge(result, store.choose(call.call_id, trial, soonest_to_reopen, mix, self._rng, need,
                                                 force=True, lease=lease, call=call))
            if isinstance(result, Refused):
                raise self._error([*skipped, *result.refused], call)
            self._forced = True
            label = "trial"
        return result, label

    async def apick(self, call: CallView) -> Deployment:
        """``pick`` for the async shell: a shared store answers without blocking the loop."""
        base, skipped, mix, strategy, label, need = self._state or self._prepare(call)
        tried = call.tried
        pool = self._untried(tried, base) if tried else base
        lease = 0.0 if self._store.batch == 1 else self._lease(call)
        store = self._store
        result = await store.achoose(call.call_id, pool, strategy, mix, self._rng, need, lease=lease,
                                     call=call)
        if isinstance(result, Refused) and pool is not base:
            again = await store.achoose(call.call_id, _tried_part(base, pool), strategy, mix, self._rng, need,
                                        lease=lease, call=call)
            result = _merge(result, again)
        if isinstance(result, Refused):
            trial = self._trial_pool(call, result)
            if trial is None:
                raise self._error([*skipped, *result.refused], call)
            result = _merge(result, await store.achoose(call.call_id, trial, soonest_to_reopen, mix, self._rng,
                                                        need, force=True, lease=lease, call=call))
            if isinstance(result, Refused):
                raise self._error([*skipped, *result.refused], call)
            self._forced = True
            label = "trial"
        return self._picked(result, skipped, label)

    def _candidates(self, call: CallView) -> tuple[Pool, Sequence[tuple[Member, str]]]:
        """The members the call may go to (tags, context window), and who was dropped why."""
        request = call.request
        group = self.group
        if request.metadata:
            tags = _tags(request)
            base = group.pool(tags)
            if not base.members:
                wanted = ", ".join(sorted(tags)) if tags else "none (no deployment is tagged 'default')"
                raise self._error([(m, f"tags {sorted(m.tags)} match none of the call's ({wanted})")
                                   for m in group.members], None)
        else:
            base = group.untagged
        skipped: Sequence[tuple[Member, str]] = ()
        if (group.min_window is not None or group.any_max_output) and request.operation == "chat":
            # (an embedding's limit is per input: the core checks each input on the deployment picked)
            base, skipped = self._fitting(call, base)
        self._fit_base = base
        return base, skipped

    @staticmethod
    def _untried(tried: frozenset[str], base: Pool) -> Pool:
        """``base`` without what this call already tried, unless that leaves nothing."""
        if any(m.id in tried for m in base.members):
            untried = base.without(tried)
            if untried.members:
                return untried
        return base

    def _fitting(self, call: CallView, pool: Pool) -> tuple[Pool, Sequence[tuple[Member, str]]]:
        output = call.output_tokens() or 0
        min_window = self.group.min_window
        min_output = self.group.min_max_output
        request = call.request
        assert request.operation == "chat"  # _candidates fits chat calls only
        if (min_output is None or output <= min_output) and (
                min_window is None or _char_bound(request) + output <= min_window):
            return pool, ()
        bound = byte_bound(request) + output  # tokens are counted only when this says "may not fit"
        kept, skipped = [], []
        for member in pool.members:
            if member.max_output and output > member.max_output:
                skipped.append((member, f"max output {output} > its {member.max_output} tokens"))
                continue
            if member.max_input and bound > member.max_input:
                prompt = call.prompt_tokens(member.deployment)
                if prompt + output > member.max_input:
                    skipped.append((member, f"context window: {prompt} prompt + {output} output tokens > "
                                            f"{member.max_input}"))
                    continue
            kept.append(member)
        if not kept:
            raise self._error(skipped, None)
        if not skipped:
            return pool, ()
        return Pool(kept), skipped

    def _lease(self, call: CallView) -> float:
        """How long a pick's slot lives in a shared store: a process that dies mid-call holds
        nothing past its attempt's timeout (an in-process store needs no lease)."""
        timeout = max(call.request.timeout or 0.0, self.group.timeout)
        return min(timeout, call.seconds_left()) + LEASE_SLACK

    def _trial_pool(self, call: CallView, result: Refused) -> Pool | None:
        """When every candidate was refused for being open: the pool of this call's one trial."""
        if self._forced or call.seconds_left() <= 0:
            return None
        if not all(why.startswith(("open", "half-open")) for _, why in result.refused):
            return None  # something is excluded for another reason (limits): not an all-open group
        return Pool([m for m, _ in result.refused])

    def _picked(self, result: Picked, skipped: Sequence[tuple[Member, str]], label: str) -> Deployment:
        why = result.why
        passed = [*skipped, *result.refused] if skipped or result.refused else None
        if passed:
            listed = "; ".join(f"{m.id}: {r}" for m, r in passed[:LISTED])
            more = f"; and {len(passed) - LISTED} more" if len(passed) > LISTED else ""
            why = f"{why}; skipped {listed}{more}"
        self.last = (label, why)
        return result.member.deployment

    def _error(self, refused: list[tuple[Member, str]], call: CallView | None) -> NoDeploymentAvailableError:
        group = self.group
        reasons = {m.id: r for m, r in refused}
        for member in group.members:
            reasons.setdefault(member.id, "tried by this call" if call is not None and member.id in call.tried
                               else "not a candidate")
        opens = [r for r in reasons.values() if r.startswith(("open", "half-open"))]
        if call is not None and len(opens) == len(reasons):
            soonest = self._store.reopening(group.members)
            when = time.strftime("%H:%M:%S", time.gmtime(soonest)) + " UTC" if soonest else "now"
            tried = " (this call's trial of the first to reopen failed)" if self._forced else ""
            message = f"all {len(reasons)} deployments of {group.name} are cooling down until {when}{tried}"
            return NoDeploymentAvailableError(message, group=group.name, reasons=reasons, open_until=soonest,
                                              model=group.name, code="no_deployment_available")
        listed = "; ".join(f"{k}: {v}" for k, v in reasons.items())
        message = f"no deployment of {group.name} can take the call: {listed}"
        if refused and all(r.startswith(_TOO_BIG) for _, r in refused):
            return NoDeploymentFitsError(message, group=group.name, reasons=reasons, model=group.name,
                                         code="context_length_exceeded")
        return NoDeploymentAvailableError(message, group=group.name, reasons=reasons, model=group.name,
                                          code="no_deployment_available")

    # -- after a failure
    def alternative(self, call: CallView, failed: Deployment, error: RouterlibError) -> bool:
        if verdict(error) == "neutral":
            return False
        tried = call.tried | {failed.id}
        base = self._fit_base if self._fit_base is not None else self.group.pool(_tags(call.request))
        admits = self._store.admits
        return any(m.id not in tried and admits(m) for m in base.members)


def _no_tokens(member: Member) -> int:
    return 0


def _char_bound(request: ChatRequest) -> int:
    """A quick upper bound of the prompt's tokens: four per character (UTF-8 bytes at most)."""
    total = 8
    for message in request.messages:
        content = message.get("content")
        if not isinstance(content, str) or "tool_calls" in message:
            return byte_bound(request)
        total += 4 * len(content) + 8
    if request.prompt is not None or request.tools:
        return byte_bound(request)
    return total


def _tried_part(base: Pool, untried: Pool) -> Pool:
    kept = set(map(id, untried.members))
    return Pool([m for m in base.members if id(m) not in kept])


def _merge(first: Refused, then: Picked | Refused) -> Picked | Refused:
    if isinstance(then, Picked):
        return Picked(then.member, then.why, then.trial, first.refused + then.refused)
    return Refused(first.refused + then.refused)


def _tags(request: Request) -> frozenset[str]:
    metadata = request.metadata
    if not metadata:
        return frozenset()
    tags = metadata.get("tags")
    if not tags:
        return frozenset()
    return frozenset((tags,) if isinstance(tags, str) else tags)


def _group_scope(name: str, members: Sequence[Member]) -> bytes | None:
    from ..cache.keys import group_scope  # the cache's module, loaded only by a Router that caches

    return group_scope(name, (m.deployment for m in members))
