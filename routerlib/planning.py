"""Planning: ``model`` + ``model_list`` + ``fallbacks`` -> the deployments a call may try.

Targets are resolved to ``Deployment`` lazily, one at a time, so that a call whose primary
answers never pays for resolving its fallbacks, and a fallback with a missing key fails as
an attempt of its own (the call goes on) rather than failing the whole call up front.

Inheritance (the rule LiteLLM users expect, minus its leaks): a target of the *same*
provider as the primary inherits the primary's api_base, api_key, api_version and headers
unless its entry sets them; a target of *another* provider never sees them and uses its
own entry's values, else its environment variable, else its default base URL. A same-provider
target with its own api_base inherits the key and headers only when that base has the
primary's scheme, host and port: an OpenAI key never travels to ``http://my-vllm:8000``.

``StaticSource`` is this plan as the core's deployment source (``routerlib._core.source``).
"""

from __future__ import annotations

import difflib
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

from ._request import redacted
from .exceptions import ContextWindowExceededError, InvalidRequestError, MissingAPIKeyError, RouterlibError
from .providers.base import NO_OPTIONS, PRICE_FIELDS, Deployment, DeploymentOptions, Prices, ProviderSpec
from .providers.registry import ProviderRegistry

if TYPE_CHECKING:
    from ._core.source import CallView
    from ._embedding import Request
    from .cost.model_map import ModelInfo

__all__ = [
    "FALLBACK_KEYS",
    "ModelInfoSource",
    "Planner",
    "StaticSource",
    "StaticTarget",
    "Target",
    "same_origin",
    "targets_for",
]


class ModelInfoSource(Protocol):
    """What planning needs of a model map (a client passes a lazy view of its own)."""

    def get(self, model: str, provider: str | None = None) -> ModelInfo | None: ...

    def provider_of(self, model: str) -> str | None: ...

TargetKind = Literal["primary", "deployment", "fallback", "context_window"]
#: What a fallback entry may say besides its model: where it lives, its credentials, its prices
#: (a Client's and a Router's per-call fallback dicts alike).
FALLBACK_KEYS = frozenset({"model", "api_base", "base_url", "api_key", "api_version", "headers", "extra_headers",
                           "timeout", "azure_ad_token", *PRICE_FIELDS})
#: ... and a model_list entry, in LiteLLM's shape too.
_ENTRY_KEYS = FALLBACK_KEYS | {"model_name", "litellm_params"}


@dataclass(frozen=True)
class Target:
    """A model to try, as the caller named it, with its entry's own settings."""

    model: str
    kind: TargetKind
    entry: Mapping[str, Any] = field(default_factory=dict)


def targets_for(request: Request) -> list[Target]:
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


def _model_list_entries(request: Request) -> list[Mapping[str, Any]]:
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

    def check(self, targets: list[Target], request: Request) -> None:
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

    def resolve(self, target: Target, request: Request, primary: Deployment | None) -> Deployment:
        """The deployment for ``target`` (see the module docstring for what it inherits)."""
        entry = target.entry
        own_base = entry.get("api_base") or entry.get("base_url")
        caller_base = request.api_base if target.kind == "primary" or primary is None else None
        provider, name = self.split(target.model, has_api_base=bool(own_base or caller_base))
        inherited: dict[str, Any] = {}
        if target.kind in ("primary", "deployment") and primary is None:
            inherited = {"api_base": request.api_base, "api_key": request.api_key,
                         "api_version": request.api_version, "headers": request.headers,
                         "azure_ad_token": request.azure_ad_token}
        elif primary is not None and primary.spec.name == provider and target.kind != "primary":
            inherited = {"api_base": primary.api_base, "api_version": primary.api_version}
            if not own_base or same_origin(own_base, primary.api_base):
                # Credentials go only where they were meant to: the same scheme, host and port.
                inherited.update(api_key=primary.api_key, headers=primary.headers,
                                 azure_ad_token=primary.bearer_token)
        # A deployment answered in memory (``providers.mock``) needs no key.
        mocked = (request.mock_response is not None or request.mock_tool_calls is not None
                  or (request.mock_testing_fallbacks is True and target.kind in _PRIMARY_KINDS))
        deployment = self.deployment(target.model, entry, inherited=inherited, caller_base=bool(caller_base),
                                     key_optional=mocked, split=(provider, name))
        if getattr(deployment.spec.adapter, "renders_prompt", False):
            return self.with_template(deployment, request)
        return deployment

    def with_template(self, deployment: Deployment, request: Request) -> Deployment:
        """For a raw-prompt server, the deployment with this call's prompt template selected now
        (from the client's environment, before anything is sent), so its adapter only renders."""
        if request.operation == "embeddings" or request.prompt is not None \
                or not getattr(deployment.adapter, "renders_prompt", False):
            return deployment
        from .providers.text_completion import select_for

        template = select_for(request, deployment, os.environ if self._environ is None else self._environ)
        return replace(deployment, options=replace(deployment.options, template=template))

    def deployment(self, model: str, entry: Mapping[str, Any] | None = None, *, id: str = "",
                   options: DeploymentOptions | None = None, inherited: Mapping[str, Any] | None = None,
                   caller_base: bool = False, key_optional: bool = False,
                   split: tuple[str, str] | None = None) -> Deployment:
        """One configured deployment: its provider, endpoint, key (the entry's, else inherited, else
        the provider's environment variable), version, headers, prices and template.

        ``options`` (a router's weight, rpm, tags, ...) are kept, with the entry's timeout and
        prices filled in where they do not say.
        """
        entry = entry or {}
        inherited = inherited or {}
        own_base = entry.get("api_base") or entry.get("base_url")
        provider, name = split or self.split(model, has_api_base=bool(own_base or caller_base))
        spec = self.registry.require(provider)
        api_base = (own_base or inherited.get("api_base") or self._env_value(spec.api_base_env)
                    or spec.api_base)
        if not api_base:
            where = f" or set {' or '.join(spec.api_base_env)}" if spec.api_base_env else ""
            raise InvalidRequestError(f"provider {spec.name!r} has no default endpoint: pass api_base{where}",
                                      provider=spec.name, model=name, code="missing_api_base")
        api_key = entry.get("api_key") or inherited.get("api_key") or self._env_value(spec.api_key_env)
        if api_key is None and spec.key_required and not key_optional:
            names = " or ".join(spec.api_key_env) or "api_key"
            raise MissingAPIKeyError(f"no API key for {spec.name}: pass api_key= or set {names}",
                                     provider=spec.name, model=name, code="missing_api_key")
        headers = {**(inherited.get("headers") or {}), **(entry.get("headers") or {}),
                   **(entry.get("extra_headers") or {})}
        bearer = entry.get("azure_ad_token") or inherited.get("azure_ad_token")
        if bearer is None and api_key is None and spec.token_env:
            bearer = self._env_value(spec.token_env)
        return Deployment(spec=spec, model=name, api_base=api_base, api_key=api_key,
                          api_version=(entry.get("api_version") or inherited.get("api_version")
                                       or self._env_value(spec.api_version_env)),
                          headers=headers, options=self._options(spec, name, entry, options), id=id,
                          bearer_token=bearer,
                          default_max_tokens=(self._max_output(name, spec)
                                              if "default_max_tokens" in spec.options else None))

    def _options(self, spec: ProviderSpec, name: str, entry: Mapping[str, Any],
                 options: DeploymentOptions | None) -> DeploymentOptions:
        options = options or NO_OPTIONS
        template = options.template or (self._templates and (self._templates.get(f"{spec.name}/{name}")
                                                             or self._templates.get(name)))
        if not entry and not template:
            return options  # the common case: nothing to fill in
        prices = Prices(**{k: Decimal(str(entry[k])) for k in PRICE_FIELDS if entry.get(k) is not None})
        return replace(options, timeout=options.timeout or entry.get("timeout"),
                       prices=options.prices or (prices if prices.given() else None), template=template or None)

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


