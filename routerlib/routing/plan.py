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

No target is visited twice in a call. A fallback that names a group routes inside that group
like the primary; one that names a model ("openai/gpt-4o", or a per-call dict entry with its
own api_base and key) is called directly, with its own credentials: nothing is inherited from
the group, so a key never crosses providers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from random import Random
from typing import TYPE_CHECKING, Any

from ..exceptions import (
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InvalidRequestError,
    NoDeploymentAvailableError,
    RouterlibError,
)
from .group import Group, GroupTarget

if TYPE_CHECKING:
    from .._core.source import CallView, TargetKind
    from ..providers.base import Deployment
    from ..request import Request
    from .health import HealthStore

__all__ = [
    "DirectTarget",
    "RouterPlan",
    "RouterSource",
]


class DirectTarget:
    """A fallback that names a model rather than a group: one deployment, resolved on first pick."""

    __slots__ = ("_deployment", "_resolve", "kind", "last", "name")
    honours_preference = True

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
                 direct: Callable[[str, Mapping[str, Any] | None], Deployment]) -> None:
        self.groups = groups
        self.store = store
        self.rng = rng
        self.fallbacks = fallbacks
        self.context_window = context_window
        self.content_policy = content_policy
        self.direct = direct


class RouterSource:
    """One call's plan (see the module docstring)."""

    __slots__ = ("_current", "_general", "_group", "_plan", "_request", "_visited")

    def __init__(self, plan: RouterPlan, request: Request, group: Group) -> None:
        self._plan = plan
        self._request = request
        self._group = group
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
            request, plan, name = self._request, self._plan, self._group.name
            self._general = deque(request.fallbacks if request.fallbacks is not None else (
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
            mapped = (self._request.context_window_fallback_dict or {}).get(name)
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
