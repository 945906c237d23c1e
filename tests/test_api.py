"""routerlib._api: the module-level calls are thin shells over one default client and change no global state."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest
from core_helpers import MESSAGES, MODEL, never_called

import routerlib
from routerlib import _api
from routerlib import exceptions as ex
from routerlib.transport import AsyncMockTransport, MockTransport


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> routerlib.Client:
    """The default client with transports that fail if called (mock_response must not send)."""
    client = routerlib.default_client()
    monkeypatch.setattr(client, "_transport", MockTransport(never_called))
    monkeypatch.setattr(client, "_async_transport", AsyncMockTransport(never_called))
    return client


def every_call() -> list[Any]:
    async def both() -> list[Any]:
        return [await routerlib.acompletion(MODEL, MESSAGES, mock_response="a b"),
                await routerlib.atext_completion("openai/gpt-3.5-turbo-instruct", "x", mock_response="a b")]

    results = [routerlib.completion(MODEL, MESSAGES, mock_response="a b"),
               routerlib.text_completion("openai/gpt-3.5-turbo-instruct", "x", mock_response="a b")]
    stream = routerlib.completion(MODEL, MESSAGES, mock_response="a b", stream=True)
    assert isinstance(stream, routerlib.Stream)
    list(stream)
    return results + asyncio.run(both())


def routerlib_state() -> dict[str, dict[str, int]]:
    return {name: {k: id(v) for k, v in vars(module).items()}
            for name, module in list(sys.modules.items()) if name.split(".")[0] == "routerlib"}


def test_one_default_client() -> None:
    assert routerlib.default_client() is routerlib.default_client()
    assert isinstance(routerlib.default_client(), routerlib.Client)


def test_module_calls_use_the_default_client(offline: routerlib.Client) -> None:
    sync_chat, sync_text, async_chat, async_text = every_call()
    assert routerlib.default_client() is offline
    assert sync_chat.choices[0].message.content == async_chat.choices[0].message.content == "a b"
    assert sync_text.choices[0].text == async_text.choices[0].text == "a b"
    assert sync_chat.usage == async_chat.usage and sync_chat.usage.estimated
    assert sync_chat.cost == async_chat.cost and sync_chat.cost is not None
    assert [a.outcome for a in sync_chat.attempts] == [a.outcome for a in async_chat.attempts] == ["ok"]


def test_calls_change_no_module_attribute_and_no_environment(offline: routerlib.Client) -> None:
    every_call()  # warm up: lazy imports bind submodules on first use, once
    before, environ = routerlib_state(), dict(os.environ)
    default = _api._default
    every_call()
    with pytest.raises(ex.InvalidRequestError):
        routerlib.completion(MODEL, MESSAGES, temperature=9)
    assert routerlib_state() == before
    assert dict(os.environ) == environ
    assert _api._default is default


def test_per_call_options_do_not_leak_into_the_next_call(offline: routerlib.Client) -> None:
    policy = offline.policy
    timeout = offline.timeout
    routerlib.completion(MODEL, MESSAGES, mock_response="x", num_retries=0, timeout=3, api_key="sk-one-off")
    assert offline.policy is policy
    assert offline.timeout == timeout


def test_missing_key_at_module_level_names_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                        offline: routerlib.Client) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ex.MissingAPIKeyError, match="OPENAI_API_KEY"):
        routerlib.completion(MODEL, MESSAGES)


def test_module_functions_mirror_the_client_methods() -> None:
    import inspect

    for name in ("completion", "acompletion", "text_completion", "atext_completion", "embedding", "aembedding"):
        function = getattr(routerlib, name)
        method = getattr(routerlib.Client, name)
        assert list(inspect.signature(function).parameters) == list(inspect.signature(method).parameters)[1:]
        assert inspect.iscoroutinefunction(function) == inspect.iscoroutinefunction(method)


def test_module_embedding_calls_use_the_default_client(offline: routerlib.Client) -> None:
    sync = routerlib.embedding("openai/text-embedding-3-small", ["a", "b"], mock_response=[0.5])
    other = asyncio.run(routerlib.aembedding("openai/text-embedding-3-small", ["a", "b"], mock_response=[0.5]))
    assert isinstance(sync, routerlib.EmbeddingResponse) and isinstance(other, routerlib.EmbeddingResponse)
    assert [d.embedding for d in sync.data] == [d.embedding for d in other.data] == [[0.5], [0.5]]
    assert sync.usage == other.usage and sync.cost == other.cost and sync.cost is not None