def same_origin(a: str, b: str) -> bool:
    """True if two URLs share scheme, host and port (the rule for sending the same credentials)."""
    try:
        x, y = urlsplit(a), urlsplit(b)
        return (x.scheme.lower(), x.hostname, x.port or _DEFAULT_PORTS.get(x.scheme.lower())) == (
            y.scheme.lower(), y.hostname, y.port or _DEFAULT_PORTS.get(y.scheme.lower()))
    except ValueError:
        return False


_DEFAULT_PORTS = {"http": 80, "https": 443}
#: The targets ``mock_testing_fallbacks`` fails (answered in memory, so they need no key).
_PRIMARY_KINDS = ("primary", "deployment")


class StaticTarget:
    """One model of a static plan: resolved to its deployment once, on its first pick.

    It holds what resolving needs, not its source: a target that pointed back at the source
    that holds it would make every call a reference cycle, left for the garbage collector.
    """

    __slots__ = ("_deployment", "_planner", "_primary", "_request", "kind", "name", "spec")
    #: Answers are cached per deployment (``Target.cache_scope``).
    cache_scope = None

    def __init__(self, spec: Target, planner: Planner, request: Request, primary: Deployment | None) -> None:
        self.spec = spec
        self.name = spec.model
        self.kind = spec.kind
        self._planner = planner
        self._request = request
        self._primary = primary
        self._deployment: Deployment | None = None

    def pick(self, call: CallView) -> Deployment:
        if self._deployment is None:
            self._deployment = self._planner.resolve(self.spec, self._request, self._primary)
        return self._deployment

    def alternative(self, call: CallView, failed: Deployment, error: RouterlibError) -> bool:
        return False  # one deployment: a retry waits for it; another model is a fallback


class StaticSource:
    """Today's plan as a deployment source: primary (or model_list entries), then fallbacks.

    A ``ContextWindowExceededError`` (from the provider, or a pre-check skip) goes first to
    the model ``context_window_fallback_dict`` maps the failed one to, then on down the list.
    Fallbacks that could never be resolved are refused here, before anything is sent.
    """

    def __init__(self, request: Request, planner: Planner) -> None:
        self._request = request
        self._planner = planner
        targets = targets_for(request)
        if len(targets) > 1:
            planner.check(targets, request)
        self._targets: deque[Target] = deque(targets)
        self._current: StaticTarget | None = None
        self.primary: Deployment | None = None

    def next_target(self, call: CallView, error: RouterlibError | None) -> StaticTarget | None:
        current = self._current
        if current is not None:
            if self.primary is None:  # the first deployment resolved: same-provider fallbacks inherit from it
                self.primary = current._deployment
            if isinstance(error, ContextWindowExceededError):
                mapped = self._context_fallback(current)
                if mapped is not None:
                    self._targets.appendleft(Target(mapped, "context_window", current.spec.entry))
        if not self._targets:
            return None
        self._current = StaticTarget(self._targets.popleft(), self._planner, self._request, self.primary)
        return self._current

    def _context_fallback(self, current: StaticTarget) -> str | None:
        mapping = self._request.context_window_fallback_dict or {}
        found = mapping.get(current.name)
        deployment = current._deployment
        if found is None and deployment is not None:
            found = mapping.get(deployment.label) or mapping.get(deployment.model)
        return found
