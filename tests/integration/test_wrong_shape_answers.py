"""Issue 10 item 21, for every adapter: a 2xx whose JSON has the wrong shape (a string where an object
belongs, a number where text belongs) is a typed, retryable APIResponseValidationError, never an
AttributeError or TypeError; in a stream after content, a StreamInterruptedError."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from recording_server import RecordingServer

import routerlib

MESSAGES = [{"role": "user", "content": "hi"}]
CASES = [
    ("gemini/gemini-2.5-flash", b'{"candidates": "x"}'),
    ("gemini/gemini-2.5-flash", b'{"candidates": [{"content": "x"}]}'),
    ("gemini/gemini-2.5-flash", b'{"candidates": [{"content": {"parts": [{"text": 5}]}}]}'),
    ("gemini/gemini-2.5-flash", b'{"candidates": [{"content": {"parts": [{"functionCall": "x"}]}}]}'),
    ("gemini/gemini-2.5-flash", b'{"promptFeedback": "x"}'),
    ("anthropic/claude-sonnet-4-5", b'{"content": [1]}'),
    ("anthropic/claude-sonnet-4-5", b'{"content": [{"type": "text", "text": 5}]}'),
]


@pytest.fixture
def body_server() -> Iterator[tuple[RecordingServer, list[bytes]]]:
    bodies: list[bytes] = []
    server = RecordingServer(lambda path, body: (200, "application/json", bodies[0]))
    yield server, bodies
    server.close()


@pytest.mark.parametrize(("model", "body"), CASES)
def test_a_wrong_shape_answer_is_a_typed_retryable_error(model: str, body: bytes,
                                                         body_server: tuple[RecordingServer, list[bytes]]) -> None:
    server, bodies = body_server
    bodies.append(body)
    base = server.url.removesuffix("/v1") + ("/v1beta" if model.startswith("gemini") else "")
    with pytest.raises(routerlib.APIResponseValidationError) as info:
        routerlib.Client(environ={}).completion(model, MESSAGES, api_base=base, api_key="k", num_retries=1,
                                                max_tokens=10)
    assert len(server.requests) == 2  # retried once, as an unreadable answer is
    assert "unexpected shape" in str(info.value)


def test_a_wrong_shape_stream_event_after_content_interrupts_the_stream(
        body_server: tuple[RecordingServer, list[bytes]]) -> None:
    server, bodies = body_server
    events = [{"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant",
                                                    "model": "claude", "content": [], "usage": {"input_tokens": 1}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
              {"type": "content_block_delta", "index": 0, "delta": "x"}]
    bodies.append(b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events))
    stream = routerlib.Client(environ={}).completion("anthropic/claude-sonnet-4-5", MESSAGES,
                                                     api_base=server.url.removesuffix("/v1"), api_key="k",
                                                     stream=True, max_tokens=10)
    with pytest.raises(routerlib.StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial_text == "Hi"
