"""Usage reported by a provider is checked before it is priced, recorded or charged to a budget.

A provider's usage is data from the network: a broken gateway can send negative counts,
fractions, strings, or ``10**30`` completion tokens, and the call's answer has already been
paid for. Raising would throw that answer away (and a retry would pay again), while trusting
the numbers would record an absurd cost and lock every budget. So routerlib keeps the answer
and distrusts the count (docs/cost.md, "Usage from the provider"):

1. **Shape and absolute bounds** (``checked_usage``, on every response and stream chunk as it
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

import warnings
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler

if TYPE_CHECKING:
    from ._embedding import Request
    from .cost.model_map import ModelInfo
    from .types import Usage

__all__ = ["USAGE_TOKEN_LIMIT", "bound_usage", "checked_usage", "count", "usage_problem", "warn_implausible"]

#: The most tokens any one count of one call may be (a billion).
USAGE_TOKEN_LIMIT = 10**9
_SLACK = 1024


def warn_implausible(problem: str, action: str = "routerlib counts the tokens itself") -> None:
    """The ``UsageWarning`` for usage that cannot be right."""
    from .cost._errors import caller_stacklevel
    from .exceptions import UsageWarning

    warnings.warn(UsageWarning(f"the provider reported implausible usage ({problem}); {action} and marks "
                               f"the cost estimated"), stacklevel=caller_stacklevel())


def count(value: Any) -> int | None:
    """A token count from a provider's JSON: an int (or an integral float), else None."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def usage_problem(usage: Usage) -> str | None:
    """Why ``usage`` cannot be right (a count below 0 or above ``USAGE_TOKEN_LIMIT``), or None."""
    limit = USAGE_TOKEN_LIMIT
    p, c, t = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    if 0 <= p <= limit and 0 <= c <= limit and 0 <= t <= limit and (
            usage.prompt_tokens_details is None and usage.completion_tokens_details is None):
        return None  # the common case, in a handful of comparisons
    named = [("prompt_tokens", p), ("completion_tokens", c), ("total_tokens", t)]
    ptd, ctd = usage.prompt_tokens_details, usage.completion_tokens_details
    if ptd is not None:
        named += [("cached_tokens", ptd.cached_tokens), ("cache_creation_tokens", ptd.cache_creation_tokens),
                  ("prompt audio_tokens", ptd.audio_tokens or 0)]
    if ctd is not None:
        named += [("reasoning_tokens", ctd.reasoning_tokens), ("completion audio_tokens", ctd.audio_tokens or 0)]
    for name, value in named:
        if not 0 <= value <= limit:
            return f"{name}={value}: counts are integers from 0 to {limit:,}"
    return None


def checked_usage(value: Any, handler: ValidatorFunctionWrapHandler) -> Usage | None:
    """The ``usage`` field of responses and chunks: a plausible ``Usage``, else None and a warning."""
    if value is None:
        return None
    try:
        usage: Usage | None = handler(value)
    except ValidationError:
        from .types import Usage

        try:  # a strict pass failed on a loose type (20.0 for 20): the lax one decides
            usage = Usage.model_validate(value)
        except ValidationError:
            warn_implausible("counts that are not integers")
            return None
    if usage is None:
        return None
    ptd, ctd = usage.prompt_tokens_details, usage.completion_tokens_details
    counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
              ptd.cached_tokens if ptd is not None else 0, ptd.cache_creation_tokens if ptd is not None else 0,
              (ptd.audio_tokens or 0) if ptd is not None else 0, ctd.reasoning_tokens if ctd is not None else 0,
              (ctd.audio_tokens or 0) if ctd is not None else 0)
    if min(counts) >= 0 and max(counts) <= USAGE_TOKEN_LIMIT:
        return usage  # the common case, in two calls
    problem = usage_problem(usage)
    if problem is not None:
        warn_implausible(problem)
        return None
    return usage


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
