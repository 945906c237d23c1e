"""Span and metric attributes from routerlib's values: pure functions, no OpenTelemetry import.

Names follow the conventions selected by a ``Semconv`` profile (see ``semconv``); routerlib's
own facts go under ``routerlib.*``. Each builder returns only the attributes it knows: an absent
value is left out, never sent as zero or empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from ..observe.events import CallEnd
from ..request import Request
from ..types import Cost, EmbeddingResponse, ModelResponse, TextCompletion, Usage
from .semconv import Semconv

#: What OpenTelemetry accepts as an attribute value (a local alias: no OpenTelemetry import here).
AttributeValue = str | bool | int | float | Sequence[str]
Attributes = dict[str, AttributeValue]

#: routerlib provider names -> the conventions' well-known ``gen_ai.provider.name`` values.
#: Others are sent as routerlib names them (the conventions allow custom values).
PROVIDER_NAMES: Mapping[str, str] = {
    "anthropic": "anthropic", "azure": "azure.ai.openai", "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock", "cohere": "cohere", "deepseek": "deepseek", "gemini": "gcp.gemini",
    "groq": "groq", "mistral": "mistral_ai", "moonshot": "moonshot_ai", "openai": "openai",
    "perplexity": "perplexity", "vertex_ai": "gcp.vertex_ai", "watsonx": "ibm.watsonx.ai", "xai": "x_ai",
}


def request_attributes(request: Request, semconv: Semconv) -> Attributes:
    """The request parameters the conventions list, computed once per call."""
    attributes: Attributes = {}
    if request.operation == "embeddings":
        if request.encoding_format is not None:
            attributes["gen_ai.request.encoding_formats"] = [request.encoding_format]
        if request.dimensions is not None:
            attributes["gen_ai.embeddings.dimension.count"] = request.dimensions
        return attributes
    if request.temperature is not None:
        attributes["gen_ai.request.temperature"] = float(request.temperature)
    if request.top_p is not None:
        attributes["gen_ai.request.top_p"] = float(request.top_p)
    max_tokens = request.max_completion_tokens or request.max_tokens
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    if request.seed is not None:
        attributes["gen_ai.request.seed"] = request.seed
    if request.stop is not None:
        stop = request.stop
        attributes["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if request.n is not None and request.n != 1:
        attributes["gen_ai.request.choice.count"] = request.n
    if request.frequency_penalty is not None:
        attributes["gen_ai.request.frequency_penalty"] = float(request.frequency_penalty)
    if request.presence_penalty is not None:
        attributes["gen_ai.request.presence_penalty"] = float(request.presence_penalty)
    if request.stream:
        attributes["gen_ai.request.stream"] = True
    if request.response_format is not None:
        kind = request.response_format.get("type")
        attributes["gen_ai.output.type"] = "json" if kind in ("json_object", "json_schema") else "text"
    if semconv.reasoning_level and request.reasoning_effort is not None:
        attributes["gen_ai.request.reasoning.level"] = request.reasoning_effort
    return attributes


def response_attributes(response: ModelResponse | TextCompletion | EmbeddingResponse, outcome: str) -> Attributes:
    attributes: Attributes = {}
    if response.model:
        attributes["gen_ai.response.model"] = response.model
    if isinstance(response, EmbeddingResponse):  # no id, no choices
        return attributes
    if response.id:
        attributes["gen_ai.response.id"] = response.id
    missing = "error" if outcome == "error" else None
    reasons = [c.finish_reason or missing for c in response.choices]
    finish_reasons = [r for r in reasons if r is not None]
    if finish_reasons:
        attributes["gen_ai.response.finish_reasons"] = finish_reasons
    return attributes


def usage_attributes(usage: Usage, semconv: Semconv) -> Attributes:
    """Usage in OpenAI's meaning, which is the conventions' (input includes cached; output, reasoning)."""
    attributes: Attributes = {"gen_ai.usage.input_tokens": usage.prompt_tokens,
                              "gen_ai.usage.output_tokens": usage.completion_tokens}
    if usage.cached_tokens:
        attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
    if usage.cache_creation_tokens:
        attributes[semconv.cache_write_attribute] = usage.cache_creation_tokens
    if usage.reasoning_tokens:
        attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    if usage.estimated:
        attributes["routerlib.usage.estimated"] = True
    return attributes


def cost_attributes(cost: Cost) -> Attributes:
    """Provisional: the names of the open proposal semantic-conventions-genai#443.

    ``source`` there is ``provider`` (a price found in the response) or ``local`` (computed by
    the recorder); routerlib always prices locally, and says from what in ``routerlib.cost.source``.
    """
    if cost.total is None:  # an unknown price is never a zero
        return {"routerlib.cost.source": cost.source}
    attributes: Attributes = {"gen_ai.usage.cost.amount": float(cost.total), "gen_ai.usage.cost.currency": "USD",
                              "gen_ai.usage.cost.source": "local", "routerlib.cost.exact": str(cost.total),
                              "routerlib.cost.source": cost.source}
    if cost.estimated:
        attributes["routerlib.cost.estimated"] = True
    return attributes


def call_summary(event: CallEnd) -> Attributes:
    attributes: Attributes = {"routerlib.outcome": event.outcome, "routerlib.attempts": len(event.attempts)}
    response = event.response
    if response is not None and response.provider:
        attributes["routerlib.response.provider"] = response.provider
        attributes["routerlib.response.model"] = response.model
    cost = event.cost
    if cost is not None and cost.total is not None:
        attributes["routerlib.cost.total"] = float(cost.total)
        attributes["routerlib.cost.exact"] = str(cost.total)
    if event.error is not None:
        attributes["error.type"] = error_type(event.error)
    return attributes


def error_type(error: BaseException) -> str:
    """Low-cardinality, as ``error.type`` asks: the routerlib error class (RateLimitError, ...)."""
    return type(error).__name__


def error_description(error: BaseException) -> str:
    """The status description: the error's message (keys already hidden by the core), bounded."""
    message = getattr(error, "message", None) or str(error)
    return message[:300]


def parse_server(api_base: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(api_base)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (host, port) if host else None
