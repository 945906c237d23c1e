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
``asettle``, ...) when it has them, else its sync method in a worker thread.

The user, team and tags of a call come from ``metadata={"user": ..., "team": ..., "tags": [...]}``
(``user`` falls back to the OpenAI ``user`` parameter); the rest of ``metadata`` is stored
with the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..exceptions import BudgetExceededError

if TYPE_CHECKING:
    from ..providers.base import Deployment
    from ..spend import Budget, Ledger, SpendRecord
    from ..types import Cost, Usage
    from .accounting import Accounting
    from .source import CallView

_CALLER_KEYS = ("user", "team", "tags")


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

    def start(self, call: CallView) -> CallBudget:
        return CallBudget(self, call)


class CallBudget:
    """The spend side of one call: at most one reservation, exactly one record on success."""

    def __init__(self, hooks: BudgetHooks, call: CallView) -> None:
        self._hooks = hooks
        self._call = call
        metadata: Mapping[str, Any] = call.request.metadata or {}
        self.user: str | None = metadata.get("user") or call.request.user
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
        call = self._call
        amount, why = self._hooks.accounting.worst_case(call.request, deployment, call.prompt_tokens(deployment))
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

        call = self._call
        return SpendRecord.from_usage(
            call.call_id, model=deployment.model, provider=deployment.provider, usage=usage, cost=cost,
            user=self.user, team=self.team, tags=self.tags, attempts=len(call.attempts),
            latency=latency, metadata=self.extra)

    def _reserve_kwargs(self) -> dict[str, Any]:
        return {"user": self.user, "team": self.team, "tags": self.tags, "budgets": self._hooks.budgets}

    # -- sync
    def reserve(self, deployment: Deployment) -> None:
        """Hold the deployment's worst-case cost against every budget that applies."""
        amount = self._amount_to_hold(deployment)
        if amount is not None:
            # Reserving again under the same call id replaces the earlier hold atomically.
            self._hooks.ledger.reserve(self._call.call_id, amount, **self._reserve_kwargs())
            self.held = amount

    def settle(self, deployment: Deployment, usage: Usage | None, cost: Cost | None, latency: float) -> None:
        """Write the call's record (replacing its reservation, if any)."""
        record = self._record(deployment, usage, cost, latency)
        ledger = self._hooks.ledger
        if self.held is not None:
            self.held = None
            ledger.settle(self._call.call_id, record)
        else:
            ledger.record(record)

    def release(self) -> None:
        if self.held is not None:
            self.held = None
            self._hooks.ledger.release(self._call.call_id)

    # -- async (never blocks the event loop)
    async def areserve(self, deployment: Deployment) -> None:
        amount = self._amount_to_hold(deployment)
        if amount is not None:
            await _acall(self._hooks.ledger, "reserve", self._call.call_id, amount, **self._reserve_kwargs())
            self.held = amount

    async def asettle(self, deployment: Deployment, usage: Usage | None, cost: Cost | None,
                      latency: float) -> None:
        record = self._record(deployment, usage, cost, latency)
        if self.held is not None:
            self.held = None
            await _acall(self._hooks.ledger, "settle", self._call.call_id, record)
        else:
            await _acall(self._hooks.ledger, "record", record)

    async def arelease(self) -> None:
        if self.held is not None:
            self.held = None
            await _acall(self._hooks.ledger, "release", self._call.call_id)


async def _acall(ledger: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """The ledger's async twin of ``name`` if it has one, else the sync method off the loop."""
    twin = getattr(ledger, "a" + name, None)
    if twin is not None:
        return await twin(*args, **kwargs)
    from ..spend import MemoryLedger

    if isinstance(ledger, MemoryLedger):  # no I/O: a thread hop would cost more than the call
        return getattr(ledger, name)(*args, **kwargs)
    return await asyncio.to_thread(getattr(ledger, name), *args, **kwargs)
