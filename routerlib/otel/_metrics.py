"""The metric instruments of one semconv profile, created with the conventions' bucket advice."""

from __future__ import annotations

from opentelemetry import metrics

from ..types import Usage
from ._attributes import Attributes
from .semconv import DURATION_BUCKETS, TOKEN_BUCKETS, TOKEN_KINDS, Semconv


class Instruments:
    """The metric instruments of one semconv profile, with the conventions' bucket advice."""

    def __init__(self, meter: metrics.Meter, semconv: Semconv) -> None:
        self.semconv = semconv
        self.duration = meter.create_histogram(
            semconv.duration_metric, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.time_to_first_chunk = meter.create_histogram(
            semconv.time_to_first_chunk_metric, unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.token_usage = None if semconv.token_histogram is None else meter.create_histogram(
            semconv.token_histogram, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
        self.token_counters = {kind: meter.create_counter(name, unit="{token}", description=f"GenAI {kind} tokens.")
                               for kind, name in semconv.token_counters.items()}
        self.token_histograms = {kind: meter.create_histogram(
            name, unit="{token}", description=f"GenAI {kind} tokens per operation.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS)
            for kind, name in semconv.token_operation_histograms.items()}
        #: Not a convention yet (semantic-conventions-genai#443 proposes one): routerlib's own name.
        self.cost = meter.create_counter("routerlib.client.cost", unit="{USD}",
                                         description="Cost of GenAI operations in USD, as routerlib priced them.")

    def record_tokens(self, usage: Usage | None, attributes: Attributes) -> None:
        """1.41: only counts the provider reported ("MUST NOT report" otherwise); genai-0.1: 0 when absent."""
        if self.token_usage is not None and usage is not None:
            self.token_usage.record(usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"})
            self.token_usage.record(usage.completion_tokens, {**attributes, "gen_ai.token.type": "output"})
        if not self.token_counters:
            return
        counts = dict.fromkeys(TOKEN_KINDS, 0) if usage is None else {
            "input": usage.prompt_tokens, "output": usage.completion_tokens, "cache_read": usage.cached_tokens,
            "cache_write": usage.cache_creation_tokens, "reasoning": usage.reasoning_tokens}
        by_modality = {**attributes, "gen_ai.token.modality": "unknown"}  # routerlib does not split by modality
        for kind, counter in self.token_counters.items():
            if counts[kind] or kind in ("input", "output"):
                counter.add(counts[kind], by_modality)
        for kind, histogram in self.token_histograms.items():
            histogram.record(counts[kind], attributes)

    def record_attempt(self, base: Attributes, latency: float, usage: Usage | None, total: float | None,
                       response_model: str | None, error: str | None, tokens: bool) -> None:
        """Duration, tokens (``tokens``: False for a cache hit) and cost of one attempt that was sent."""
        attributes = dict(base)
        if response_model:
            attributes["gen_ai.response.model"] = response_model
        if error is not None:
            attributes["error.type"] = error
        self.duration.record(latency, attributes)
        if tokens:
            self.record_tokens(usage if usage is not None and not usage.estimated else None, attributes)
        if total is not None:
            self.cost.add(total, attributes)
