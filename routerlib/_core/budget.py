"""Budget hooks: how a call reserves budget and records what it cost, sync and async.

::

    before a deployment's first attempt  reserve(worst case)   -> BudgetExceededError, nothing sent
    a dearer fallback                    reserve again (the reservation follows the deployment)
    success / stream end                 settle(record)        -> reservation replaced by the record
    failure                              release()             -> reservation dropped

The worst case comes from the one accounting path (``accounting.worst_case``): prompt tokens
at the dearest input price plus every possible output token (max tokens x n) at the dearest
output price. A budget on a deployment whose cost cannot be bounded (no known price, per-
second prices, audio or file parts) refuses the call: spend that cannot be measured cannot
be capped.

The async methods never block the event loop: a ledger's own async twins (``areserve``,
``asettle``, ...) when it has them, else its sync method in a worker thread. Every ledger call is
bounded by the call's time left. A store that fails at settle time never costs the caller an
answer already paid for: the record waits in the ledger's spool and the failure is reported
on the response (``response.ledger_error``). A call that ends without an answer releases its
hold, unless the provider may have billed it (an attempt timed out after sending, or the call
was cancelled mid-attempt): then the held worst case is kept as spend, marked estimated.

The user, team and tags of a call come from ``metadata={"user": ..., "team": ..., "tags": [...]}``
(``user`` falls back to the OpenAI ``user`` parameter); the rest of ``metadata`` is stored
with the record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import BudgetExceededError, LedgerError
from ..spend.calling import run_async, run_sync
from .source import CallView

logger = logging.getLogger("routerlib")

if TYPE_CHECKING:
    from ..providers.base import Deployment
    from ..spend import Budget, Ledger, SpendRecord
    from ..types import Cost, Usage
    from .accounting import Accounting

_CALLER_KEYS = ("user", "team", "tags")


class BudgetedCall(CallView, Protocol):
    """What a call's budget reads of its call: a source's view, and the clock and deadline to bound
    each ledger operation by (``Call`` is not imported here: it owns the budget)."""

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def deadline_at(self) -> float | None: ...


class BudgetHooks:
    """A client's ledger and budgets; makes one ``CallBudget`` per call."""

    __slots__ = ("accounting", "budgets", "ledger")

    def __init__(self, ledger: Ledger | None, budgets: Sequence[Budget], accounting: Accounting) -> None:
        if ledger is None:
            from ..spend import MemoryLedger

            ledger = MemoryLedger()
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self.accounting = accounting

    def start(self, call: BudgetedCall) -> CallBudget:
        return CallBudget(self, call)


