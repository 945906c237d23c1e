"""The per-call cache controls: ``completion(..., cache={...})``, with LiteLLM's names.

=================  ==================================================================
``"no-cache"``     True: do not read the cache for this call (it may still store).
``"no-store"``     True: do not write this call's answer to the cache.
``"ttl"``          seconds this call's answer stays in the cache (> 0); replaces the
                   cache's own ``ttl`` for this entry.
``"s-maxage"``     seconds: accept only an entry at most this old (>= 0); an older one
                   is ignored (and replaced by this call's answer).
``"namespace"``    the namespace to read and write in, instead of the cache's own.
``"use-cache"``    LiteLLM's opt-in for a cache that is off by default: True changes
                   nothing (a routerlib cache answers every call), False is no-cache
                   and no-store together.
=================  ==================================================================

``"s-max-age"`` is accepted for ``"s-maxage"``, as LiteLLM accepts both spellings.

The names are HTTP's Cache-Control directives, as LiteLLM spells them, so code written for
LiteLLM's ``cache=`` argument keeps working. Anything else is refused before a call is sent.
This module is imported by request validation, so it imports nothing heavy.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NAMESPACE_PATTERN", "CacheControl", "check_namespace"]

#: A namespace appears in storage keys: printable, no spaces or glob characters, bounded.
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.:@/+=-]{1,128}")
_NAMES = ("no-cache", "no-store", "ttl", "s-maxage", "namespace", "use-cache")
#: Other spellings LiteLLM reads, and the name each stands for.
_ALIASES = {"s-max-age": "s-maxage"}


def check_namespace(value: object, what: str = "namespace") -> str:
    """``value`` if it is a valid namespace, else ValueError saying what is allowed."""
    if not isinstance(value, str) or NAMESPACE_PATTERN.fullmatch(value) is None:
        raise ValueError(f"{what}={value!r}: must be 1 to 128 characters from letters, digits and _.:@/+=-")
    return value


def _seconds(name: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"cache[{name!r}]={value!r}: must be a number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"cache[{name!r}]={value!r}: must be {'>= 0' if allow_zero else '> 0'} seconds")
    return float(value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"cache[{name!r}]={value!r}: must be true or false")
    return value


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The validated ``cache={...}`` of one call. Built by ``parse``; all fields optional."""

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    s_maxage: float | None = None
    namespace: str | None = None

    @classmethod
    def parse(cls, value: object) -> CacheControl:
        """Validate LiteLLM-style controls, or raise ValueError naming the problem and the allowed names."""
        if isinstance(value, CacheControl):
            return value
        if isinstance(value, bool):
            raise ValueError(f"a call's cache= is a dict of controls ({', '.join(_NAMES)}); the "
                             "cache itself is the client's: Client(cache=MemoryCache()) or Router(cache=...)")
        if not isinstance(value, Mapping):
            raise ValueError(f"must be a dict of cache controls ({', '.join(_NAMES)}), got {type(value).__name__}")
        value = _unaliased(value)
        unknown = [k for k in value if k not in _NAMES]
        if unknown:
            parts = []
            for name in unknown:
                close = difflib.get_close_matches(str(name).replace("_", "-"), _NAMES, n=1, cutoff=0.6)
                parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(f"unknown cache control {', '.join(parts)}; allowed: {', '.join(_NAMES)}")
        ttl = value.get("ttl")
        s_maxage = value.get("s-maxage")
        namespace = value.get("namespace")
        unused = not _flag("use-cache", value.get("use-cache", True))
        return cls(
            no_cache=_flag("no-cache", value.get("no-cache", False)) or unused,
            no_store=_flag("no-store", value.get("no-store", False)) or unused,
            ttl=None if ttl is None else _seconds("ttl", ttl, allow_zero=False),
            s_maxage=None if s_maxage is None else _seconds("s-maxage", s_maxage, allow_zero=True),
            namespace=None if namespace is None else check_namespace(namespace, "cache['namespace']"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The controls that were set, by their LiteLLM names."""
        pairs = (("no-cache", self.no_cache or None), ("no-store", self.no_store or None), ("ttl", self.ttl),
                 ("s-maxage", self.s_maxage), ("namespace", self.namespace))
        return {name: value for name, value in pairs if value is not None}


def _unaliased(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """``value`` with LiteLLM's other spellings under routerlib's names (both given: ValueError)."""
    if not any(name in value for name in _ALIASES):
        return value
    renamed: dict[Any, Any] = {}
    for name, given in value.items():
        name = _ALIASES.get(name, name)
        if name in renamed and renamed[name] != given:
            raise ValueError(f"cache[{name!r}] is given twice, with two values ({renamed[name]!r} and {given!r})")
        renamed[name] = given
    return renamed
