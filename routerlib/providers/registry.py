"""The provider registry: provider name -> ``ProviderSpec``, one registry per client.

Built-in providers are registered through the same ``register`` call users make, from
data rows (``_rows``) and from the native adapter modules. A client starts from a copy of
the built-ins, so a provider registered on one client never appears on another.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ..exceptions import InvalidRequestError
from .base import Adapter, ProviderSpec

__all__ = [
    "ProviderRegistry",
    "builtin_specs",
    "spec_from_row",
]

_builtins: dict[str, ProviderSpec] | None = None
_builtins_lock = threading.Lock()


class ProviderRegistry:
    """A mutable mapping of provider names to specs, owned by one client."""

    def __init__(self, specs: Mapping[str, ProviderSpec] | None = None) -> None:
        self._specs: dict[str, ProviderSpec] = dict(specs or {})

    @classmethod
    def with_builtins(cls) -> ProviderRegistry:
        return cls(builtin_specs())

    def register(self, spec: ProviderSpec) -> ProviderSpec:
        """Add or replace a provider on this registry only."""
        if not isinstance(spec, ProviderSpec):
            raise TypeError(f"register() takes a ProviderSpec, got {type(spec).__name__}")
        if not spec.name or "/" in spec.name:
            raise ValueError(f"provider name {spec.name!r}: must be non-empty and contain no '/'")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> ProviderSpec | None:
        return self._specs.get(name)

    def require(self, name: str) -> ProviderSpec:
        spec = self._specs.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(self._specs), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InvalidRequestError(f"unknown provider {name!r}{hint}; known providers: "
                                      f"{', '.join(sorted(self._specs))}", code="unknown_provider")
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)


def builtin_specs() -> dict[str, ProviderSpec]:
    """The built-in providers, built once on first use (not at import)."""
    global _builtins
    if _builtins is None:
        with _builtins_lock:
            if _builtins is None:
                _builtins = _load_builtins()
    return _builtins


def _load_builtins() -> dict[str, ProviderSpec]:
    from . import _native, _rows

    registry = ProviderRegistry()
    for row in _rows.ROWS:
        registry.register(spec_from_row(row))
    for spec in _native.specs():
        registry.register(spec)
    return dict(registry._specs)


def spec_from_row(row: Mapping[str, Any], adapter: Adapter | None = None) -> ProviderSpec:
    """A ``ProviderSpec`` for an OpenAI-compatible provider described by a data row."""
    from .openai_compat import OpenAICompatAdapter

    fields = dict(row)
    fields["api_key_env"] = tuple(fields.get("api_key_env", ()))
    fields["unsupported"] = frozenset(fields.get("unsupported", ()))
    row_adapter = fields.pop("adapter", None)
    return ProviderSpec(adapter=adapter or row_adapter or OpenAICompatAdapter(), **fields)
