"""Providers whose wire format is not OpenAI's: one module each, registered here.

Each module exposes ``specs() -> list[ProviderSpec]``.
"""

from __future__ import annotations

import importlib

from .base import ProviderSpec

_MODULES = ("anthropic", "gemini", "azure", "text_completion", "litellm_bridge")


def specs() -> list[ProviderSpec]:
    """The native providers' specs (imported on first use of the registry)."""
    found: list[ProviderSpec] = []
    for name in _MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ImportError:  # TEMPORARY while adapters are being written
            continue
        found.extend(module.specs())
    return found
