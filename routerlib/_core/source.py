"""The deployment-source seam: where a call's deployments come from, asked at every step.

The core never holds a fixed list of deployments. It asks its source for a *target* (one
step of the plan: a single deployment, or a router's group of them), asks the target to
*pick* a deployment for each attempt, and after a failure asks whether the target has an
*alternative* it could switch to at once::

    target = source.next_target(call, None)              # the first step of the plan
    while target:
        deployment = target.pick(call)                   # may raise NoDeploymentAvailableError
        ... attempt ...
        on failure, if the error falls back:
            target.alternative(call, deployment, error)  # True: switch now, no sleep
            else the retry policy: wait and pick again, or give up on the target:
        target = source.next_target(call, error)         # fallback (or the context-window map)

Today's primary + model_list + fallbacks + context_window_fallback_dict are one static
source (``routerlib.planning.StaticSource``); ``routerlib.Router`` is another, whose groups
pick afresh from their healthy deployments at every attempt. A source's health state is fed
by the same observer events tracers see (``routerlib.observe``): it steers, they watch.

Retry accounting: a *switch* to an untried sibling deployment of a group (an alternative)
does not consume the call's ``num_retries`` and never sleeps; a retry of a target (same
deployment, or a re-pick once every sibling was tried) does, with the policy's wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from .._embedding import Request
    from ..exceptions import RouterlibError
    from ..providers.base import Deployment
    from ..types import Attempt

TargetKind = Literal["primary", "deployment", "fallback", "context_window", "group"]


class CallView(Protocol):
    """What a source may read of the call in flight (never change)."""

    @property
    def call_id(self) -> str: ...

    @property
    def request(self) -> Request: ...

    @property
    def attempts(self) -> Sequence[Attempt]: ...

    @property
    def tried(self) -> frozenset[str]:
        """Ids of the deployments this call has already sent to (or skipped)."""
        ...

    def prompt_tokens(self, deployment: Deployment) -> int:
        """The request's prompt tokens for ``deployment``'s model (counted once per tokenizer)."""
        ...

    def output_tokens(self) -> int | None:
        """The most output the request may produce (max_completion_tokens/max_tokens x n)."""
        ...

    def seconds_left(self) -> float:
        """Time left before the call's deadline (inf without one)."""
        ...


class Target(Protocol):
    """One step of a call's plan."""

    #: The name the caller used for it (a model string, or a router group).
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> TargetKind: ...

    @property
    def cache_scope(self) -> bytes | None:
        """What the response cache keys this target's answers by when that is wider than the
        deployment that gave them (a Router group: any of its deployments answers it); None: the
        deployment."""
        ...

    def pick(self, call: CallView) -> Deployment:
        """The deployment for the next attempt. Raises a typed error when none can be had."""
        ...

    def alternative(self, call: CallView, failed: Deployment, error: RouterlibError) -> bool:
        """True if another deployment could take the call now (the next pick will be it)."""
        ...


class DeploymentSource(Protocol):
    """The plan of one call. Made per call by the runtime's source factory."""

    def next_target(self, call: CallView, error: RouterlibError | None) -> Target | None:
        """The next target after ``error`` gave up the previous one (None for the first), or
        None when the plan is exhausted. A ``ContextWindowExceededError`` (from the provider,
        or a pre-check skip) may map to a larger model first."""
        ...
