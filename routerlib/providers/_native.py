"""Providers whose wire format (or I/O) is not OpenAI's: one module each, registered here.

Each module exposes ``specs() -> list[ProviderSpec]``; they are imported on the first use
of a registry, not at ``import routerlib``.
"""

from __future__ import annotations

from .base import ProviderSpec


def specs() -> list[ProviderSpec]:
    """The native providers' specs."""
    from . import anthropic, azure, gemini, litellm_bridge, text_completion

    return [spec for module in (anthropic, gemini, azure, text_completion, litellm_bridge)
            for spec in module.specs()]
