"""A Router's configuration, checked at construction: model_list and the group-level options.

``model_list`` takes LiteLLM's format, so a LiteLLM user switches by changing the import::

    {"model_name": "chat",                              # the group
     "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": ..., "api_key": "os.environ/KEY",
                        "api_version": ..., "rpm": 100, "tpm": 100000, "weight": 2, "timeout": 30,
                        "max_parallel_requests": 10, "tags": ["eu"],
                        "input_cost_per_token": ..., "output_cost_per_token": ...},
     "model_info": {"id": "eu-mini", "max_input_tokens": ..., "quality": ...}}

or routerlib's typed ``RouterDeployment``. ``custom_llm_provider`` becomes the model's provider
prefix, as LiteLLM reads it. A call parameter in litellm_params (``temperature``, ``max_tokens``)
is refused: LiteLLM sends it with every call to that deployment, and routerlib's deployments
carry no call parameters, so accepting it would silently drop it. model_info is LiteLLM's
informational dict: the keys routerlib reads are checked, any other is kept out of routing
(LiteLLM's ``mode``, ``supports_*``, ...), unless it is a near-miss of a read key. A string
``"os.environ/NAME"`` in litellm_params is read from the Router's environment (``environ=``)
at construction. Every mistake raises ``RouterConfigError`` saying where
(``model_list[2].litellm_params``), what is wrong and what is allowed: an unknown key, a
negative weight, a limit that is not a positive whole number, a group with no deployment, two
deployments with one id, a fallback naming nothing.

LiteLLM's other ``Router(...)`` options are in ``litellm_options``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from ..exceptions import RouterConfigError
from ..params import CompletionParams
from ..providers.base import NO_OPTIONS, PRICE_FIELDS, DeploymentOptions, Prices
from .plan import Names

__all__ = [
    "MemberConfig",
    "RouterDeployment",
    "check_strategy",
    "fallback_items",
    "parse_aliases",
    "parse_fallbacks",
    "parse_model_list",
    "shuffle_weights",
    "whole",
]

ENV_PREFIX = "os.environ/"

#: Where each litellm_params key goes: the deployment's endpoint and credentials (the planner's
#: entry), or its routing options.
ENDPOINT_KEYS = frozenset({"model", "api_base", "base_url", "api_key", "api_version", "azure_ad_token",
                           "headers", "extra_headers", "organization"})
OPTION_KEYS = frozenset({"rpm", "tpm", "weight", "timeout", "max_parallel_requests", "tags", *PRICE_FIELDS})
#: LiteLLM's way to give the provider apart from the model: it becomes the model's prefix.
PROVIDER_KEY = "custom_llm_provider"
PARAM_KEYS = ENDPOINT_KEYS | OPTION_KEYS | {PROVIDER_KEY}
#: The model_info keys routerlib reads (checked); any other model_info key is informational.
INFO_KEYS = frozenset({"id", "quality", "max_input_tokens", "max_output_tokens", "max_tokens",
                       "input_cost_per_token", "output_cost_per_token", "base_model"})
#: Call parameters (temperature, max_tokens, ...): LiteLLM sends a litellm_params one with every
#: call to that deployment; routerlib's deployments carry none, so they are refused, not dropped.
CALL_KEYS = frozenset(CompletionParams.__annotations__) - PARAM_KEYS - {"max_retries"}
ENTRY_KEYS = frozenset({"model_name", "litellm_params", "model_info"})

#: LiteLLM keys routerlib does not take, with what to do instead.
LITELLM_HINTS = {
    "max_retries": "retries are the Router's: pass num_retries= to Router (or per call)",
    "stream_timeout": "routerlib has one per-attempt timeout: use timeout",
    "order": "deployment priority by 'order' is not supported: use weight, or fallbacks between groups",
    "base_model": "base_model belongs in model_info",
    "model_name": "model_name belongs at the top of the entry, beside litellm_params",
    "model_info": "model_info belongs at the top of the entry, beside litellm_params",
    "max_budget": "budgets are the client's: pass budgets=[Budget(...)] to Router (routerlib.spend)",
    "budget_duration": "budgets are the client's: pass budgets=[Budget(..., window=...)] to Router",
    "litellm_credential_name": "give the key itself, or 'os.environ/NAME' to read it from the environment",
    "rpm": "routerlib reads rpm from litellm_params: move it there",
    "tpm": "routerlib reads tpm from litellm_params: move it there",
}

STRATEGY_NAMES = ("simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing",
                  "usage-based-routing", "usage-based-routing-v2")


@dataclass(frozen=True)
class RouterDeployment:
    """routerlib's typed form of one model_list entry (the same fields as LiteLLM's dict)."""

    model_name: str
    model: str
    id: str = ""
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: DeploymentOptions = NO_OPTIONS


@dataclass(frozen=True)
class MemberConfig:
    """One checked deployment of a group, ready for ``Planner.deployment``."""

    group: str
    model: str
    #: api_base, api_key, api_version, headers, azure_ad_token: what the planner resolves.
    entry: Mapping[str, Any] = field(repr=False)
    id: str
    options: DeploymentOptions
    #: Where it was configured, for error messages: "model_list[2]".
    where: str
    #: LiteLLM's model_info.base_model: the model map row that prices this deployment, if its own has none.
    base_model: str | None = None
    #: LiteLLM's litellm_params.custom_llm_provider, already the model's prefix (the Router checks it).
    provider: str | None = None


def parse_model_list(model_list: Sequence[Any], environ: Mapping[str, str], *,
                     max_parallel: int | None = None) -> list[MemberConfig]:
    """Every deployment checked; ``max_parallel`` (LiteLLM's default_max_parallel_requests) is the
    max_parallel_requests of each deployment that does not set its own."""
    if isinstance(model_list, str | bytes | Mapping) or not isinstance(model_list, Sequence):
        raise RouterConfigError(f"model_list must be a list of deployments, got {type(model_list).__name__}")
    if not model_list:
        raise RouterConfigError("model_list is empty: give at least one deployment")
    configs = [_member(item, f"model_list[{i}]", environ) for i, item in enumerate(model_list)]
    if max_parallel is None:
        return configs
    return [c if c.options.max_parallel_requests is not None else replace(
        c, options=replace(c.options, max_parallel_requests=max_parallel)) for c in configs]


def _member(item: Any, where: str, environ: Mapping[str, str]) -> MemberConfig:
    if isinstance(item, RouterDeployment):
        _name(item.model_name, f"{where}.model_name")
        _name(item.model, f"{where}.model")
        typed = {k: v for k, v in (("api_base", item.api_base), ("api_key", item.api_key),
                                   ("api_version", item.api_version), ("headers", dict(item.headers)))
                 if v}
        return MemberConfig(item.model_name, item.model, typed, item.id, item.options, where)
    if not isinstance(item, Mapping):
        raise RouterConfigError(f"{where}: a deployment is a dict (model_name, litellm_params, model_info) "
                                f"or a RouterDeployment, got {type(item).__name__}")
    _unknown(item, ENTRY_KEYS, where)
    group = _name(item.get("model_name"), f"{where}.model_name")
    params = item.get("litellm_params")
    if not isinstance(params, Mapping):
        raise RouterConfigError(f"{where}.litellm_params: required, a dict with at least 'model'")
    info = item.get("model_info") or {}
    if not isinstance(info, Mapping):
        raise RouterConfigError(f"{where}.model_info: must be a dict")
    _unknown(params, PARAM_KEYS, f"{where}.litellm_params")
    _check_info_keys(info, f"{where}.model_info")
    params = {k: _env(v, f"{where}.litellm_params.{k}", environ) for k, v in params.items()}
    model = _provider_prefixed(_name(params.get("model"), f"{where}.litellm_params.model"),
                               params.get(PROVIDER_KEY), f"{where}.litellm_params.{PROVIDER_KEY}")
    entry: dict[str, Any] = {k: v for k, v in params.items() if k in ENDPOINT_KEYS and k != "model"
                             and v is not None}
    if "organization" in entry:
        org = entry.pop("organization")
        entry["headers"] = {**(entry.get("headers") or {}), "OpenAI-Organization": str(org)}
    ident = info.get("id", "")
    if not isinstance(ident, str) or (ident and _BAD_ID.search(ident)):
        raise RouterConfigError(f"{where}.model_info.id={ident!r}: must be a string of printable characters "
                                f"without spaces or braces (ids name logs, traces and Redis keys)")
    if not isinstance(entry.get("headers", {}), Mapping) or not isinstance(entry.get("extra_headers", {}), Mapping):
        raise RouterConfigError(f"{where}.litellm_params.headers: must be a dict of header names to values")
    base_model = info.get("base_model")
    if base_model is not None and (not isinstance(base_model, str) or not base_model.strip()):
        raise RouterConfigError(f"{where}.model_info.base_model={base_model!r}: must be a model name")
    return MemberConfig(group, model, entry, ident, _options(params, info, where), where, base_model,
                        params.get(PROVIDER_KEY))


def _provider_prefixed(model: str, provider: Any, where: str) -> str:
    """LiteLLM's ``custom_llm_provider="openai"`` + ``model="gpt-4o"`` -> ``"openai/gpt-4o"`` (not doubled,
    as LiteLLM reads it); the Router checks the provider is one it knows."""
    if provider is None:
        return model
    if not isinstance(provider, str) or not provider.strip() or "/" in provider:
        raise RouterConfigError(f"{where}={provider!r}: must be a provider name such as 'openai'")
    return model if model.startswith(provider + "/") else f"{provider}/{model}"


def _options(params: Mapping[str, Any], info: Mapping[str, Any], where: str) -> DeploymentOptions:
    p = f"{where}.litellm_params"
    i = f"{where}.model_info"
    prices = {}
    for name in PRICE_FIELDS:
        in_params, in_info = params.get(name), info.get(name)
        if in_params is not None and in_info is not None and _decimal(in_params, f"{p}.{name}") != \
                _decimal(in_info, f"{i}.{name}"):
            raise RouterConfigError(f"{where}: {name} is given twice (litellm_params and model_info) with "
                                    f"different values: give it once")
        value = in_params if in_params is not None else in_info
        if value is not None:
            prices[name] = _decimal(value, f"{p}.{name}")
    max_output = info.get("max_output_tokens", info.get("max_tokens"))
    tags = params.get("tags")
    tags = () if tags is None else tags
    if isinstance(tags, str) or not isinstance(tags, Sequence) or not all(isinstance(t, str) and t for t in tags):
        raise RouterConfigError(f"{p}.tags={tags!r}: must be a list of non-empty strings")
    return DeploymentOptions(
        weight=_number(params.get("weight"), f"{p}.weight", low=0.0),
        rpm=whole(params.get("rpm"), f"{p}.rpm"),
        tpm=whole(params.get("tpm"), f"{p}.tpm"),
        timeout=_seconds(params.get("timeout"), f"{p}.timeout"),
        max_parallel_requests=whole(params.get("max_parallel_requests"), f"{p}.max_parallel_requests"),
        prices=Prices(**prices) if prices else None,
        tags=tuple(tags),
        quality=_number(info.get("quality"), f"{i}.quality"),
        max_input_tokens=whole(info.get("max_input_tokens"), f"{i}.max_input_tokens"),
        max_output_tokens=whole(max_output, f"{i}.max_output_tokens"),
    )


def _unknown(given: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(k for k in given if k not in allowed)
    if not unknown:
        return
    name = str(unknown[0])
    hint = LITELLM_HINTS.get(name)
    if hint is None and name in CALL_KEYS:
        hint = (f"{name} is a call parameter: LiteLLM sends it with every call to this deployment, but a "
                f"routerlib deployment carries no call parameters, so it would be lost: pass {name}= with "
                f"each call (or give the calls that need it a group of their own and pass it there)")
    if hint is None:
        known = allowed | CALL_KEYS if allowed is PARAM_KEYS else allowed
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else ""
        if close and close[0] in CALL_KEYS:
            hint += " (a call parameter: pass it with each call, not in litellm_params)"
    more = f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
    raise RouterConfigError(f"{where}: unknown key {name!r}{more}{'; ' + hint if hint else ''}; allowed: "
                            f"{', '.join(sorted(allowed))}")


def _check_info_keys(info: Mapping[str, Any], where: str) -> None:
    """model_info is LiteLLM's informational dict (``mode``, ``supports_vision``, ``db_model``, ...):
    a key routerlib does not read is kept out of routing, not refused, unless it looks like a
    misspelt key that routerlib reads (a typo must not silently lose a context window)."""
    for key in info:
        if key in INFO_KEYS:
            continue
        name = str(key)
        hint = LITELLM_HINTS.get(name) if name in ("rpm", "tpm", "model_name") else None
        close = [k for k in sorted(INFO_KEYS) if _edits(name, k) <= (1 if len(k) <= 4 else 2)]
        if hint is None and close:
            hint = f"did you mean {close[0]!r}?"
        if hint is not None:
            raise RouterConfigError(f"{where}: key {name!r}: {hint}; routerlib reads {', '.join(sorted(INFO_KEYS))} "
                                    f"(other keys are informational)")


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: a misspelt key is a few edits away, while LiteLLM's other keys
    (``input_cost_per_image`` beside ``input_cost_per_token``) are not."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _env(value: Any, where: str, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):]
        found = environ.get(name)
        if not found:
            raise RouterConfigError(f"{where}: {value!r} names the environment variable {name}, which is not set")
        return found
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RouterConfigError(f"{where}: required, a non-empty string, got {value!r}")
    return value


#: A deployment id names logs, traces and Redis keys: no whitespace, control characters or braces
#: (Redis Cluster reads ``{...}`` in a key as a hash tag).
_BAD_ID = re.compile(r"[\s{}\x00-\x1f\x7f]")


def _number(value: Any, where: str, *, low: float | None = None, strict: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RouterConfigError(f"{where}={value!r}: must be a finite number")
    if low is not None and (value <= low if strict else value < low):
        raise RouterConfigError(f"{where}={value!r}: must be {'>' if strict else '>='} {low:g}")
    return float(value)


def _seconds(value: Any, where: str) -> float | None:
    """A timeout: finite, > 0 and at most a week (the Client's rule)."""
    from .._checks import timeout_problem

    if value is None:
        return None
    problem = timeout_problem(value)
    if problem is not None:
        raise RouterConfigError(f"{where}={value!r}: {problem}")
    return float(value)


def whole(value: Any, where: str) -> int | None:
    """A limit (max_parallel_requests, rpm, ...): a whole number >= 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RouterConfigError(f"{where}={value!r}: must be a whole number >= 1")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else Decimal("-1")
    except InvalidOperation:
        number = Decimal("-1")
    if not number.is_finite() or number < 0:
        raise RouterConfigError(f"{where}={value!r}: must be a price >= 0 (USD)")
    return number


def shuffle_weights(options: Sequence[DeploymentOptions]) -> list[float]:
    """simple-shuffle weights of one group: weight, else rpm, else tpm, else equal.

    The basis is the first of those that any deployment of the group sets; a deployment that
    does not set it gets the mean of those that do. All zero weights is refused.
    """
    for basis in ("weight", "rpm", "tpm"):
        values = [getattr(o, basis) for o in options]
        given = [float(v) for v in values if v is not None]
        if given:
            mean = sum(given) / len(given)
            return [mean if v is None else float(v) for v in values]
    return [1.0] * len(options)


def parse_fallbacks(option: str, value: Any, names: Names) -> dict[str, tuple[str, ...]]:
    """LiteLLM's ``[{"chat": ["backup"]}]`` (or a plain dict) -> {"chat": ("backup",)}.

    A key is a group, an alias (stored as its group) or "*" (every group without its own
    entry); a target is a group, an alias (stored as its group: resolved as ``model=`` is) or
    a "provider/model" the Router can call directly. A key given twice is refused: LiteLLM
    would silently use the first.
    """
    if value is None:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key, targets in fallback_items(option, value):
        group = "*" if key == "*" else names.group(key) if isinstance(key, str) else None
        if group is None:
            raise RouterConfigError(f"{option}: {key!r} is not a group of model_list ({names.allowed()}; "
                                    f"'*' means every group)")
        if group in out:
            raise RouterConfigError(f"{option}: {key!r} is given twice: give each group one list")
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, Sequence) or not all(isinstance(t, str) and t for t in targets):
            raise RouterConfigError(f"{option}: {key!r} maps to {targets!r}: must be a list of group or model names")
        resolved = []
        for target in targets:
            name, problem = names.resolve(target)
            if problem is not None:
                raise RouterConfigError(f"{option}: {key!r} -> {problem}")
            if name == group:
                raise RouterConfigError(f"{option}: {key!r} falls back to itself")
            resolved.append(name)
        out[group] = tuple(resolved)
    return out


def fallback_items(option: str, value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return list(value.items())
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise RouterConfigError(f"{option}: a list of {{group: [fallback, ...]}} dicts, got {value!r}")
    items: list[tuple[Any, Any]] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise RouterConfigError(f"{option}[{i}]: each entry is a dict {{group: [fallback, ...]}}, got {entry!r}")
        items.extend(entry.items())
    return items


def parse_aliases(value: Any, groups: Sequence[str]) -> dict[str, str]:
    """``model_group_alias``: {"gpt-4": "chat"} or LiteLLM's {"gpt-4": {"model": "chat", "hidden": true}}."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise RouterConfigError(f"model_group_alias must be a dict {{alias: group}}, got {value!r}")
    out = {}
    for alias, target in value.items():
        if isinstance(target, Mapping):
            target = target.get("model")
        if not isinstance(alias, str) or not alias or not isinstance(target, str) or target not in groups:
            raise RouterConfigError(f"model_group_alias: {alias!r} -> {target!r}: the target must be a group of "
                                    f"model_list (groups: {', '.join(groups)})")
        if alias in groups:
            raise RouterConfigError(f"model_group_alias: {alias!r} is already a group name")
        out[alias] = target
    return out


def check_strategy(name: Any) -> str:
    if name not in STRATEGY_NAMES:
        close = difflib.get_close_matches(str(name), STRATEGY_NAMES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RouterConfigError(f"routing_strategy={name!r}{hint}: allowed: {', '.join(STRATEGY_NAMES)}")
    return str(name)
