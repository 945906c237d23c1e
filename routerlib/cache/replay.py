"""A cached answer replayed as stream chunks, as the provider would have streamed it.

Chat answers become ``ChatCompletionChunk`` objects in OpenAI's order: per choice, a role
delta, the content word by word, any refusal, the tool calls (one delta each, complete), and
a finish chunk; then, when the caller asked for usage (``stream_options={"include_usage":
True}``), a usage-only chunk. Text completions become ``TextCompletion`` chunks. Joined, the
chunks give back exactly the stored text (a test checks it), so a stream hit reads the same
as the original stream.

The chunks are built with the models' own constructors, whose validation (in Rust) costs less
than ``model_construct`` (which deep-copies every default in Python): a few µs per chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..types import (
    ChatCompletionChunk,
    ChatCompletionMessageToolCall,
    Choice,
    ChoiceDelta,
    Function,
    ModelResponse,
    StreamChoice,
    TextChoice,
    TextCompletion,
    Usage,
)

__all__ = ["replay_chunks"]

#: A word with the whitespace before it, or trailing whitespace: pieces that join back exactly.
_PIECES = re.compile(r"\s*\S+|\s+$")


def _pieces(text: str) -> list[str]:
    return _PIECES.findall(text) or [text]


def replay_chunks(response: ModelResponse | TextCompletion, *, include_usage: bool
                  ) -> Iterator[ChatCompletionChunk | TextCompletion]:
    """The chunks a stream of ``response`` would have carried (see the module docstring)."""
    if isinstance(response, TextCompletion):
        yield from _text_chunks(response)
    else:
        for choice in response.choices:
            yield from _chat_choice_chunks(response, choice)
    if include_usage and response.usage is not None:
        yield _usage_chunk(response, response.usage)


def _chunk(response: ModelResponse, index: int, delta: ChoiceDelta, finish: str | None = None
           ) -> ChatCompletionChunk:
    choice = StreamChoice(index=index, delta=delta, finish_reason=finish, logprobs=None)
    return ChatCompletionChunk(
        id=response.id, object="chat.completion.chunk", created=response.created, model=response.model,
        choices=[choice], usage=None, system_fingerprint=response.system_fingerprint)


def _chat_choice_chunks(response: ModelResponse, choice: Choice) -> Iterator[ChatCompletionChunk]:
    message, index = choice.message, choice.index
    yield _chunk(response, index, ChoiceDelta(role=message.role, content=""))
    if message.content:
        for piece in _pieces(message.content):
            yield _chunk(response, index, ChoiceDelta(content=piece))
    if message.refusal:
        yield _chunk(response, index, ChoiceDelta(refusal=message.refusal))
    for position, call in enumerate(message.tool_calls or ()):
        delta_call = ChatCompletionMessageToolCall(
            id=call.id, type=call.type, index=position,
            function=Function(name=call.function.name, arguments=call.function.arguments))
        yield _chunk(response, index, ChoiceDelta(tool_calls=[delta_call]))
    yield _chunk(response, index, ChoiceDelta(), choice.finish_reason or "stop")


def _text_chunks(response: TextCompletion) -> Iterator[TextCompletion]:
    for choice in response.choices:
        for piece in _pieces(choice.text) if choice.text else ():
            yield _text_chunk(response, TextChoice(index=choice.index, text=piece))
        yield _text_chunk(response, TextChoice(
            index=choice.index, text="", finish_reason=choice.finish_reason or "stop"))


def _text_chunk(response: TextCompletion, choice: TextChoice) -> TextCompletion:
    return TextCompletion(id=response.id, object="text_completion", created=response.created,
                                          model=response.model, choices=[choice], usage=None,
                                          system_fingerprint=response.system_fingerprint)


def _usage_chunk(response: ModelResponse | TextCompletion, usage: Usage) -> ChatCompletionChunk | TextCompletion:
    if isinstance(response, TextCompletion):
        return TextCompletion(id=response.id, object="text_completion", created=response.created,
                                              model=response.model, choices=[], usage=usage,
                                              system_fingerprint=response.system_fingerprint)
    return ChatCompletionChunk(
        id=response.id, object="chat.completion.chunk", created=response.created, model=response.model,
        choices=[], usage=usage, system_fingerprint=response.system_fingerprint)
