"""Shared integration fixtures: llmock servers started once per session on free loopback ports.

``llmock`` is a running ``llmock serve`` (OpenAI, Anthropic and Gemini wire formats) whose
scenarios and journal are reset before each test that uses it; ``llmock_small`` is a second
one started with ``--context-window 200``, for context-window tests. ``llmock_with_window(n)``
returns, reset, an llmock started with ``--context-window n`` (one server per ``n`` for the
session), for prompts that must overflow a smaller window. All are stopped by their PID at the
end of the session (see ``servers.py``). These override llmock's own pytest plugin fixture of
the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from servers import Llmock
from servers import llmock as start_llmock


@pytest.fixture(scope="session")
def llmock_server() -> Iterator[Llmock]:
    with start_llmock() as server:
        yield server


@pytest.fixture(scope="session")
def llmock_small_server() -> Iterator[Llmock]:
    with start_llmock("--context-window", "200") as server:
        yield server


@pytest.fixture
def llmock(llmock_server: Llmock) -> Llmock:
    llmock_server.reset()
    return llmock_server


@pytest.fixture
def llmock_small(llmock_small_server: Llmock) -> Llmock:
    llmock_small_server.reset()
    return llmock_small_server


@pytest.fixture(scope="session")
def llmock_with_window() -> Iterator[Callable[[int], Llmock]]:
    with ExitStack() as stack:
        servers: dict[int, Llmock] = {}

        def reset_server(window: int) -> Llmock:
            if window not in servers:
                servers[window] = stack.enter_context(start_llmock("--context-window", str(window)))
            servers[window].reset()
            return servers[window]

        yield reset_server
