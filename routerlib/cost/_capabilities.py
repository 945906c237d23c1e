"""LiteLLM's model-map surface besides money: ``model_cost``, ``register_model``,
``get_max_tokens`` and the ``supports_*`` helpers, under LiteLLM's names and return types.

They read the default client's map (the packaged snapshot plus what ``register_model``
added), loaded on first use. Unlike LiteLLM's, nothing here is a module-level dict that a
caller mutates: ``model_cost`` is a read-only view (its rows are copies), and
``register_model`` adds the rows to the default client (a ``Client`` of your own takes
``client.register_model(...)`` or ``Client(model_map=...)``).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from ..exceptions import InvalidRequestError, ModuleSettingError
from ._compat import check_model, current_map, info_or_raise
from ._fields import FLAG_FIELDS, KEPT_FIELDS, PRICE_FIELDS, is_kept_field, tier_field

__all__ = [
    "ModelCost",
    "get_max_tokens",
    "model_cost",
    "register_model",
    "supports",
    "supports_audio_input",
    "supports_audio_output",
    "supports_box_questions",
    "supports_computer_use",
    "supports_continuation",
    "supports_function_calling",
    "supports_httpx_timeout",
    "supports_parallel_function_calling",
    "supports_pdf_input",
    "supports_prompt_caching",
    "supports_reasoning",
    "supports_response_schema",
    "supports_system_messages",
    "supports_tool_choice",
    "supports_tool_search",
    "supports_url_context",
    "supports_video_input",
    "supports_vision",
    "supports_web_search",
]


# -- model_cost --------------------------------------------------------------------------------

def _float_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row with its prices as floats (LiteLLM's shape); everything else as stored."""
    row: dict[str, Any] = {}
    for name, value in entry.items():
        if name in PRICE_FIELDS or tier_field(name):
            row[name] = float(value) if value is not None else None
        elif name == "tiered_pricing" and isinstance(value, list):
            row[name] = [{k: (float(v) if isinstance(v, str | Decimal) and k != "range" else v)
                          for k, v in tier.items()} for tier in value]
        else:
            row[name] = value
    return row


