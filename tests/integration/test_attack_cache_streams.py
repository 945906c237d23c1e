"""Attack pass: with n=2 the choices of a stream finish one by one; a body cut off after choice 0 finished
left choice 1 mid-sentence, and the stream was judged complete (``done or finish_reasons``: one finish
reason sufficed). The caller got no error, and the truncated answer was cached and replayed to the next
identical call. Now it is interrupted (``StreamInterruptedError``, as a single choice without its finish
is) and never stored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from recording_server import RecordingServer

import routerlib
from routerlib.cache import MemoryCache

KEY = "sk-stream-n2-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "q"}]


def _chunk(index: int, content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": index, "delta": {} if content is None else {"content": content},
                         "finish_reason": finish}]}


CUT_OFF = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in (
    _chunk(0, "The answer is 42."), _chunk(1, "The answer is"), _chunk(0, None, "stop")))  # no [DONE]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    server = RecordingServer(lambda path, body: (200, "text/event-stream", CUT_OFF))
    try:
        yield server
    finally:
        server.close()


def test_a_two_choice_stream_cut_off_midway_is_interrupted_and_not_stored(server: RecordingServer) -> None:
    cache = MemoryCache()
    client = routerlib.Client(cache=cache)
    for _ in range(2):
        stream = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key=KEY, n=2,
                                   stream=True, num_retries=0)
        with pytest.raises(routerlib.StreamInterruptedError) as raised:
            list(stream)
        assert raised.value.partial_text == "The answer is 42."
    assert len(cache) == 0 and len(server.requests) == 2  # nothing stored: the second call was sent


def test_a_two_choice_stream_cut_off_midway_is_interrupted_and_not_stored_async(server: RecordingServer) -> None:
    cache = MemoryCache()
    client = routerlib.Client(cache=cache)

    async def main() -> None:
        for _ in range(2):
            stream = await client.acompletion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key=KEY,
                                              n=2, stream=True, num_retries=0)
            with pytest.raises(routerlib.StreamInterruptedError):
                _ = [chunk async for chunk in stream]

    asyncio.run(main())
    assert len(cache) == 0 and len(server.requests) == 2
