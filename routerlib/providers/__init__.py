"""Provider adapters and the registry that names them.

See ``base`` for the seam (``Adapter``, ``ProviderSpec``, ``Deployment``), ``_rows`` for the
OpenAI-compatible providers as data, and one module per native wire format.
"""

from .base import (
    Adapter,
    Deployment,
    DeploymentOptions,
    EmbeddingAdapter,
    Prices,
    ProviderSpec,
    StreamParser,
    select_params,
)
from .registry import ProviderRegistry, builtin_specs, spec_from_row

__all__ = [
    "Adapter",
    "Deployment",
    "DeploymentOptions",
    "EmbeddingAdapter",
    "Prices",
    "ProviderRegistry",
    "ProviderSpec",
    "StreamParser",
    "builtin_specs",
    "select_params",
    "spec_from_row",
]
