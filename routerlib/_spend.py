"""Spend hooks: how a call reserves budget, and records what it cost, on its client's ledger.

::

    before a deployment's first attempt  reserve(worst case)   -> BudgetExceededError, nothing sent
    a cheaper/dearer fallback            reserve again (the reservation follows the deployment)
    success / stream end                 settle(record)        -> reservation replaced by the record
    failure                              release()             -> reservation dropped

The worst case is prompt tokens (counted exactly) at the dearest input price plus the
maximum output tokens at the dearest output price. A budget on a model with no known
price refuses the call: spend that cannot be measured cannot be capped.

The user, team and tags of a call come from ``metadata={"user": ..., "team": ..., "tags": [...]}``
(``user`` falls back to the OpenAI ``user`` parameter); the rest of ``metadata`` is stored
with the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .exceptions import BudgetExceededError

if TYPE_CHECKING:
    from ._engine import CallState
    from .client import Client
    from .providers.base import Deployment
    from .spend import Budget, Ledger
    from .types import Cost, Usage

_CALLER_KEYS = ("user", "team", "tags")


class SpendTracker:
    """A client's ledger and budgets; makes one ``CallSpend`` per call."""

    def __init__(self, ledger: Ledger | None, budgets: Sequence[Budget], client: Client) -> None:
        if ledger is None:
            from .spend import MemoryLedger

            ledger = MemoryLedger()
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self.client = client

    def start(self, call: CallState) -> CallSpend:
        return CallSpend(self, call)


class CallSpend:
    """The spend side of one call: at most one reservation, exactly one record on success."""

    def __init__(self, tracker: SpendTracker, call: CallState) -> None:
        self._tracker = tracker
        self._call = call
        metadata: Mapping[str, Any] = call.request.metadata or {}
        self.user: str | None = metadata.get("user") or call.request.user
        self.team: str | None = metadata.get("team")
        tags = metadata.get("tags") or ()
        self.tags: tuple[str, ...] = (tags,) if isinstance(tags, str) else tuple(tags)
        self.extra = {k: v for k, v in metadata.items() if k not in _CALLER_KEYS}
        self.held: Decimal | None = None

    def reserve(self, deployment: Deployment) -> None:
        """Hold the deployment's worst-case cost against every budget that applies."""
        tracker = self._tracker
        if not tracker.budgets:
            return
        if not any(b.applies_to(self.user, self.team, self.tags) for b in tracker.budgets):
            return
        amount = self._worst_case(deployment)
        if self.held is not None and amount <= self.held:
            return
        # Reserving again under the same call id replaces the earlier hold atomically.
        tracker.ledger.reserve(self._call.call_id, amount, user=self.user, team=self.team,
                               tags=self.tags, budgets=tracker.budgets)
        self.held = amount

    def settle(self, deployment: Deployment, usage: Usage | None, cost: Cost | None, latency: float) -> None:
        """Write the call's record (replacing its reservation, if any)."""
        from .spend import SpendRecord

        call = self._call
        record = SpendRecord.from_usage(
            call.call_id, model=deployment.model, provider=deployment.provider, usage=usage, cost=cost,
            user=self.user, team=self.team, tags=self.tags, attempts=len(call.attempts),
            latency=latency, metadata=self.extra)
        ledger = self._tracker.ledger
        if self.held is not None:
            ledger.settle(call.call_id, record)
            self.held = None
        else:
            ledger.record(record)

    def release(self) -> None:
        if self.held is not None:
            self._tracker.ledger.release(self._call.call_id)
            self.held = None

    def _worst_case(self, deployment: Deployment) -> Decimal:
        from .cost.pricing import PriceOverride, worst_case_cost
        from .tokens import count_messages, count_text

        call = self._call
        request = call.request
        client = self._tracker.client
        info = client._planner.info(deployment)
        prices = client._price_params(request, deployment)
        override = PriceOverride.from_params(**prices) if prices else None
        if request.prompt is not None:
            prompt = count_text(deployment.model, "".join(request.prompt))
        else:
            prompt = count_messages(deployment.model, request.messages)
        output = request.max_completion_tokens or request.max_tokens
        amount = worst_case_cost(info, override, prompt, output)
        if amount is None:
            budget = self._tracker.budgets[0]
            raise BudgetExceededError(
                f"a budget applies but the cost of {deployment.label} cannot be bounded (no known price, "
                f"or priced per second): pass input_cost_per_token/output_cost_per_token or register a price",
                limit=budget.limit, spent=Decimal(0), reserved=Decimal(0), requested=None,
                scope=budget.scope, key=budget.key)
        return amount
