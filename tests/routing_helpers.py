"""Shared fakes for the routing tests: members, a snapshot, a call view, a fake clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from routerlib._core.accounting import Accounting
from routerlib._request import build_request
from routerlib.providers.base import Deployment, ProviderSpec
from routerlib.providers.openai_compat import OpenAICompatAdapter
from routerlib.request import ChatRequest
from routerlib.routing.members import Member

SPEC = ProviderSpec(name="openai", adapter=OpenAICompatAdapter(), api_base="http://127.0.0.1:9/v1")
MESSAGES = [{"role": "user", "content": "hello"}]


def member(index: int, ident: str | None = None, group: str = "chat", **fields: Any) -> Member:
    ident = ident or f"d{index}"
    deployment = Deployment(spec=SPEC, model="gpt-4o-mini", api_base=f"http://127.0.0.1:9/{ident}",
                            api_key="sk-x", id=ident)
    return Member(index=index, group=group, deployment=deployment, **fields)


def members(n: int, **fields: Any) -> list[Member]:
    return [member(i, **fields) for i in range(n)]


@dataclass
class FakeSnapshot:
    """Per-index values for strategies, defaulting to an idle, unknown deployment."""

    flight: dict[int, int] = field(default_factory=dict)
    lat: dict[int, float] = field(default_factory=dict)
    ttft: dict[int, float] = field(default_factory=dict)
    used: dict[int, tuple[int, int]] = field(default_factory=dict)
    reopen: dict[int, float] = field(default_factory=dict)
    out: dict[int, float] = field(default_factory=dict)

    def in_flight(self, index: int) -> int:
        return self.flight.get(index, 0)

    def in_flights(self, pool: Any) -> list[int]:
        return [self.in_flight(m.index) for m in pool.members]

    def latency(self, index: int, stream: bool) -> float | None:
        return (self.ttft if stream else self.lat).get(index)

    def usage(self, index: int) -> tuple[int, int]:
        return self.used.get(index, (0, 0))

    def usage_shares(self, pool: Any) -> list[float]:
        """As the stores compute it: the larger of requests/rpm and tokens/tpm, 0 with no limit."""
        shares = []
        for m in pool.members:
            requests, tokens = self.usage(m.index)
            shares.append(max(requests / m.rpm if m.rpm else 0.0, tokens / m.tpm if m.tpm else 0.0))
        return shares

    def reopens_in(self, index: int) -> float:
        return self.reopen.get(index, 0.0)

    def mean_output(self, index: int) -> float | None:
        return self.out.get(index)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def request(**params: Any) -> ChatRequest:
    params.setdefault("model", "chat")
    params.setdefault("messages", MESSAGES)
    return build_request(params)


@dataclass
class FakeCall:
    """A ``CallView`` over a request, with the tried set and the prompt count a test sets."""

    request: ChatRequest
    tried: frozenset[str] = frozenset()
    call_id: str = "call-1"
    attempts: Sequence[Any] = ()
    prompt: int = 10
    left: float = math.inf

    def prompt_tokens(self, deployment: Deployment) -> int:
        return self.prompt

    def output_tokens(self) -> int | None:
        return Accounting.output_tokens(self.request)

    def seconds_left(self) -> float:
        return self.left
