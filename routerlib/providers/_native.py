"""Providers whose wire format is not OpenAI's: one module each, registered here."""

from __future__ import annotations

from .base import ProviderSpec


def specs() -> list[ProviderSpec]:
    """The native providers' specs (imported on first use of the registry)."""
    return []
