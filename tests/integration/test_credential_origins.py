"""Issue 10 item 11: a same-provider fallback with its own api_base inherits the primary's key and
headers only when it points at the same scheme, host and port (two real loopback servers)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from recording_server import RecordingServer

import routerlib

KEY = "sk-primary-SECRET-1234567890"
ANSWER = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _failing(path: str, body: dict[str, object]) -> tuple[int, str, bytes]:
    return 503, "application/json", b'{"error": {"message": "down"}}'


def _answering(path: str, body: dict[str, object]) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(ANSWER).encode()


@pytest.fixture
def servers() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    primary, other = RecordingServer(_failing), RecordingServer(_answering)
    yield primary, other
    primary.close()
    other.close()


def test_a_fallback_on_another_origin_gets_neither_key_nor_headers(servers: tuple[RecordingServer, ...]) -> None:
    primary, other = servers
    client = routerlib.Client(environ={})  # no OPENAI_API_KEY to fall back on
    with pytest.raises(routerlib.MissingAPIKeyError):
        client.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], api_base=primary.url,
                          api_key=KEY, headers={"OpenAI-Organization": "org-secret"}, num_retries=0,
                          fallbacks=[{"model": "openai/gpt-4o", "api_base": other.url}])
    assert len(primary.requests) == 1 and other.requests == []


def test_the_fallback_uses_its_own_key_or_environment_on_another_origin(servers: tuple[RecordingServer, ...]) -> None:
    primary, other = servers
    client = routerlib.Client(environ={"OPENAI_API_KEY": "sk-from-env"})
    client.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], api_base=primary.url,
                      api_key=KEY, headers={"OpenAI-Organization": "org-secret"}, num_retries=0,
                      fallbacks=[{"model": "openai/gpt-4o", "api_base": other.url}])
    sent = other.last["headers"]
    assert sent["authorization"] == "Bearer sk-from-env"
    assert "openai-organization" not in sent
    assert KEY not in json.dumps(other.requests, default=str)


def test_the_same_origin_still_inherits(servers: tuple[RecordingServer, ...]) -> None:
    primary, _ = servers
    # Same scheme, host and port as the primary's base: another path on the same server.
    base = primary.url.rsplit("/", 1)[0] + "/other/v1"
    client = routerlib.Client(environ={})
    with pytest.raises(routerlib.ServiceUnavailableError):
        client.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], api_base=primary.url,
                          api_key=KEY, num_retries=0, fallbacks=[{"model": "openai/gpt-4o", "api_base": base}])
    assert [r["headers"]["authorization"] for r in primary.requests] == [f"Bearer {KEY}"] * 2
