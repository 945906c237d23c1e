"""What the provider-adapter tests against llmock share: the prompt, a fast retry policy, a tool,
the ``client`` fixture, and the ``base``/``call`` helpers for one wire format (see ``provider``).

A test module takes the fixture by naming it at module level (``client = llmock_helpers.client``):
pytest finds fixtures among a module's attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers import Llmock

import routerlib
from routerlib import RetryPolicy

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, jitter=0.0)
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
def client() -> Iterator[routerlib.Client]:
    with routerlib.Client(policy=FAST, environ={}) as c:
        yield c


def provider(path: str, default_model: str) -> tuple[Callable[[Llmock], str], Callable[..., Any]]:
    """``base(server)``, the provider's API base on ``server`` (its root + ``path``), and
    ``call(client, server, model=default_model, messages=MESSAGES, **params)``, a completion there."""

    def base(server: Llmock) -> str:
        return server.root + path

    def call(client: routerlib.Client, server: Llmock, model: str = default_model, messages: Any = MESSAGES,
             **params: Any) -> Any:
        return client.completion(model, messages, api_base=base(server), api_key="x", **params)

    return base, call


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
