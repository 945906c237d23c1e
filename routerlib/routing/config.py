"""A Router's configuration, checked at construction: model_list and the group-level options.

``model_list`` takes LiteLLM's format unchanged, so a LiteLLM user switches by changing the
import::

    {"model_name": "chat",                              # the group
     "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": ..., "api_key": "os.environ/KEY",
                        "api_version": ..., "rpm": 100, "tpm": 100000, "weight": 2, "timeout": 30,
                        "max_parallel_requests": 10, "tags": ["eu"],
                        "input_cost_per_token": ..., "output_cost_per_token": ...},
     "model_info": {"id": "eu-mini", "max_input_tokens": ..., "quality": ...}}

or routerlib's typed ``RouterDeployment``. A string ``"os.environ/NAME"`` in litellm_params
is read from the Router's environment (``environ=``) at construction. Every mistake raises
``RouterConfigError`` saying where (``model_list[2].litellm_params``), what is wrong and what
is allowed: an unknown key, a negative weight, a limit that is not a positive whole number,
a group with no deployment, two deployments with one id, a fallback naming nothing.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ..exceptions import RouterConfigError
from ..providers.base import NO_OPTIONS, PRICE_FIELDS, DeploymentOptions, Prices

__all__ = [
    "MemberConfig",
    "RouterDeployment",
    "check_strategy",
    "parse_aliases",
    "parse_fallbacks",
    "parse_model_list",
    "shuffle_weights",
]

ENV_PREFIX = "os.environ/"

#: Where each litellm_params key goes: the deployment's endpoint and credentials (the planner's
#: entry), or its routing options.
ENDPOINT_KEYS = frozenset({"model", "api_base", "base_url", "api_key", "api_version", "azure_ad_token",
                           "headers", "extra_headers", "organization"})
OPTION_KEYS = frozenset({"rpm", "tpm", "weight", "timeout", "max_parallel_requests", "tags", *PRICE_FIELDS})
PARAM_KEYS = ENDPOINT_KEYS | OPTION_KEYS
INFO_KEYS = frozenset({"id", "quality", "max_input_tokens", "max_output_tokens", "max_tokens",
                       "input_cost_per_token", "output_cost_per_token"})
ENTRY_KEYS = frozenset({"model_name", "litellm_params", "model_info"})

#: LiteLLM keys routerlib does not take, with what to do instead.
LITELLM_HINTS = {
    "max_retries": "retries are the Router's: pass num_retries= to Router (or per call)",
    "stream_timeout": "routerlib has one per-attempt timeout: use timeout",
    "order": "deployment priority by 'order' is not supported: use weight, or fallbacks between groups",
    "base_model": "give the deployment's prices (input_cost_per_token, output_cost_per_token) and "
                  "model_info max_input_tokens instead",
    "model_name": "model_name belongs at the top of the entry, beside litellm_params",
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


def parse_model_list(model_list: Sequence[Any], environ: Mapping[str, str]) -> list[MemberConfig]:
    if isinstance(model_list, str | bytes | Mapping) or not isinstance(model_list, Sequence):
        raise RouterConfigError(f"model_list must be a list of deployments, got {type(model_list).__name__}")
    if not model_list:
        raise RouterConfigError("model_list is empty: give at least one deployment")
    return [_member(item, f"model_list[{i}]", environ) for i, item in enumerate(model_list)]


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
    _unknown(info, INFO_KEYS, f"{where}.model_info")
    params = {k: _env(v, f"{where}.litellm_params.{k}", environ) for k, v in params.items()}
    model = _name(params.get("model"), f"{where}.litellm_params.model")
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
    return MemberConfig(group, model, entry, ident, _options(params, info, where), where)


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
    tags = params.get("tags") or ()
    if isinstance(tags, str) or not isinstance(tags, Sequence) or not all(isinstance(t, str) and t for t in tags):
        raise RouterConfigError(f"{p}.tags={tags!r}: must be a list of non-empty strings")
    return DeploymentOptions(
        weight=_number(params.get("weight"), f"{p}.weight", low=0.0),
        rpm=_whole(params.get("rpm"), f"{p}.rpm"),
        tpm=_whole(params.get("tpm"), f"{p}.tpm"),
        timeout=_seconds(params.get("timeout"), f"{p}.timeout"),
        max_parallel_requests=_whole(params.get("max_parallel_requests"), f"{p}.max_parallel_requests"),
        prices=Prices(**prices) if prices else None,
        tags=tuple(tags),
        quality=_number(info.get("quality"), f"{i}.quality"),
        max_input_tokens=_whole(info.get("max_input_tokens"), f"{i}.max_input_tokens"),
        max_output_tokens=_whole(max_output, f"{i}.max_output_tokens"),
    )


def _unknown(given: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(k for k in given if k not in allowed)
    if not unknown:
        return
    name = str(unknown[0])
    hint = LITELLM_HINTS.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else ""
    more = f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
    raise RouterConfigError(f"{where}: unknown key {name!r}{more}{'; ' + hint if hint else ''}; allowed: "
                            f"{', '.join(sorted(allowed))}")


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


def _whole(value: Any, where: str) -> int | None:
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


def parse_fallbacks(option: str, value: Any, groups: Sequence[str],
                    check_model: Callable[[str], str | None]) -> dict[str, tuple[str, ...]]:
    """LiteLLM's ``[{"chat": ["backup"]}]`` (or a plain dict) -> {"chat": ("backup",)}.

    A key is a group or "*" (every group without its own entry); a target is a group or a
    "provider/model" the Router can call directly (``check_model`` says why not, else None).
    """
    if value is None:
        return {}
    items: list[tuple[Any, Any]] = []
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        for i, entry in enumerate(value):
            if not isinstance(entry, Mapping):
                raise RouterConfigError(f"{option}[{i}]: each entry is a dict {{group: [fallback, ...]}}, "
                                        f"got {entry!r}")
            items.extend(entry.items())
    else:
        raise RouterConfigError(f"{option}: a list of {{group: [fallback, ...]}} dicts, got {value!r}")
    out: dict[str, tuple[str, ...]] = {}
    for key, targets in items:
        if key != "*" and key not in groups:
            raise RouterConfigError(f"{option}: {key!r} is not a group of model_list (groups: "
                                    f"{', '.join(groups)}; '*' means every group)")
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, Sequence) or not all(isinstance(t, str) and t for t in targets):
            raise RouterConfigError(f"{option}: {key!r} maps to {targets!r}: must be a list of group or model names")
        for target in targets:
            if target == key:
                raise RouterConfigError(f"{option}: {key!r} falls back to itself")
            if target not in groups and (why := check_model(target)) is not None:
                raise RouterConfigError(f"{option}: {key!r} -> {target!r} names no group with a deployment "
                                        f"(groups: {', '.join(groups)}) and is not a model to call directly: {why}")
        out[key] = tuple(targets)
    return out


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
        if not isinstance(alias, str) or not isinstance(target, str) or target not in groups:
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
