"""OpenTelemetry GenAI spans and metrics for routerlib calls (extra ``routerlib[otel]``).

::

    from routerlib import Client
    from routerlib.otel import OpenTelemetryObserver

    client = Client(observers=[OpenTelemetryObserver()])   # the global tracer and meter providers

Only this package imports ``opentelemetry``; ``import routerlib`` never imports it. Spans,
attributes and metrics are listed in docs/observability.md; the version of the conventions
followed is a switchable value (``routerlib.otel.semconv``).
"""

from ._attributes import PROVIDER_NAMES
from ._observer import OpenTelemetryObserver
from .semconv import SEMCONV_1_41, SEMCONV_GENAI_0_1, Semconv

__all__ = ["PROVIDER_NAMES", "SEMCONV_1_41", "SEMCONV_GENAI_0_1", "OpenTelemetryObserver", "Semconv"]
