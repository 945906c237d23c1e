"""Planning: ``model`` + ``model_list`` + ``fallbacks`` -> the deployments a call may try.

Targets are resolved to ``Deployment`` lazily, one at a time, so that a call whose primary
answers never pays for resolving its fallbacks, and a fallback with a missing key fails as
an attempt of its own (the call goes on) rather than failing the whole call up front.

Inheritance (the rule LiteLLM users expect, minus its leaks): a target of the *same*
provider as the primary inherits the primary's api_base, api_key, api_version and headers
unless its entry sets them; a target of *another* provider never sees them and uses its
own entry's values, else its environment variable, else its default base URL.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ._request import ChatRequest, redacted
from .exceptions import InvalidRequestError, MissingAPIKeyError
from .providers.base import PRICE_FIELDS, Deployment, DeploymentOptions, Prices, ProviderSpec
from .providers.registry import ProviderRegistry

if TYPE_CHECKING:
    from .cost.model_map import ModelInfo


class ModelInfoSource(Protocol):
    """What planning needs of a model map (a client passes a lazy view of its own)."""

    def get(self, model: str, provider: str | None = None) -> ModelInfo | None: ...

    def provider_of(self, model: str) -> str | None: ...

TargetKind = Literal["primary", "deployment", "fallback", "context_window"]
_ENTRY_KEYS = frozenset({"model", "api_base", "base_url", "api_key", "api_version", "headers",
                         "extra_headers", "input_cost_per_token", "output_cost_per_token",
                         "input_cost_per_second", "output_cost_per_second", "model_name",
                         "litellm_params", "timeout", "azure_ad_token"})


@dataclass(frozen=True)
class Target:
    """A model to try, as the caller named it, with its entry's own settings."""

    model: str
    kind: TargetKind
    entry: Mapping[str, Any] = field(default_factory=dict)


def targets_for(request: ChatRequest) -> list[Target]:
    """Primary (or model_list deployments) first, then fallbacks, in the caller's order."""
    found: list[Target] = []
    if request.model_list:
        found.extend(Target(e["model"], "deployment", e) for e in _model_list_entries(request))
    if not found:
        found.append(Target(request.model, "primary"))
    for fallback in request.fallbacks or ():
        if isinstance(fallback, str):
            found.append(Target(fallback, "fallback"))
        else:
            found.append(Target(_entry_model(fallback, "fallbacks"), "fallback", _check_entry(fallback)))
    return found


def _model_list_entries(request: ChatRequest) -> list[Mapping[str, Any]]:
    """model_list entries for ``request.model``: ours ({"model": ...}) or LiteLLM's shape."""
    entries = []
    for raw in request.model_list or ():
        entry = dict(raw.get("litellm_params") or {}, **{k: v for k, v in raw.items()
                                                         if k != "litellm_params"})
        name = entry.get("model_name")
        if name is not None and name != request.model:
            continue
        entry.setdefault("model", request.model)
        entries.append(_check_entry(entry))
    return entries


def _entry_model(entry: Mapping[str, Any], where: str) -> str:
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(f"{where}: each entry needs a 'model' string, got {redacted(dict(entry))!r}")
    return model


