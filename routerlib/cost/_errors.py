"""The warning and error of the cost package, kept apart so every module can import them.

They are re-exported from ``routerlib.cost``, which is where users should name them.
"""

from __future__ import annotations

from .._warnings import caller_stacklevel
from ..exceptions import RouterlibError

__all__ = ["CostUnknownWarning", "UnknownModelError", "caller_stacklevel"]


class CostUnknownWarning(UserWarning):
    """No price is known for a call, so its cost is None rather than a silent zero.

    A warning, not an error: the call itself succeeded and must still be returned. Filter it
    with ``warnings.simplefilter("ignore", CostUnknownWarning)`` or, better, give the model a
    price (``ModelMap.register`` or a per-call ``PriceOverride``).
    """


class UnknownModelError(RouterlibError, ValueError):
    """The model map has no entry for this model (raised by the LiteLLM-named helpers).

    A ``ValueError`` because the argument is wrong, not the provider: ``NotFoundError`` is
    kept for a provider's own 404. Carries ``model`` and ``provider`` for callers that branch.
    """

    def __init__(self, model: str, provider: str | None = None, reason: str = "is not in the model map") -> None:
        where = f"{provider}/{model}" if provider and not model.startswith(f"{provider}/") else model
        super().__init__(
            f"model {where!r} {reason}; register a price with routerlib.register_model({{...}}), "
            "client.register_model(...) or ModelMap.register(...), or pass input_cost_per_token/output_cost_per_token"
        )
        self.model = model
        self.provider = provider
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.model, self.provider, self.reason))


CostUnknownWarning.__module__ = "routerlib.cost"
UnknownModelError.__module__ = "routerlib.cost"