class ModelCost(Mapping[str, dict[str, Any]]):
    """``routerlib.model_cost``: LiteLLM's ``litellm.model_cost`` as a read-only view.

    Keys are the map's keys; each value is a copy of the row in LiteLLM's shape (prices as
    floats), so ``json.dumps(model_cost["gpt-4o-mini"])`` works. The map is read on first
    access, not at import. To add or change a row call ``routerlib.register_model({...})``.
    """

    def _entries(self) -> Mapping[str, Mapping[str, Any]]:
        return current_map(None)._entries

    def __getitem__(self, key: str) -> dict[str, Any]:
        return _float_row(self._entries()[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def __contains__(self, key: object) -> bool:
        return key in self._entries()

    def __setitem__(self, key: str, value: Any) -> None:
        raise ModuleSettingError(f"routerlib.model_cost[{key!r}] = ...: model_cost is a read-only view; "
                                 f"use routerlib.register_model({{{key!r}: {{...}}}}) (the default client) or "
                                 f"client.register_model({key!r}, ...)")

    def __repr__(self) -> str:
        return "<routerlib.model_cost: LiteLLM's model_cost, read-only>"


model_cost = ModelCost()


# -- register_model ----------------------------------------------------------------------------

_register_lock = threading.Lock()


def register_model(model_cost: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """LiteLLM's ``register_model``: add or update rows of the default client's model map.

    Takes LiteLLM's row shape (``{"my-model": {"input_cost_per_token": ..., "litellm_provider":
    "openai", "max_tokens": ...}}``). A row for an existing key updates that row's fields, as
    LiteLLM does. Fields routerlib does not read (``source``, ``deprecation_date``, service-tier
    prices...) are ignored, but a name one letter away from a field it reads
    (``input_cost_per_tokens``) is refused: a typo must not leave a model silently unpriced.
    LiteLLM's URL form is refused: routerlib fetches nothing. Returns ``model_cost``.
    """
    if isinstance(model_cost, str) or not isinstance(model_cost, Mapping):
        raise InvalidRequestError(
            f"register_model({model_cost!r:.60}): pass a dict of rows {{'model-name': {{'input_cost_per_token': "
            f"..., ...}}}}; routerlib fetches no URL (for a map file use Client(model_map=path))",
            code="invalid_parameter")
    from .._api import default_client

    client = default_client()
    with _register_lock:  # rows are merged into the current map: one registration at a time
        for name, row in model_cost.items():
            check_model("register_model", name)
            if not isinstance(row, Mapping):
                raise InvalidRequestError(f"register_model({{{name!r}: {row!r:.40}}}): each row must be a dict "
                                          f"of LiteLLM fields", code="invalid_parameter")
            existing = client.model_map._entries.get(name, {})
            client.register_model(name, **{**existing, **_kept_fields(name, row)})
    return model_cost


def _kept_fields(name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for field, value in row.items():
        if is_kept_field(field) or field == "provider":
            kept[field] = value
            continue
        close = difflib.get_close_matches(field, sorted(KEPT_FIELDS), n=1, cutoff=0.9)
        if close:
            raise InvalidRequestError(f"register_model({name!r}): unknown field {field!r} (did you mean "
                                      f"{close[0]!r}?)", code="invalid_parameter")
    return kept


# -- get_max_tokens and supports_* -------------------------------------------------------------

def get_max_tokens(model: str) -> int | None:
    """The model's output limit (LiteLLM's ``get_max_tokens``); raises ``UnknownModelError``."""
    check_model("get_max_tokens", model)
    info = info_or_raise(model, None, None)
    return info.max_output_tokens if info.max_output_tokens is not None else info.max_tokens


#: Providers LiteLLM's ``supports_response_schema`` answers True for whatever the model
#: (litellm/utils.py, ``PROVIDERS_GLOBALLY_SUPPORT_RESPONSE_SCHEMA``).
_FLAGS = frozenset(f"supports_{flag}" for flag in FLAG_FIELDS)
_SCHEMA_EVERYWHERE = frozenset({"predibase", "fireworks_ai", "lm_studio", "nebius", "databricks"})


def supports(model: str, capability: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the map marks ``model`` with ``supports_<capability>``; False for an unknown model.

    False rather than an error for an unknown model, as LiteLLM's helpers answer: a yes/no
    question about a model nobody described has the answer "not known to".
    """
    check_model(f"supports_{capability}", model)
    if f"supports_{capability}" not in _FLAGS:
        raise InvalidRequestError(f"supports(capability={capability!r}): known capabilities are "
                                  f"{', '.join(sorted(f.removeprefix('supports_') for f in _FLAGS))}",
                                  code="invalid_parameter")
    if custom_llm_provider is not None and not isinstance(custom_llm_provider, str):
        raise InvalidRequestError(f"supports_{capability}(custom_llm_provider={custom_llm_provider!r}): must be "
                                  f"a provider name or None", code="invalid_parameter")
    info = current_map(None).get(model, custom_llm_provider)
    if capability == "response_schema":
        provider = custom_llm_provider or (model.partition("/")[0] if "/" in model else None)
        if provider in _SCHEMA_EVERYWHERE or (info is not None and info.provider in _SCHEMA_EVERYWHERE):
            return True
    return info is not None and bool(getattr(info, f"supports_{capability}"))


def supports_audio_input(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes audio input: LiteLLM's ``supports_audio_input``."""
    return supports(model, "audio_input", custom_llm_provider)


def supports_audio_output(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model answers with audio: LiteLLM's ``supports_audio_output``."""
    return supports(model, "audio_output", custom_llm_provider)


def supports_box_questions(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes Box questions (a LiteLLM flag on a few rows): LiteLLM's ``supports_box_questions``."""
    return supports(model, "box_questions", custom_llm_provider)


def supports_computer_use(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes the computer-use tool: LiteLLM's ``supports_computer_use``."""
    return supports(model, "computer_use", custom_llm_provider)


def supports_continuation(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model continues a cut-off answer (a rare LiteLLM flag): LiteLLM's ``supports_continuation``."""
    return supports(model, "continuation", custom_llm_provider)


def supports_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes tools (function calling): LiteLLM's ``supports_function_calling``."""
    return supports(model, "function_calling", custom_llm_provider)


def supports_parallel_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model may call several tools in one answer: LiteLLM's ``supports_parallel_function_calling``."""
    return supports(model, "parallel_function_calling", custom_llm_provider)


def supports_pdf_input(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes PDF input: LiteLLM's ``supports_pdf_input``."""
    return supports(model, "pdf_input", custom_llm_provider)


def supports_prompt_caching(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model caches prompts: LiteLLM's ``supports_prompt_caching``."""
    return supports(model, "prompt_caching", custom_llm_provider)


def supports_reasoning(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model reasons (reasoning_effort, thinking): LiteLLM's ``supports_reasoning``."""
    return supports(model, "reasoning", custom_llm_provider)


def supports_response_schema(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes response_format with a JSON schema: LiteLLM's ``supports_response_schema``."""
    return supports(model, "response_schema", custom_llm_provider)


def supports_system_messages(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes system messages: LiteLLM's ``supports_system_messages``."""
    return supports(model, "system_messages", custom_llm_provider)


def supports_tool_choice(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes tool_choice: LiteLLM's ``supports_tool_choice``."""
    return supports(model, "tool_choice", custom_llm_provider)


def supports_tool_search(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes the tool-search tool: LiteLLM's ``supports_tool_search``."""
    return supports(model, "tool_search", custom_llm_provider)


def supports_url_context(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes the URL-context tool: LiteLLM's ``supports_url_context``."""
    return supports(model, "url_context", custom_llm_provider)


def supports_video_input(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes video input: LiteLLM's ``supports_video_input``."""
    return supports(model, "video_input", custom_llm_provider)


def supports_vision(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes images: LiteLLM's ``supports_vision``."""
    return supports(model, "vision", custom_llm_provider)


def supports_web_search(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model searches the web (web_search_options): LiteLLM's ``supports_web_search``."""
    return supports(model, "web_search", custom_llm_provider)


def supports_httpx_timeout(custom_llm_provider: str | None = None) -> bool:
    """LiteLLM's ``supports_httpx_timeout``: True, every routerlib provider honours ``timeout``."""
    return True