class CallBudget:
    """The spend side of one call: at most one reservation, exactly one record on success."""

    def __init__(self, hooks: BudgetHooks, call: BudgetedCall) -> None:
        self._hooks = hooks
        # What it needs of the call, not the call: the call holds this object, and a reference
        # back would make every budgeted call a reference cycle, left to the garbage collector.
        self._call_id = call.call_id
        self._request = request = call.request
        self._attempts = call.attempts
        self._count = call.prompt_tokens
        self._clock = call.clock
        self._deadline_at = call.deadline_at
        metadata: Mapping[str, Any] = request.metadata or {}
        self.user: str | None = request.caller
        self.team: str | None = metadata.get("team")
        tags = metadata.get("tags") or ()
        self.tags: tuple[str, ...] = (tags,) if isinstance(tags, str) else tuple(tags)
        self.extra = {k: v for k, v in metadata.items() if k not in _CALLER_KEYS}
        self.held: Decimal | None = None
        self._applies = any(b.applies_to(self.user, self.team, self.tags) for b in hooks.budgets)

    # -- what to do (no I/O)
    def _amount_to_hold(self, deployment: Deployment) -> Decimal | None:
        """The worst case to hold for ``deployment``, or None when nothing new must be held."""
        if not self._applies:
            return None
        amount, why = self._hooks.accounting.worst_case(self._request, deployment, self._count(deployment))
        if amount is None:
            budget = self._hooks.budgets[0]
            raise BudgetExceededError(
                f"a budget applies but the cost of {deployment.label} cannot be bounded ({why}): pass "
                f"input_cost_per_token/output_cost_per_token or register a price",
                limit=budget.limit, spent=Decimal(0), reserved=Decimal(0), requested=None,
                scope=budget.scope, key=budget.key)
        if self.held is not None and amount <= self.held:
            return None
        return amount

    def _record(self, deployment: Deployment, usage: Usage | None, cost: Cost | None, latency: float
                ) -> SpendRecord:
        from ..spend import SpendRecord

        return SpendRecord.from_usage(
            self._call_id, model=deployment.model, provider=deployment.provider, usage=usage, cost=cost,
            user=self.user, team=self.team, tags=self.tags, attempts=len(self._attempts),
            latency=latency, metadata=self.extra)

    def _reserve_kwargs(self) -> dict[str, Any]:
        deadline = self._request.deadline
        # A hold lapses when its call could no longer be running (the ledger's default otherwise).
        ttl = deadline + _TTL_MARGIN if deadline else None
        return {"user": self.user, "team": self.team, "tags": self.tags, "budgets": self._hooks.budgets,
                "timeout": self._time_left(), "ttl": ttl}

    def _time_left(self, floor: float = 0.0) -> float | None:
        """The call's time left, bounding each ledger operation (None: the ledger's own bound)."""
        if self._deadline_at is None:
            return None
        return max(self._deadline_at - self._clock(), floor)

    def _final(self, deployment: Deployment | None, reason: str | None) -> tuple[str, Any] | None:
        """What to write when the call ends without an answer: the held worst case as estimated
        spend when the provider may have billed it (``reason``), else nothing (a release)."""
        if self.held is None:
            return None
        if reason is None or deployment is None:
            return ("release", None)
        from ..spend import SpendRecord

        record = SpendRecord.worst_case(
            self._call_id, model=deployment.model, provider=deployment.provider, amount=self.held, reason=reason,
            user=self.user, team=self.team, tags=self.tags, attempts=len(self._attempts), metadata=self.extra)
        return ("settle", record)

    # -- sync
    def reserve(self, deployment: Deployment) -> None:
        """Hold the deployment's worst-case cost against every budget that applies."""
        amount = self._amount_to_hold(deployment)
        if amount is not None:
            # Reserving again under the same call id replaces the earlier hold atomically.
            run_sync(self._hooks.ledger, "reserve", self._call_id, amount, **self._reserve_kwargs())
            self.held = amount

    def settle(self, deployment: Deployment, usage: Usage | None, cost: Cost | None, latency: float
               ) -> LedgerError | None:
        """Write the call's record (replacing its reservation, if any). A store that fails keeps the
        record for later (the ledger's spool) and the failure is returned, never raised: the answer
        was paid for and is the caller's."""
        record = self._record(deployment, usage, cost, latency)
        held, self.held = self.held, None
        try:
            if held is not None:
                run_sync(self._hooks.ledger, "settle", self._call_id, record, timeout=self._time_left(_FLOOR))
            else:
                run_sync(self._hooks.ledger, "record", record, timeout=self._time_left(_FLOOR))
        except LedgerError as error:
            return _reported(error)
        return None

    def end(self, deployment: Deployment | None, reason: str | None) -> None:
        """The call ends without an answer: release the hold, or keep it as estimated spend when the
        provider may have billed the call. A store that fails here never masks the call's error."""
        final = self._final(deployment, reason)
        self.held = None
        if final is None:
            return
        try:
            if final[0] == "release":
                run_sync(self._hooks.ledger, "release", self._call_id, timeout=self._time_left(_FLOOR))
            else:
                run_sync(self._hooks.ledger, "settle", self._call_id, final[1], timeout=self._time_left(_FLOOR))
        except LedgerError as error:
            _reported(error)

    # -- async (never blocks the event loop)
    async def areserve(self, deployment: Deployment) -> None:
        amount = self._amount_to_hold(deployment)
        if amount is not None:
            await run_async(self._hooks.ledger, "reserve", self._call_id, amount, **self._reserve_kwargs())
            self.held = amount

    async def asettle(self, deployment: Deployment, usage: Usage | None, cost: Cost | None,
                      latency: float) -> LedgerError | None:
        record = self._record(deployment, usage, cost, latency)
        held, self.held = self.held, None
        try:
            if held is not None:
                await run_async(self._hooks.ledger, "settle", self._call_id, record,
                                timeout=self._time_left(_FLOOR))
            else:
                await run_async(self._hooks.ledger, "record", record, timeout=self._time_left(_FLOOR))
        except LedgerError as error:
            return _reported(error)
        return None

    async def aend(self, deployment: Deployment | None, reason: str | None) -> None:
        final = self._final(deployment, reason)
        self.held = None
        if final is None:
            return
        try:
            if final[0] == "release":
                await run_async(self._hooks.ledger, "release", self._call_id, timeout=self._time_left(_FLOOR))
            else:
                await run_async(self._hooks.ledger, "settle", self._call_id, final[1],
                                timeout=self._time_left(_FLOOR))
        except LedgerError as error:
            _reported(error)


#: Seconds a settle may take even when the call's deadline has passed: the answer is already
#: paid for, so its record gets a short chance at the store before it goes to the spool.
_FLOOR = 0.5
#: A hold outlives its call's deadline by this much before it lapses.
_TTL_MARGIN = 60.0


def _reported(error: LedgerError) -> LedgerError:
    logger.warning("routerlib: spend ledger failed at %s (%s); the record is kept for a later write",
                   error.operation or "a write", error)
    return error
