"""One call's plan through a Router: its group, then fallbacks, as the core's deployment source.

The first target is the group the call named (or its ``model_group_alias``). When a target
gives up with error E, the next is, in order:

- for a context-window error (the provider's, the core's pre-check, or a group whose every
  deployment is too small): the call's ``context_window_fallback_dict`` entry for the target,
  then the Router's ``context_window_fallbacks`` for it, then those of the primary group (or
  of "*"), so that a fallback still too small moves on down the list;
- for a content-policy refusal: the Router's ``content_policy_fallbacks`` the same way;
- then, for any error that falls back, the next of the primary group's ``fallbacks`` (the
  call's own ``fallbacks=`` replace the Router's for that call).

No target is visited twice in a call. A fallback that names a group, or an alias of one
(``model_group_alias``, resolved exactly as ``model=`` is), routes inside that group like the
primary; one that names a model ("openai/gpt-4o", or a per-call dict entry with its own
api_base and key) is called directly, with its own credentials: nothing is inherited from the
group, so a key never crosses providers.

A call's own ``fallbacks=`` and ``context_window_fallback_dict`` are checked and resolved by
``call_fallbacks`` when the call starts, before anything is sent: a typo must not wait for the
primary to fail and then replace its error. Per call, ``fallbacks=`` takes a list of names and
model dicts, or LiteLLM's Router shape ``[{"chat": ["backup"]}]``, of which the entry for the
called group (else "*") applies.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from random import Random
from typing import TYPE_CHECKING, Any

from ..exceptions import (
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InvalidRequestError,
    NoDeploymentAvailableError,
    RouterlibError,
)
from ..planning import FALLBACK_KEYS
from .group import Group, GroupTarget

if TYPE_CHECKING:
    from .._core.source import CallView, TargetKind
    from ..providers.base import Deployment
    from ..request import Request
    from .health import HealthStore

__all__ = [
    "DirectTarget",
    "Names",
    "RouterPlan",
    "RouterSource",
    "call_fallbacks",
]


@dataclass(frozen=True)
class Names:
    """What a call or a fallback may name, resolved the one way ``model=`` is: a group, else an
    alias of a group (``model_group_alias``), else a model the Router calls directly. Fallbacks
    resolve through this too, so an alias that is also a real model name ("gpt-4") reaches its
    group, never that model with the environment's key."""

    groups: tuple[str, ...]
    aliases: Mapping[str, str]
    #: Why a name cannot be called directly (None: it can).
    check_model: Callable[[str], str | None]

    def group(self, name: str) -> str | None:
        """The group ``name`` stands for, or None."""
        return name if name in self.groups else self.aliases.get(name)

    def resolve(self, name: str) -> tuple[str, str | None]:
        """(the group ``name`` stands for, else ``name`` as a direct model; why it is neither, or None)."""
        group = self.group(name)
        if group is not None:
            return group, None
        why = self.check_model(name)
        return name, None if why is None else self.unknown(name, why)

    def allowed(self) -> str:
        aliases = ", ".join(f"{alias} -> {group}" for alias, group in self.aliases.items())
        return f"groups: {', '.join(self.groups)}" + (f"; aliases: {aliases}" if aliases else "")

    def unknown(self, name: str, why: str) -> str:
        """A name that is no group, no alias and no model to call directly: what is, and close matches."""
        close = difflib.get_close_matches(name, [*self.groups, *self.aliases], n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        return (f"{name!r} names no group or alias of this Router{hint} ({self.allowed()}) and is not a model "
                f"to call directly: {why}")


class DirectTarget:
    """A fallback that names a model rather than a group: one deployment, resolved on first pick."""

    __slots__ = ("_deployment", "_resolve", "kind", "last", "name")
    honours_preference = True
    #: Answers are cached per deployment (``Target.cache_scope``).
    cache_scope = None

    def __init__(self, name: str, resolve: Callable[[], Deployment], kind: TargetKind = "fallback") -> None:
        self.name = name
        self.kind = kind
        self._resolve = resolve
        self._deployment: Deployment | None = None
        self.last: tuple[str, str] | None = None

    def pick(self, call: CallView) -> Deployment:
        if self._deployment is None:
            self._deployment = self._resolve()
        return self._deployment

    def alternative(self, call: CallView, failed: Deployment, error: RouterlibError) -> bool:
        return False


class RouterPlan:
    """What a Router shares with every call's source: groups, health, fallbacks, resolution."""

    def __init__(self, groups: Mapping[str, Group], store: HealthStore, rng: Random, *,
                 fallbacks: Mapping[str, tuple[str, ...]], context_window: Mapping[str, tuple[str, ...]],
                 content_policy: Mapping[str, tuple[str, ...]],
                 direct: Callable[[str, Mapping[str, Any] | None], Deployment], names: Names | None = None) -> None:
        self.groups = groups
        self.store = store
        self.rng = rng
        self.fallbacks = fallbacks
        self.context_window = context_window
        self.content_policy = content_policy
        self.direct = direct
        #: Groups and aliases: a fallback name resolves as ``model=`` does (None: groups only).
        self.names = names


class RouterSource:
    """One call's plan (see the module docstring). ``fallbacks`` and ``context_window`` are the
    call's own, as ``call_fallbacks`` checked them (None: the request's as given)."""

    __slots__ = ("_context", "_current", "_fallbacks", "_general", "_group", "_plan", "_request", "_visited")

    def __init__(self, plan: RouterPlan, request: Request, group: Group, *,
                 fallbacks: tuple[str | Mapping[str, Any], ...] | None = None,
                 context_window: Mapping[str, str] | None = None) -> None:
        self._plan = plan
        self._request = request
        self._group = group
        self._fallbacks = fallbacks if fallbacks is not None else request.fallbacks
        self._context = context_window if context_window is not None else request.context_window_fallback_dict
        self._current: GroupTarget | DirectTarget | None = None
        self._visited: set[str] = set()
        self._general: deque[Any] | None = None  # made on the first fallback: most calls never need it

    def next_target(self, call: CallView, error: RouterlibError | None) -> GroupTarget | DirectTarget | None:
        current = self._current
        if current is None:
            group = self._group
            self._visited.add(group.name)
            self._current = target = GroupTarget(group, self._plan.store, self._plan.rng)
            return target
        if error is None:
            return None
        if self._general is None:
            plan, name = self._plan, self._group.name
            self._general = deque(self._fallbacks if self._fallbacks is not None else (
                plan.fallbacks.get(name) or plan.fallbacks.get("*") or ()))
        for name in self._specific(current.name, error):
            if name not in self._visited:
                return self._open(name, "context_window" if _is_context(error) else "fallback")
        while self._general:
            entry = self._general.popleft()
            if _key(entry) not in self._visited:
                return self._open(entry, "fallback")
        return None

    def ended(self, call: CallView) -> None:
        """The call failed: give back a pick it never sent (a budget refusal or the deadline right
        after the pick; an attempt that was sent is reported by its own event)."""
        self._plan.store.release(call.call_id)

    def _specific(self, name: str, error: RouterlibError) -> list[str]:
        """The targets an error of this kind goes to first: the failed target's own list, then
        the primary group's (a context-window fallback that is still too small moves on down)."""
        if _is_context(error):
            mapping = self._plan.context_window
            mapped = (self._context or {}).get(name)
            first = [mapped] if mapped else []
        elif isinstance(error, ContentPolicyViolationError):
            mapping, first = self._plan.content_policy, []
        else:
            return []
        primary = self._group.name
        return [*first, *(mapping.get(name) or ()), *(mapping.get(primary) or mapping.get("*") or ())]

    def _open(self, entry: Any, kind: TargetKind) -> GroupTarget | DirectTarget:
        plan = self._plan
        name = _key(entry)
        if isinstance(entry, str) and plan.names is not None:
            name = plan.names.group(name) or name  # an alias reaches its group, as model= does
        self._visited.add(name)
        group = plan.groups.get(name) if isinstance(entry, str) else None
        target: GroupTarget | DirectTarget
        if group is not None:
            target = GroupTarget(group, plan.store, plan.rng, kind)
        elif isinstance(entry, str):
            target = DirectTarget(name, lambda: plan.direct(name, None), kind)
        else:
            target = DirectTarget(name, lambda: plan.direct(name, entry), kind)
        self._current = target
        return target


def _key(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping) and isinstance(entry.get("model"), str) and entry["model"]:
        return str(entry["model"])
    raise InvalidRequestError(f"fallbacks: each entry is a group or model name, or a dict with a 'model', "
                              f"got {type(entry).__name__}")


def _is_context(error: RouterlibError) -> bool:
    if isinstance(error, ContextWindowExceededError):
        return True
    return isinstance(error, NoDeploymentAvailableError) and error.code == "context_length_exceeded"


def call_fallbacks(request: Request, group: str, names: Names,
                   check_entry: Callable[[str, Mapping[str, Any]], str | None],
                   ) -> tuple[tuple[str | Mapping[str, Any], ...] | None, dict[str, str] | None]:
    """A call's own ``fallbacks=`` and ``context_window_fallback_dict``, checked and resolved now,
    before anything is sent (``InvalidRequestError`` otherwise): names through ``names`` (a group,
    an alias, or a model to call directly), model dicts through ``check_entry``. LiteLLM's Router
    shape ``[{"chat": ["backup"]}]`` gives the entry for ``group``, else for "*", else none."""
    fallbacks: tuple[str | Mapping[str, Any], ...] | None = None
    if request.fallbacks is not None:
        entries = _for_group(request.fallbacks, group, names, check_entry)
        fallbacks = tuple(_call_entry(e, f"fallbacks[{i}]", names, check_entry) for i, e in enumerate(entries))
    context: dict[str, str] | None = None
    if request.context_window_fallback_dict:
        context = {}
        for key, target in request.context_window_fallback_dict.items():
            resolved, problem = names.resolve(target)
            if problem is not None:
                raise InvalidRequestError(f"context_window_fallback_dict[{key!r}]: {problem}", code="invalid_request")
            context[names.group(key) or key] = resolved
    return fallbacks, context


def _for_group(value: Sequence[Any], group: str, names: Names,
               check_entry: Callable[[str, Mapping[str, Any]], str | None]) -> Sequence[Any]:
    """The list itself, or from LiteLLM's Router shape the list for ``group`` (else "*"); every
    list of that shape is checked, not only the one this call uses."""
    shaped = [e for e in value if isinstance(e, Mapping) and not isinstance(e.get("model"), str)]
    if not shaped:
        return value
    if len(shaped) != len(value):
        raise InvalidRequestError("fallbacks: mixes LiteLLM's Router shape {group: [fallback, ...]} with names or "
                                  "model dicts: use one shape", code="invalid_request")
    table: dict[str, Sequence[Any]] = {}
    for entry in shaped:
        for key, targets in entry.items():
            resolved = "*" if key == "*" else names.group(key) if isinstance(key, str) else None
            if resolved is None:
                raise InvalidRequestError(
                    f"fallbacks: {key!r} is not a group of this Router ({names.allowed()}; '*' means every group); "
                    f"an entry is a group or model name, a dict with a 'model' (and its own api_base, api_key), "
                    f"or LiteLLM's {{group: [fallback, ...]}}", code="invalid_request")
            if resolved in table:
                raise InvalidRequestError(f"fallbacks: {key!r} is given twice: give each group one list",
                                          code="invalid_request")
            targets = [targets] if isinstance(targets, str) else targets
            if not isinstance(targets, Sequence) or not all(isinstance(t, str) and t for t in targets):
                raise InvalidRequestError(f"fallbacks: {key!r} maps to {type(targets).__name__}: must be a list of "
                                          f"group or model names", code="invalid_request")
            for i, target in enumerate(targets):
                _call_entry(target, f"fallbacks[{key!r}][{i}]", names, check_entry)
            table[resolved] = targets
    return table.get(group, table.get("*", ()))


def _call_entry(entry: Any, where: str, names: Names,
                check_entry: Callable[[str, Mapping[str, Any]], str | None]) -> str | Mapping[str, Any]:
    """One per-call fallback: a name resolved to its group (or kept as a direct model), or a
    model dict whose keys and provider are checked (its key is looked up when it is tried)."""
    if isinstance(entry, str):
        resolved, problem = names.resolve(entry)
        if problem is not None:
            raise InvalidRequestError(f"{where}: {problem}", code="invalid_request")
        return resolved
    if not isinstance(entry, Mapping) or not isinstance(entry.get("model"), str) or not entry["model"]:
        raise InvalidRequestError(f"{where}: each entry is a group or model name, or a dict with a 'model', "
                                  f"got {type(entry).__name__}", code="invalid_request")
    unknown = sorted(str(k) for k in entry if k not in FALLBACK_KEYS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(FALLBACK_KEYS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidRequestError(f"{where}: unknown key {unknown[0]!r}{hint}; allowed: "
                                  f"{', '.join(sorted(FALLBACK_KEYS))}", code="invalid_request")
    problem = check_entry(entry["model"], entry)
    if problem is not None:
        raise InvalidRequestError(f"{where}: {entry['model']!r} cannot be called directly: {problem}",
                                  code="invalid_request")
    return entry
