"""The model map: what each model costs and can do, looked up by the name a caller uses.

The packaged map is a trimmed snapshot of LiteLLM's ``model_prices_and_context_window.json``
(see ``regenerate.py``). It is read on first use, never at import and never over the network,
and a map is a value: ``register`` and ``merged`` return new maps, so a client that adds its
own prices changes nothing for anyone else.

Lookup resolution order for ``get(model, provider)``, first hit wins; every step is tried
again, in the same order, on each fallback name of step 4::

    1. provider given:  "<provider>/<model>"         (a leading "<provider>/" in model is not doubled)
                        "<model>"                    only if that row belongs to the provider
    2. no provider:     "<model>"                    exact key ("gpt-4o-mini", "openrouter/x/y")
                        "<head>/<rest>" -> step 1 with provider=head, model=rest
                        bare "<model>" found only as "<p>/<model>" for exactly one p -> that row
    3. any key lookup also matches case-insensitively when the exact key is absent
    4. fallback names:  a date suffix removed ("-2024-07-18", "-20241022", "@20241022";
                        Gemini's "-002"),
                        then an OpenAI fine-tune reduced to its base ("ft:gpt-4o:org::id" -> "ft:gpt-4o")

Results are cached per (model, provider), so a repeated lookup is one dict hit.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from importlib import resources
from os import PathLike
from types import MappingProxyType
from typing import Any

from ._fields import (
    DEFAULT_CACHE_READ_RATIO,
    FLAG_FIELDS,
    INT_FIELDS,
    KEPT_FIELDS,
    PRICE_FIELDS,
    Rates,
    as_decimal,
    bucket_rates,
    is_kept_field,
    normalise_provider,
    tier_field,
)
from ._tiers import Tiers, build_tiers

__all__ = ["ModelInfo", "ModelMap", "is_default_loaded"]

_META_KEY = "__meta__"
_SKIPPED_KEYS = frozenset((_META_KEY, "sample_spec"))
_CACHE_LIMIT = 8192
_MISS: Any = object()

_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")
# Gemini's stable versions ("gemini-1.5-pro-002") share their base model's price; a bare
# three-digit suffix elsewhere may be part of the name, so it is only stripped here.
_GEMINI_VERSION = re.compile(r"^((?:.*/)?gemini-[^/]*?)(?:-|@)\d{3}$")
_FINE_TUNE = re.compile(r"^(ft:[^:]+):.*$")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model's row: limits, exact prices (USD per token or per second) and capabilities.

    ``key`` is the map key the row was found under (an alias row reports its target's key);
    ``provider`` is the routing name (``vertex_ai``), ``litellm_provider`` LiteLLM's label
    (``vertex_ai-language-models``). A price is None when the map does not give it, which is
    not the same as a price of zero.
    """

    key: str
    provider: str | None = None
    litellm_provider: str | None = None
    mode: str | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_tokens: int | None = None
    input_cost_per_token: Decimal | None = None
    output_cost_per_token: Decimal | None = None
    cache_read_input_token_cost: Decimal | None = None
    cache_creation_input_token_cost: Decimal | None = None
    output_cost_per_reasoning_token: Decimal | None = None
    input_cost_per_audio_token: Decimal | None = None
    output_cost_per_audio_token: Decimal | None = None
    input_cost_per_second: Decimal | None = None
    output_cost_per_second: Decimal | None = None
    supports_function_calling: bool = False
    supports_parallel_function_calling: bool = False
    supports_vision: bool = False
    supports_response_schema: bool = False
    supports_reasoning: bool = False
    supports_prompt_caching: bool = False
    supports_audio_input: bool = False
    supports_audio_output: bool = False
    supports_system_messages: bool = False
    supports_tool_choice: bool = False
    supports_pdf_input: bool = False
    supports_video_input: bool = False
    supports_web_search: bool = False
    supports_url_context: bool = False
    supports_tool_search: bool = False
    supports_computer_use: bool = False
    supports_box_questions: bool = False
    supports_continuation: bool = False
    #: Long-context tiers, ascending: (threshold, rates) applies when prompt_tokens > threshold
    #: (see ``_tiers``); empty for most models.
    tiers: Tiers = ()
    #: Each usage bucket's rate with its fallback applied, computed once here so that pricing
    #: a call does no per-call Decimal bookkeeping (see ``_fields.bucket_rates``).
    rates: Rates = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = bucket_rates(
            self.input_cost_per_token,
            self.output_cost_per_token,
            self.cache_read_input_token_cost,
            self.cache_creation_input_token_cost,
            self.input_cost_per_audio_token,
            self.output_cost_per_reasoning_token,
            self.output_cost_per_audio_token,
        )
        object.__setattr__(self, "rates", rates)

    @property
    def bills_by_time(self) -> bool:
        """True when the row is priced per second and has no non-zero per-token price (LiteLLM's rule)."""
        if self.input_cost_per_second is None and self.output_cost_per_second is None:
            return False
        return not (self.input_cost_per_token or self.output_cost_per_token)

    def rates_for(self, prompt_tokens: int) -> Rates:
        """The bucket rates of a call with this many prompt tokens (its long-context tier, if any)."""
        for threshold, rates in reversed(self.tiers):
            if prompt_tokens > threshold:
                return rates
        return self.rates

    def to_dict(self) -> dict[str, Any]:
        """The row with LiteLLM's ``get_model_info`` key names (prices stay Decimal; tiers left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name != "tiers"}


def _int_field(key: str, name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value != int(value):
        raise ValueError(f"model map entry {key!r}: {name} must be an integer, not {value!r}")
    return int(value)


def _build_info(key: str, entry: Mapping[str, Any]) -> ModelInfo:
    """Turn one stored row into a ``ModelInfo``, converting prices exactly once."""
    raw_provider = entry.get("litellm_provider")
    if raw_provider is not None and not isinstance(raw_provider, str):
        raise ValueError(f"model map entry {key!r}: litellm_provider must be a string")
    kwargs: dict[str, Any] = {
        "key": key,
        "provider": normalise_provider(raw_provider) if raw_provider else None,
        "litellm_provider": raw_provider,
        "mode": entry.get("mode") if isinstance(entry.get("mode"), str) else None,
    }
    for name in INT_FIELDS:
        kwargs[name] = _int_field(key, name, entry.get(name))
    for name in PRICE_FIELDS:
        value = entry.get(name)
        kwargs[name] = None if value is None else as_decimal(value, what=f"model map entry {key!r}: {name}")
    for flag in FLAG_FIELDS:
        kwargs[f"supports_{flag}"] = entry.get(f"supports_{flag}") is True
    ratio, input_rate = DEFAULT_CACHE_READ_RATIO.get(kwargs["provider"]), kwargs["input_cost_per_token"]
    if ratio is not None and input_rate is not None and kwargs["cache_read_input_token_cost"] is None:
        kwargs["cache_read_input_token_cost"] = input_rate * ratio
    kwargs["tiers"] = build_tiers(key, entry, kwargs)
    return ModelInfo(**kwargs)


def _trim(key: str, entry: object) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise TypeError(f"model map entry {key!r} must be an object, not {type(entry).__name__}")
    return {k: v for k, v in entry.items() if is_kept_field(k)}


def _fields_for_register(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``register`` fields now, so a typo fails at the call that made it, not at a later lookup.

    Names are LiteLLM's; ``provider`` stands for ``litellm_provider``; flags may drop ``supports_``.
    """
    out: dict[str, Any] = {}
    for field_name, value in given.items():
        target = "litellm_provider" if field_name == "provider" else field_name
        if target in FLAG_FIELDS:
            target = f"supports_{target}"
        if not is_kept_field(target):
            raise TypeError(f"register({name!r}): unknown field {field_name!r}; known: {sorted(KEPT_FIELDS)}")
        if (target in PRICE_FIELDS or tier_field(target)) and value is not None:
            value = as_decimal(value, what=f"register({name!r}): {field_name}")
        out[target] = value
    _build_info(name, out)
    return out


