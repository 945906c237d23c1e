"""The model-map fields routerlib reads, and the exact conversion of their values.

One table serves three readers: the regeneration script (which fields to keep), the loader
(which fields to read from a user's file) and ``ModelInfo`` (which attributes exist). Keeping
it in one place means a field added here is trimmed, loaded and exposed alike.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "DEFAULT_CACHE_READ_RATIO",
    "FLAG_FIELDS",
    "INCLUSIVE_TIER_PROVIDERS",
    "INT_FIELDS",
    "KEPT_FIELDS",
    "PRICE_FIELDS",
    "TABLE_PRICE_FIELDS",
    "Rates",
    "as_decimal",
    "bucket_rates",
    "is_kept_field",
    "normalise_provider",
    "tier_field",
]

#: The rate of each usage bucket: (input, cached input, cache creation, input audio,
#: output, reasoning, output audio), None where unpriced. A plain tuple because pricing
#: reads it on every call and tuple indexing is the cheapest access Python has.
Rates = tuple[
    Decimal | None, Decimal | None, Decimal | None, Decimal | None, Decimal | None, Decimal | None, Decimal | None
]

#: Prices, in USD per token or per second; kept exactly (see ``as_decimal``).
PRICE_FIELDS: tuple[str, ...] = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "input_cost_per_audio_token",
    "output_cost_per_audio_token",
    "input_cost_per_second",
    "output_cost_per_second",
)

INT_FIELDS: tuple[str, ...] = ("max_input_tokens", "max_output_tokens", "max_tokens")

#: Capability flags, named as in LiteLLM's map without the ``supports_`` prefix.
FLAG_FIELDS: tuple[str, ...] = (
    "function_calling",
    "parallel_function_calling",
    "vision",
    "response_schema",
    "reasoning",
    "prompt_caching",
    "audio_input",
    "audio_output",
    "system_messages",
    "tool_choice",
    "pdf_input",
    "video_input",
    "web_search",
    "url_context",
    "tool_search",
    "computer_use",
    "box_questions",
    "continuation",
)

#: Every field the packaged snapshot keeps. ``alias_of`` is kept too: LiteLLM's map has rows
#: such as ``claude-sonnet-latest`` that only point at another row, and without it they vanish.
KEPT_FIELDS: frozenset[str] = frozenset(
    (
        "litellm_provider",
        "mode",
        "alias_of",
        "tiered_pricing",
        *INT_FIELDS,
        *PRICE_FIELDS,
        *(f"supports_{f}" for f in FLAG_FIELDS),
    )
)

#: The prices a ``tiered_pricing`` range may state (see ``_tiers``); its other keys are dropped.
TABLE_PRICE_FIELDS: tuple[str, ...] = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)

#: Long-context tiers: ``<price>_above_<N>[k]_tokens`` replaces ``<price>`` for the whole call
#: once its prompt has more than N tokens (Gemini Pro above 200k, GPT-5.x above 272k, Claude's
#: 1M-context models above 200k...). Without them a long prompt would be billed at up to half
#: its real price. Service-tier and batch variants (``..._tokens_priority``) are not kept.
_TIER_FIELD = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost|input_cost_per_audio_token)_above_(\d+)(k?)_tokens$"
)

#: Providers that bill the higher tier once the prompt *reaches* the threshold, not exceeds it
#: (LiteLLM's ``_INCLUSIVE_THRESHOLD_PROVIDERS``).
INCLUSIVE_TIER_PROVIDERS: frozenset[str] = frozenset({"xai"})


def tier_field(name: str) -> tuple[str, int] | None:
    """``("input_cost_per_token", 200000)`` for ``input_cost_per_token_above_200k_tokens``, else None."""
    match = _TIER_FIELD.match(name)
    if match is None:
        return None
    return match[1], int(match[2]) * (1000 if match[3] else 1)


def is_kept_field(name: str) -> bool:
    """Whether routerlib reads this LiteLLM field (the fixed ones, or a long-context tier price)."""
    return name in KEPT_FIELDS or _TIER_FIELD.match(name) is not None


# LiteLLM files some rows under a sub-provider ("vertex_ai-anthropic_models") or an endpoint
# flavour ("text-completion-openai"); routing only cares about who answers the request.
_PROVIDER_ALIASES: dict[str, str] = {
    "bedrock_converse": "bedrock",
    "azure_text": "azure",
    "text-completion-openai": "openai",
    "text-completion-codestral": "codestral",
    "text-completion-inception": "inception",
    "fireworks_ai-embedding-models": "fireworks_ai",
}


#: Cache-read rate as a fraction of the input rate, for providers whose rows in LiteLLM's map
#: leave it out although the provider discounts cached tokens. Fireworks bills cached prompt
#: tokens at half the input price (fireworks.ai/pricing; LiteLLM applies the same 0.5 in code,
#: ``FIREWORKS_AI_DEFAULT_CACHE_READ_RATE_RATIO``). An explicit rate in the row always wins.
DEFAULT_CACHE_READ_RATIO: dict[str, Decimal] = {"fireworks_ai": Decimal("0.5")}


def normalise_provider(provider: str) -> str:
    """The routing name of a LiteLLM provider label: ``vertex_ai-language-models`` -> ``vertex_ai``."""
    if provider.startswith("vertex_ai-"):
        return "vertex_ai"
    return _PROVIDER_ALIASES.get(provider, provider)


def as_decimal(value: object, *, what: str = "price") -> Decimal:
    """Convert a price to an exact, finite, non-negative Decimal.

    Floats go through ``str()`` so ``0.1`` stays ``Decimal("0.1")`` rather than the binary
    value ``0.1000000000000000055511151231257827...``: a float price is a decimal number typed
    by a person, and its shortest repr is what they meant. ``bool`` is refused because
    ``True`` is an ``int`` and a price of ``1`` from a flag would be a silent bug.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise TypeError(f"{what} must be a Decimal, int, float or str, not {type(value).__name__}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"{what} must be a finite number >= 0, not {value!r}")
    return result


def bucket_rates(
    input_rate: Decimal | None,
    output_rate: Decimal | None,
    cached: Decimal | None = None,
    creation: Decimal | None = None,
    input_audio: Decimal | None = None,
    reasoning: Decimal | None = None,
    output_audio: Decimal | None = None,
) -> Rates:
    """Each bucket's rate, falling back to the plain input or output rate where it has none.

    ``is None`` tests, never truthiness: a cached rate of zero is a real (free) price.
    """
    return (
        input_rate,
        input_rate if cached is None else cached,
        input_rate if creation is None else creation,
        input_rate if input_audio is None else input_audio,
        output_rate,
        output_rate if reasoning is None else reasoning,
        output_rate if output_audio is None else output_audio,
    )