def _check_entry(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = entry.keys() - _ENTRY_KEYS
    if unknown:
        raise InvalidRequestError(f"unknown keys {sorted(unknown)} in a fallback/model_list entry; "
                                  f"allowed: {', '.join(sorted(_ENTRY_KEYS))}")
    _entry_model(entry, "model_list" if "model_name" in entry else "fallbacks")
    return entry


class Planner:
    """Resolves targets to deployments against one client's registry and model map."""

    def __init__(self, registry: ProviderRegistry, model_map: ModelInfoSource | None = None,
                 environ: Mapping[str, str] | None = None,
                 templates: Mapping[str, Any] | None = None) -> None:
        self.registry = registry
        self.model_map = model_map
        self._environ = environ
        #: Prompt templates registered on the client, by "provider/model" or model name.
        self._templates = templates if templates is not None else {}

    def split(self, model: str, *, has_api_base: bool) -> tuple[str, str]:
        """(provider, model name sent to it) for "provider/name", or a bare name."""
        prefix, sep, rest = model.partition("/")
        if sep and prefix in self.registry:
            return prefix, rest
        close = difflib.get_close_matches(prefix, list(self.registry), n=1, cutoff=0.8) if sep else []
        if has_api_base:
            if close:
                raise InvalidRequestError(
                    f"unknown provider {prefix!r} in model {model!r} (did you mean {close[0]}?); to send a "
                    f"model name containing '/' to an OpenAI-compatible server, write 'openai/{model}'",
                    model=model, code="unknown_provider")
            return "openai", model  # any OpenAI-compatible server, model name passed as is
        provider = self.model_map.provider_of(model) if self.model_map is not None else None
        if provider is not None and provider in self.registry:
            name = rest if sep and prefix == provider else model
            return provider, name
        hint = f" (did you mean {close[0]}/{rest}?)" if close else ""
        raise InvalidRequestError(
            f"cannot tell the provider of model {model!r}{hint}: write it as 'provider/model' (known "
            f"providers: {', '.join(self.registry)}), or pass api_base for an OpenAI-compatible server",
            model=model, code="unknown_model")

    def check(self, targets: list[Target], request: ChatRequest) -> None:
        """Refuse, before anything is sent, a fallback that could never be resolved: an unknown
        provider, or one with no endpoint. (Keys are looked up only when a target is tried.)"""
        first = targets[0]
        primary = self.split(first.model, has_api_base=bool(first.entry.get("api_base") or request.api_base))[0]
        for target in targets[1:]:
            entry = target.entry
            own_base = entry.get("api_base") or entry.get("base_url")
            provider = self.split(target.model, has_api_base=bool(own_base))[0]
            spec = self.registry.require(provider)
            inherited = request.api_base if provider == primary else None
            if not (own_base or inherited or spec.api_base or self._env_value(spec.api_base_env)):
                where = f" or set {' or '.join(spec.api_base_env)}" if spec.api_base_env else ""
                raise InvalidRequestError(
                    f"fallback {target.model!r}: provider {spec.name!r} has no default endpoint: give the "
                    f"entry an api_base{where}", provider=spec.name, code="missing_api_base")

    def resolve(self, target: Target, request: ChatRequest, primary: Deployment | None) -> Deployment:
        """The deployment for ``target`` (see the module docstring for what it inherits)."""
        entry = target.entry
        own_base = entry.get("api_base") or entry.get("base_url")
        caller_base = request.api_base if target.kind == "primary" or primary is None else None
        provider, name = self.split(target.model, has_api_base=bool(own_base or caller_base))
        spec = self.registry.require(provider)
        inherit = (primary if primary is not None and primary.spec.name == spec.name
                   and target.kind != "primary" else None)
        if target.kind in ("primary", "deployment") and primary is None:
            inherited: dict[str, Any] = {"api_base": request.api_base, "api_key": request.api_key,
                                         "api_version": request.api_version, "headers": request.headers,
                                         "azure_ad_token": request.azure_ad_token}
        elif inherit is not None:
            inherited = {"api_base": inherit.api_base, "api_key": inherit.api_key,
                         "api_version": inherit.api_version, "headers": inherit.headers,
                         "azure_ad_token": inherit.bearer_token}
        else:
            inherited = {}
        api_base = (own_base or inherited.get("api_base") or self._env_value(spec.api_base_env)
                    or spec.api_base)
        if not api_base:
            where = f" or set {' or '.join(spec.api_base_env)}" if spec.api_base_env else ""
            raise InvalidRequestError(f"provider {spec.name!r} has no default endpoint: pass api_base{where}",
                                      provider=spec.name, model=name, code="missing_api_base")
        api_key = entry.get("api_key") or inherited.get("api_key") or self._env_value(spec.api_key_env)
        if api_key is None and spec.key_required and request.mock_response is None:
            names = " or ".join(spec.api_key_env) or "api_key"
            raise MissingAPIKeyError(f"no API key for {spec.name}: pass api_key= or set {names}",
                                     provider=spec.name, model=name, code="missing_api_key")
        headers = {**(inherited.get("headers") or {}), **(entry.get("headers") or {}),
                   **(entry.get("extra_headers") or {})}
        prices = Prices(**{k: Decimal(str(entry[k])) for k in PRICE_FIELDS if entry.get(k) is not None})
        template = self._templates.get(f"{spec.name}/{name}") or self._templates.get(name)
        options = DeploymentOptions(timeout=entry.get("timeout"), prices=prices if prices.given() else None,
                                    template=template)
        bearer = entry.get("azure_ad_token") or inherited.get("azure_ad_token")
        if bearer is None and api_key is None and spec.token_env:
            bearer = self._env_value(spec.token_env)
        return Deployment(spec=spec, model=name, api_base=api_base, api_key=api_key,
                          api_version=(entry.get("api_version") or inherited.get("api_version")
                                       or self._env_value(spec.api_version_env)),
                          headers=headers, options=options, bearer_token=bearer,
                          default_max_tokens=(self._max_output(name, spec)
                                              if "default_max_tokens" in spec.options else None))

    def _max_output(self, name: str, spec: ProviderSpec) -> int | None:
        """For providers that need max_tokens on every request: the model's own output limit."""
        info = self.model_map.get(name, spec.price_prefix or spec.name) if self.model_map is not None else None
        return info.max_output_tokens if info is not None and info.max_output_tokens else None

    def info(self, deployment: Deployment) -> ModelInfo | None:
        """The model map entry for a deployment (prices, context window), if known."""
        if self.model_map is None:
            return None
        if deployment.spec.options.get("in_process"):  # "litellm/openai/gpt-4o": the name carries its provider
            return self.model_map.get(deployment.model)
        return self.model_map.get(deployment.model, deployment.spec.price_prefix or deployment.provider)

    def _env_value(self, names: tuple[str, ...]) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        for name in names:
            value = environ.get(name)
            if value:
                return value
        return None



class ContextCheck:
    """Skips a deployment, before any network call, when the request cannot fit its model.

    The model map's ``max_input_tokens`` is taken as the context window (prompt plus the
    requested output must fit in it) and ``max_output_tokens`` bounds the requested output.
    Exact counting (tiktoken) runs only when the cheap bound, one token per UTF-8 byte at
    most, says the prompt might not fit: most calls never tokenize.
    """

    def __init__(self, planner: Planner) -> None:
        self._planner = planner

    def check(self, request: ChatRequest, deployment: Deployment) -> str | None:
        """None if the request fits (or the limits are unknown), else why it does not."""
        info = self._planner.info(deployment)
        if info is None:
            return None
        output = request.max_completion_tokens or request.max_tokens or 0
        if info.max_output_tokens and output > info.max_output_tokens:
            return f"max output {output} > {info.max_output_tokens} tokens"
        window = info.max_input_tokens
        if not window or _byte_bound(request) + output <= window:
            return None
        from .tokens import count_messages, count_text

        if request.prompt is not None:
            prompt = sum(count_text(deployment.model, p) for p in _prompts(request))
        else:
            prompt = count_messages(deployment.model, request.messages)
        if prompt + output > window:
            return f"{prompt} prompt + {output} output tokens > {window} context window"
        return None


def _prompts(request: ChatRequest) -> tuple[str, ...]:
    prompt = request.prompt
    return (prompt,) if isinstance(prompt, str) else tuple(prompt or ())


def _byte_bound(request: ChatRequest) -> int:
    """An upper bound of the prompt's tokens: UTF-8 bytes plus per-message overhead."""
    total = sum(len(p.encode()) for p in _prompts(request))
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content.encode()) + 8
        elif content:
            total += sum(len(str(part).encode()) for part in content) + 8
        for call in message.get("tool_calls") or ():
            total += len(str(call).encode())
    return total + 8
