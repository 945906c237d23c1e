"""Attack pass: a server that echoes the caller's credentials must not get them stored in a shared cache.

Before the fix only the raw api_key and bearer token were searched for in an answer, so a key echoed
base64- or URL-encoded, or a credential sent in a header (x-api-key...), was stored in the SQLite file and
replayed to the next caller of the same prompt, even one holding another (or a revoked) key.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from recording_server import RecordingServer

import routerlib
from routerlib.cache import SQLiteCache

KEY = "sk-live-SECRET-0123456789abcdef/+"
HEADER = "hdr-SECRET-0123456789abcdef"


def _echo(sent: dict[str, str], body: dict[str, Any]) -> tuple[int, str, bytes]:
    """Answers with the credential the prompt names, in the form it names, from the request's headers."""
    mode = body["messages"][0]["content"]
    token = sent.get("authorization", "").split()[-1]
    text = {"raw-key": f"your key: {sent.get('authorization', '')}",
            "b64-key": base64.b64encode(token.encode()).decode(),
            "urlenc-key": "k=" + quote(token, safe=""),
            "hdr-key": f"you sent {sent.get('x-api-key', '')}",
            "plain": "nothing secret here"}[mode]
    return 200, "application/json", json.dumps({
        "id": "c", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}).encode()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    def respond(path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        return _echo(server.last["headers"], body)  # recorded just before the responder runs

    server = RecordingServer(respond)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("mode", ["raw-key", "b64-key", "urlenc-key", "hdr-key"])
def test_an_echoed_credential_in_any_form_is_never_stored_nor_replayed(mode: str, server: RecordingServer,
                                                                       tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    client = routerlib.Client(cache=SQLiteCache(path))
    messages = [{"role": "user", "content": mode}]
    first = client.completion("openai/gpt-4o-mini", messages, api_base=server.url, api_key=KEY,
                              headers={"x-api-key": HEADER})
    assert first.choices[0].message.content != "nothing secret here"  # the server did echo it
    other = client.completion("openai/gpt-4o-mini", messages, api_base=server.url, api_key="sk-another-000000000000",
                              headers={"x-api-key": "another-header-0000000000"})
    assert not other.cache_hit and len(server.requests) == 2
    rows = sqlite3.connect(path).execute("SELECT value FROM routerlib_cache_v1").fetchall()
    stored = b"".join(bytes(v) for (v,) in rows)
    for secret in (KEY, HEADER):
        for form in (secret, base64.b64encode(secret.encode()).decode(), quote(secret, safe="")):
            assert form.encode() not in stored


def test_an_answer_without_credentials_is_still_stored(server: RecordingServer, tmp_path: Path) -> None:
    client = routerlib.Client(cache=SQLiteCache(tmp_path / "cache.db"))
    messages = [{"role": "user", "content": "plain"}]
    client.completion("openai/gpt-4o-mini", messages, api_base=server.url, api_key=KEY, headers={"x-api-key": HEADER})
    assert client.completion("openai/gpt-4o-mini", messages, api_base=server.url, api_key=KEY,
                             headers={"x-api-key": HEADER}).cache_hit
