"""Usage reported by a provider is checked before it is priced, recorded or charged to a budget.

A provider's usage is data from the network: a broken gateway can send negative counts,
fractions, strings, or ``10**30`` completion tokens, and the call's answer has already been
paid for. Raising would throw that answer away (and a retry would pay again), while trusting
the numbers would record an absurd cost and lock every budget. So routerlib keeps the answer
and distrusts the count (docs/cost.md, "Usage from the provider"):

1. **Shape and absolute bounds** (``types.CheckedUsage``, on every response and stream chunk as it
   is parsed): every count must be an integer from 0 to ``USAGE_TOKEN_LIMIT`` (10**9; no model
   reads or writes a billion tokens in one call). Otherwise the usage is dropped, with a
   ``UsageWarning``, and the engine counts the tokens itself (tiktoken), ``estimated=True``,
   exactly as when a provider sends no usage at all.
2. **What the call could have generated** (``bound_usage``, called by the engine once the
   deployment's model limits are known): completion tokens above twice ``n`` times the output
   cap (``max_completion_tokens`` / ``max_tokens``, else the model's ``max_output_tokens``),
   plus 1,024, are cut to ``n`` times the cap; prompt tokens above twice the model's
   ``max_input_tokens`` (per prompt) plus 1,024 are cut to it. The usage is then marked
   ``estimated`` and a ``UsageWarning`` says so. The slack leaves room for providers whose
   caps count a little differently (thinking tokens, special tokens); the cut value is the
   worst case a budget reserved for the call, so a settled cost never exceeds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The checks made as usage is parsed live beside the ``Usage`` type they guard (``types``); the
# warning is a leaf's (``_warnings``). Both are re-exported here, the module of usage rules.
from ._warnings import warn_implausible
from .types import USAGE_TOKEN_LIMIT, Usage, count, usage_problem

if TYPE_CHECKING:
    from ._embedding import Request
    from .cost.model_map import ModelInfo

__all__ = ["USAGE_TOKEN_LIMIT", "bound_usage", "count", "usage_problem", "warn_implausible"]

_SLACK = 1024


def bound_usage(usage: Usage, request: Request, info: ModelInfo | None) -> Usage:
    """``usage`` cut to what ``request`` could have read and generated (see the module docstring).

    An embedding's inputs are its prompts (the model's input limit is per input); it generates nothing."""
    if request.operation == "embeddings":
        prompts, choices, cap = request.count, 1, None
    else:
        prompts = len(request.prompt) if isinstance(request.prompt, tuple) else 1
        choices = (request.n or 1) * prompts
        cap = request.max_completion_tokens or request.max_tokens or (info.max_output_tokens if info else None)
    window = info.max_input_tokens if info is not None else None
    completion, prompt = usage.completion_tokens, usage.prompt_tokens
    cuts = []
    if cap and completion > 2 * cap * choices + _SLACK:
        completion = cap * choices
        cuts.append(f"completion_tokens={usage.completion_tokens:,} for at most {choices} x {cap:,}")
    if window and prompt > 2 * window * prompts + _SLACK:
        prompt = window * prompts
        cuts.append(f"prompt_tokens={usage.prompt_tokens:,} for a {window:,}-token context window")
    if not cuts:
        return usage
    warn_implausible("; ".join(cuts), "routerlib counts the most the call could have used")
    update: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion, "estimated": True}
    ptd, ctd = usage.prompt_tokens_details, usage.completion_tokens_details
    if ptd is not None:
        update["prompt_tokens_details"] = ptd.model_copy(update={
            "cached_tokens": min(ptd.cached_tokens, prompt),
            "cache_creation_tokens": min(ptd.cache_creation_tokens, prompt)})
    if ctd is not None:
        update["completion_tokens_details"] = ctd.model_copy(update={
            "reasoning_tokens": min(ctd.reasoning_tokens, completion)})
    return usage.model_copy(update=update)
