"""Which OpenTelemetry GenAI semantic conventions routerlib emits, as values you can switch.

The GenAI conventions are marked *Development* and moved repositories in 2026: the core
repository's v1.41.0 is "the last release before GenAI conventions moved", and v1.42.0
deprecated every ``gen_ai.*`` name there in favour of the new repository
(github.com/open-telemetry/semantic-conventions-genai, first release v0.1.0). The two differ in
metric names and shapes, so routerlib ships both as profiles and lets you pick one::

    OpenTelemetryObserver(semconv="1.41")        # the default
    OpenTelemetryObserver(semconv="genai-0.1")   # semantic-conventions-genai v0.1.0

With ``semconv=None`` the observer reads ``OTEL_SEMCONV_STABILITY_OPT_IN`` once, when it is
built: ``gen_ai_latest_experimental`` in that comma-separated list picks the newest profile, as
the conventions ask instrumentations to offer; otherwise the default.

What the profiles share (both documents say the same): one CLIENT span per inference named
``{gen_ai.operation.name} {gen_ai.request.model}``; the ``gen_ai.request.*``,
``gen_ai.response.*`` and ``gen_ai.usage.{input,output}_tokens`` attributes; ``server.address``,
``server.port``, ``error.type``; the bucket boundaries below. What differs:

- cache-write tokens attribute: ``gen_ai.usage.cache_creation.input_tokens`` (1.41),
  ``gen_ai.usage.cache_write.input_tokens`` (genai-0.1);
- duration histogram: ``gen_ai.client.operation.duration`` / ``gen_ai.client.inference.duration``;
- time to first chunk histogram: ``gen_ai.client.operation.time_to_first_chunk`` /
  ``gen_ai.client.inference.time_to_first_chunk``;
- tokens: 1.41 has one histogram, ``gen_ai.client.token.usage``, split by ``gen_ai.token.type``
  (input, output); genai-0.1 has one counter per kind, ``gen_ai.client.inference.usage.*``
  (input, output, cache_read.input, cache_write.input, reasoning.output; by
  ``gen_ai.token.modality``), and the per-operation histograms
  ``gen_ai.client.inference.operation.{input,output}_tokens``;
- reasoning effort: ``gen_ai.request.reasoning.level`` exists in genai-0.1 only.

Sources: docs/gen-ai/gen-ai-metrics.md and gen-ai-spans.md at semantic-conventions v1.41.0;
docs/gen-ai/client-inference.md and gen-ai-token-metrics.md at semantic-conventions-genai
v0.1.0. Cost (``gen_ai.usage.cost.*``) is neither: it is the open proposal
semantic-conventions-genai#443, emitted by both profiles and documented as provisional.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "DEFAULT",
    "DURATION_BUCKETS",
    "PROFILES",
    "SEMCONV_1_41",
    "SEMCONV_GENAI_0_1",
    "TOKEN_BUCKETS",
    "Semconv",
    "resolve",
]

#: Seconds: ExplicitBucketBoundaries of gen_ai.client.operation.duration (and of the time to
#: first chunk) in both documents.
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                                       20.48, 40.96, 81.92)
#: Tokens: ExplicitBucketBoundaries of gen_ai.client.token.usage (1.41) and of the per-operation
#: token histograms (genai-0.1): powers of 4 from 1 to 4**13.
TOKEN_BUCKETS: tuple[float, ...] = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                                    16777216, 67108864)

#: Token kinds routerlib reports: usage fields in OpenAI's meaning (cache and reasoning are subsets).
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")


@dataclass(frozen=True, slots=True)
class Semconv:
    """The names one version of the conventions gives to what routerlib records."""

    name: str
    #: The document followed (written into docs/observability.md).
    source: str
    #: The tracer's and meter's schema URL (None where the repository publishes none yet).
    schema_url: str | None
    cache_write_attribute: str
    duration_metric: str
    time_to_first_chunk_metric: str
    #: 1.41: one histogram for every token, split by ``gen_ai.token.type``; None in genai-0.1.
    token_histogram: str | None = None
    #: genai-0.1: one counter per token kind (see TOKEN_KINDS).
    token_counters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: genai-0.1: per-operation distribution histograms for input and output tokens.
    token_operation_histograms: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Whether ``gen_ai.request.reasoning.level`` exists in this version.
    reasoning_level: bool = False


SEMCONV_1_41 = Semconv(
    name="1.41",
    source="https://github.com/open-telemetry/semantic-conventions/blob/v1.41.0/docs/gen-ai/README.md",
    schema_url="https://opentelemetry.io/schemas/1.41.0",
    cache_write_attribute="gen_ai.usage.cache_creation.input_tokens",
    duration_metric="gen_ai.client.operation.duration",
    time_to_first_chunk_metric="gen_ai.client.operation.time_to_first_chunk",
    token_histogram="gen_ai.client.token.usage",
)

_INFERENCE = "gen_ai.client.inference"
SEMCONV_GENAI_0_1 = Semconv(
    name="genai-0.1",
    source="https://github.com/open-telemetry/semantic-conventions-genai/blob/v0.1.0/docs/gen-ai/client-inference.md",
    schema_url=None,
    cache_write_attribute="gen_ai.usage.cache_write.input_tokens",
    duration_metric=f"{_INFERENCE}.duration",
    time_to_first_chunk_metric=f"{_INFERENCE}.time_to_first_chunk",
    token_counters=MappingProxyType({
        "input": f"{_INFERENCE}.usage.input_tokens",
        "output": f"{_INFERENCE}.usage.output_tokens",
        "cache_read": f"{_INFERENCE}.usage.cache_read.input_tokens",
        "cache_write": f"{_INFERENCE}.usage.cache_write.input_tokens",
        "reasoning": f"{_INFERENCE}.usage.reasoning.output_tokens",
    }),
    token_operation_histograms=MappingProxyType({
        "input": f"{_INFERENCE}.operation.input_tokens",
        "output": f"{_INFERENCE}.operation.output_tokens",
    }),
    reasoning_level=True,
)

PROFILES: Mapping[str, Semconv] = MappingProxyType({p.name: p for p in (SEMCONV_1_41, SEMCONV_GENAI_0_1)})
DEFAULT = SEMCONV_1_41
#: The newest profile: what ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` selects.
LATEST = SEMCONV_GENAI_0_1
OPT_IN_VARIABLE = "OTEL_SEMCONV_STABILITY_OPT_IN"


def resolve(semconv: str | Semconv | None, environ: Mapping[str, str] | None = None) -> Semconv:
    """The profile for ``semconv``: a name from PROFILES, a Semconv, or None (environment, else default)."""
    if isinstance(semconv, Semconv):
        return semconv
    if semconv is None:
        env = os.environ if environ is None else environ
        opted = {part.strip() for part in env.get(OPT_IN_VARIABLE, "").split(",")}
        return LATEST if "gen_ai_latest_experimental" in opted else DEFAULT
    profile = PROFILES.get(semconv) if isinstance(semconv, str) else None
    if profile is None:
        raise ValueError(f"semconv={semconv!r}: allowed values are "
                         f"{', '.join(repr(n) for n in PROFILES)}, a Semconv, or None")
    return profile
