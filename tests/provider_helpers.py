"""Helpers shared by the provider tests.

``as_chat`` and ``as_stream`` narrow what ``completion()`` returned (a response or a stream) and
assert which one a test got, so mypy knows it too; ``fixture_loader`` reads the recorded payloads
under ``tests/fixtures/<provider>/``; ``feed_sse`` runs SSE lines through a provider's stream
parser as the engine does, and ``accumulate`` folds the chunks into the response the stream ends with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from routerlib.providers.base import StreamParser
from routerlib.streaming import Stream, StreamAccumulator, iter_sse
from routerlib.types import ChatCompletionChunk, ModelResponse

FIXTURES = Path(__file__).parent / "fixtures"


def as_chat(result: object) -> ModelResponse:
    """``result``, asserted to be a (non-streamed) ``ModelResponse``."""
    assert isinstance(result, ModelResponse)
    return result


def as_stream(result: object) -> Stream:
    """``result``, asserted to be a sync ``Stream``."""
    assert isinstance(result, Stream)
    return result


def fixture_loader(provider: str) -> Callable[[str], Any]:
    """``load(name)``: the JSON of ``tests/fixtures/<provider>/<name>``."""
    directory = FIXTURES / provider

    def load(name: str) -> Any:
        return json.loads((directory / name).read_text())

    return load


def accumulate(chunks: list[ChatCompletionChunk]) -> ModelResponse:
    """The response a stream of ``chunks`` adds up to."""
    acc = StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return as_chat(acc.response())


def feed_sse(parser: StreamParser, lines: list[bytes]) -> list[ChatCompletionChunk]:
    """The chunks ``parser`` makes of SSE ``lines``, split into events by ``iter_sse``."""
    chunks: list[ChatCompletionChunk] = []
    for event, data in iter_sse(iter(lines)):
        chunks += parser.feed(event, data)
    return chunks