_default: ModelMap | None = None
_packaged: ModelMap | None = None
_default_lock = threading.RLock()  # default() may load packaged() while holding it


def is_default_loaded() -> bool:
    """Whether the default map has been read yet (it is read on first use, never at import)."""
    return _default is not None


def _forget_default() -> None:
    """Read the default map again on next use (for tests that change the price cache)."""
    global _default
    with _default_lock:
        _default = None


class ModelMap:
    """An immutable map from model names to ``ModelInfo``; see the module docstring for lookup order."""

    __slots__ = ("_entries", "_infos", "_lower", "_meta", "_resolved", "_suffixes")

    def __init__(
        self, entries: Mapping[str, Mapping[str, Any]] | None = None, *, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Wrap already-trimmed rows; use ``default``, ``from_file`` or ``from_dict`` to build one."""
        self._entries: dict[str, Mapping[str, Any]] = dict(entries or {})
        self._meta: dict[str, Any] = dict(meta or {})
        self._infos: dict[str, ModelInfo | None] = {}
        self._resolved: dict[tuple[str, str | None], ModelInfo | None] = {}
        self._lower: dict[str, str] | None = None
        self._suffixes: dict[str, list[str]] | None = None

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def default(cls) -> ModelMap:
        """The map clients use: the refreshed one that ``routerlib prices update`` cached, when there is
        a sound one, else the packaged snapshot (see ``cache.py``). Read once on first call
        (thread-safe) and shared: it never changes within a process.
        """
        global _default
        loaded = _default
        if loaded is None:
            with _default_lock:
                if _default is None:
                    from .cache import cached_map_data

                    data = cached_map_data()
                    _default = cls._from_data(data, trusted=True) if data is not None else cls.packaged()
                loaded = _default
        return loaded

    @classmethod
    def packaged(cls) -> ModelMap:
        """The snapshot shipped with routerlib, whatever the cache holds (read once, shared)."""
        global _packaged
        loaded = _packaged
        if loaded is None:
            with _default_lock:
                if _packaged is None:
                    data = resources.files(__package__).joinpath("model_map.json").read_bytes()
                    _packaged = cls._from_data(json.loads(data), trusted=True)
                loaded = _packaged
        return loaded

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> ModelMap:
        """Load a map file in LiteLLM's format (full or trimmed); numbers are read as exact Decimals."""
        with open(path, "rb") as fh:
            data = json.loads(fh.read(), parse_float=Decimal)
        if not isinstance(data, dict):
            raise TypeError(f"{path}: a model map file must hold a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMap:
        """Build a map from LiteLLM-shaped rows, checking every row now so a bad file fails at load."""
        return cls._from_data(data, trusted=False)

    @classmethod
    def _from_data(cls, data: Mapping[str, Any], *, trusted: bool) -> ModelMap:
        meta = data.get(_META_KEY)
        entries = {k: (v if trusted else _trim(k, v)) for k, v in data.items() if k not in _SKIPPED_KEYS}
        new = cls(entries, meta=meta if isinstance(meta, Mapping) else None)
        if not trusted:
            for key in entries:
                new._info_for_key(key)
        return new

    def register(self, name: str, fields: Mapping[str, Any] | None = None, /, **kw: Any) -> ModelMap:
        """A new map with ``name`` added or replaced; this map is unchanged (copy-on-write).

        Fields use LiteLLM's names (``input_cost_per_token``, ``max_input_tokens``,
        ``supports_vision``...); ``provider`` stands for ``litellm_provider``. Prices may be
        float, int, str or Decimal: floats are read through ``str()`` so 0.1 stays 0.1.
        """
        entry = _fields_for_register(name, {**(fields or {}), **kw})
        new = ModelMap(self._entries, meta=self._meta)
        new._entries[name] = entry
        new._infos = {k: v for k, v in self._infos.items() if k != name and (v is None or v.key != name)}
        return new

    def merged(self, other: ModelMap) -> ModelMap:
        """A new map holding both maps' rows, ``other``'s winning where both have a key."""
        return ModelMap({**self._entries, **other._entries}, meta=self._meta)

    # -- lookup -----------------------------------------------------------------------------

    def get(self, model: str, provider: str | None = None) -> ModelInfo | None:
        """The row for ``model`` (optionally served by ``provider``), or None when unknown."""
        cache_key = (model, provider)
        hit = self._resolved.get(cache_key, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[no-any-return]
        info = self._resolve(model, provider)
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.clear()  # bounded: callers may send any number of unknown names
        self._resolved[cache_key] = info
        return info

    def provider_of(self, model: str) -> str | None:
        """The routing provider of a model name such as ``gpt-4o-mini`` (None when unknown or ambiguous)."""
        info = self.get(model)
        return info.provider if info is not None else None

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __repr__(self) -> str:
        return f"<ModelMap {len(self._entries)} models>"

    @property
    def meta(self) -> Mapping[str, Any]:
        """The file's ``__meta__`` header (source, LiteLLM version, date, licence), if any."""
        return MappingProxyType(self._meta)

    # -- internals --------------------------------------------------------------------------

    def _resolve(self, model: str, provider: str | None) -> ModelInfo | None:
        for name in _fallback_names(model):
            info = self._resolve_name(name, provider)
            if info is not None:
                return info
        return None

    def _resolve_name(self, name: str, provider: str | None) -> ModelInfo | None:
        if provider:
            return self._resolve_with_provider(name, provider)
        info = self._lookup(name)
        if info is not None:
            return info
        head, slash, rest = name.partition("/")
        if slash and head and rest:
            return self._resolve_with_provider(rest, head)
        if not slash:
            owners = self._suffix_index().get(name.lower(), ())
            if len(owners) == 1:
                return self._lookup(owners[0])
        return None

    def _resolve_with_provider(self, name: str, provider: str) -> ModelInfo | None:
        prefix = f"{provider}/"
        while name.startswith(prefix):
            name = name[len(prefix) :]
        info = self._lookup(prefix + name)
        if info is not None:
            return info
        info = self._lookup(name)
        if info is not None and normalise_provider(provider) in (info.provider, info.litellm_provider):
            return info
        return None

    def _lookup(self, key: str) -> ModelInfo | None:
        if key not in self._entries:
            lower = self._lower_index().get(key.lower())
            if lower is None:
                return None
            key = lower
        return self._info_for_key(key)

    def _info_for_key(self, key: str) -> ModelInfo | None:
        info = self._infos.get(key, _MISS)
        if info is _MISS:
            entry = self._entries[key]
            target = entry.get("alias_of")
            if isinstance(target, str):
                target_entry = self._entries.get(target)
                ok = target_entry is not None and "alias_of" not in target_entry
                info = self._info_for_key(target) if ok else None
            else:
                info = _build_info(key, entry)
            self._infos[key] = info
        return info  # type: ignore[no-any-return]

    def _lower_index(self) -> dict[str, str]:
        index = self._lower
        if index is None:
            index = {}
            for key in self._entries:
                index.setdefault(key.lower(), key)
            self._lower = index
        return index

    def _suffix_index(self) -> dict[str, list[str]]:
        """Bare name (lower case) -> the "<provider>/<name>" keys whose prefix is that row's provider."""
        index = self._suffixes
        if index is None:
            index = {}
            for key, entry in self._entries.items():
                head, slash, rest = key.partition("/")
                raw = entry.get("litellm_provider")
                if slash and "/" not in rest and isinstance(raw, str) and head in (raw, normalise_provider(raw)):
                    index.setdefault(rest.lower(), []).append(key)
            self._suffixes = index
        return index


def _fallback_names(model: str) -> Iterator[str]:
    """The name itself, then without a date or version suffix, then a fine-tune's base model."""
    yield model
    undated = _GEMINI_VERSION.sub(r"\1", _DATE_SUFFIX.sub("", model))
    if undated != model:
        yield undated
    base = _FINE_TUNE.sub(r"\1", model)
    if base != model:
        yield base
        undated_base = _GEMINI_VERSION.sub(r"\1", _DATE_SUFFIX.sub("", base))
        if undated_base != base:
            yield undated_base
