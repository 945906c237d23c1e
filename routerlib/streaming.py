"""Streaming: SSE decoding, chunk accumulation, and the stream objects callers iterate.

::

    transport lines --iter_sse--> (event, data) --adapter StreamParser--> chunks
        chunks --StreamAccumulator--> response, usage (assembled once, as chunks pass)
        end of body --> complete (end marker or finish reason seen) --> priced, recorded
                    --> otherwise StreamInterruptedError(partial_text, usage, cost)

The reliability policy opens a stream and reads it up to its first content chunk while it
can still retry or fall back; ``Stream`` then hands the caller the chunks read so far and
the rest as they arrive. Usage is always asked of the provider; the usage-only chunk is
forwarded only if the caller asked for it. Closing a stream early releases its connection
and still prices what arrived.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .exceptions import APIError, StreamInterruptedError
from .providers._errors import SHAPE_ERRORS, wrong_shape
from .types import (
    Attempt,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    Choice,
    Function,
    ModelResponse,
    TextChoice,
    TextCompletion,
    Usage,
)

if TYPE_CHECKING:
    from .providers.base import StreamParser
    from .transport import AsyncStreamResponse, StreamResponse
    from .types import Cost

__all__ = [
    "AsyncStream",
    "ChatToTextParser",
    "Ending",
    "SSEDecoder",
    "Stream",
    "StreamAccumulator",
    "aiter_sse",
    "iter_sse",
]

Event = tuple["str | None", bytes]


class SSEDecoder:
    """The line rules of server-sent events, shared by the sync and async readers.

    ``feed`` takes one line (without its line ending: the transports end a line at CRLF, LF
    or a lone CR, as SSE says, and cap its length) and returns an event when a blank line
    completes one: (event name or None, data lines joined by newlines). Comments (":...") and
    fields routerlib does not use (id:, retry:) are ignored, as SSE says. An event name that
    is not UTF-8 is decoded with replacement characters rather than raising.
    """

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, line: bytes) -> Event | None:
        if line.startswith(b"data:"):
            self._data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif not line:
            return self.flush()
        elif line.startswith(b"event:"):
            self._event = line[6:].strip().decode(errors="replace")
        return None

    def flush(self) -> Event | None:
        """The pending event, if any (also called at the end of the body)."""
        data, event = self._data, self._event
        self._event = None
        if not data:
            return None
        self._data = []
        return event, data[0] if len(data) == 1 else b"\n".join(data)


def iter_sse(lines: Iterator[bytes]) -> Iterator[Event]:
    """Server-sent events from body lines."""
    decoder = SSEDecoder()
    feed = decoder.feed
    for line in lines:
        if (event := feed(line)) is not None:
            yield event
    if (event := decoder.flush()) is not None:
        yield event


async def aiter_sse(lines: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """The async twin of ``iter_sse``."""
    decoder = SSEDecoder()
    feed = decoder.feed
    async for line in lines:
        if (event := feed(line)) is not None:
            yield event
    if (event := decoder.flush()) is not None:
        yield event


class ChatToTextParser:
    """A chat stream read for a text_completion() call: each chat chunk as a text chunk.

    Used when a text_completion() goes to a chat-only provider (Anthropic, Gemini, ...), so the
    caller gets the same chunk type as from an OpenAI-compatible /completions stream.
    """

    def __init__(self, inner: StreamParser) -> None:
        self._inner = inner

    @property
    def done(self) -> bool:
        return self._inner.done

    def feed(self, event: str | None, data: bytes) -> list[Any]:
        return [_as_text_chunk(chunk) for chunk in self._inner.feed(event, data)]


def _as_text_chunk(chunk: ChatCompletionChunk) -> TextCompletion:
    choices = [TextChoice(index=c.index, text=c.delta.content or "", finish_reason=c.finish_reason)
               for c in chunk.choices]
    return TextCompletion(id=chunk.id, created=chunk.created, model=chunk.model, choices=choices,
                          usage=chunk.usage)


class StreamAccumulator:
    """Builds the final response from chunks as they pass (no second scan at the end)."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.system_fingerprint: str | None = None
        self.usage: Usage | None = None
        self.finish_reasons: dict[int, str] = {}
        self._roles: dict[int, str] = {}
        self._text: dict[int, list[str]] = {}
        self._tools: dict[int, dict[int, dict[str, Any]]] = {}
        self.has_content = False
        #: True for a /completions stream, whose chunks are ``TextCompletion`` objects.
        self.text_completion = False

    def add(self, chunk: ChatCompletionChunk | TextCompletion) -> bool:
        """Fold one chunk in; True if it carried content (text, tool call or refusal)."""
        if not self.id:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.system_fingerprint:
            self.system_fingerprint = chunk.system_fingerprint
        if isinstance(chunk, TextCompletion):
            return self._add_text_choices(chunk.choices)
        content = False
        for choice in chunk.choices:
            delta = choice.delta
            index = choice.index
            if delta.role:
                self._roles[index] = delta.role
            if delta.content:
                self._text.setdefault(index, []).append(delta.content)
                content = True
            if delta.tool_calls:
                self._add_tool_calls(index, delta.tool_calls)
                content = True
            if delta.refusal:
                content = True
            if choice.finish_reason:
                self.finish_reasons[index] = choice.finish_reason
        if content:
            self.has_content = True
        return content

    def _add_text_choices(self, choices: list[TextChoice]) -> bool:
        """A /completions chunk: choices carry ``text`` rather than a ``delta``."""
        self.text_completion = True
        content = False
        for choice in choices:
            if choice.text:
                self._text.setdefault(choice.index, []).append(choice.text)
                content = True
            if choice.finish_reason:
                self.finish_reasons[choice.index] = choice.finish_reason
        if content:
            self.has_content = True
        return content

    def _add_tool_calls(self, index: int, calls: list[ChatCompletionMessageToolCall]) -> None:
        slots = self._tools.setdefault(index, {})
        for position, call in enumerate(calls):
            slot = slots.setdefault(call.index if call.index is not None else position,
                                    {"id": None, "name": "", "arguments": []})
            slot["id"] = slot["id"] or call.id
            if call.function.name:
                slot["name"] += call.function.name
            slot["arguments"].append(call.function.arguments)

    @property
    def cut_short(self) -> bool:
        """True when some choice finished and another that started did not: with ``n`` > 1 the
        choices end one by one, so one finish reason does not make the answer complete (a body
        that breaks off after choice 0 finished leaves choice 1 mid-sentence)."""
        if not self.finish_reasons:
            return False
        started = self._roles.keys() | self._text.keys() | self._tools.keys()
        return not started <= self.finish_reasons.keys()

    @property
    def text(self) -> str:
        """The text of the first choice so far."""
        return "".join(self._text.get(0, ()))

    def response(self) -> ModelResponse | TextCompletion:
        if self.text_completion:
            return self._text_response()
        choices = []
        for index in sorted(self._roles.keys() | self._text.keys() | self._tools.keys()
                            | self.finish_reasons.keys()) or [0]:
            tools = self._tools.get(index)
            tool_calls = [ChatCompletionMessageToolCall(
                id=slot["id"], function=Function(name=slot["name"], arguments="".join(slot["arguments"])))
                for _, slot in sorted(tools.items())] if tools else None
            text = self._text.get(index)
            message = ChatCompletionMessage(role=self._roles.get(index, "assistant"),
                                            content="".join(text) if text else None, tool_calls=tool_calls)
            choices.append(Choice(index=index, message=message,
                                  finish_reason=self.finish_reasons.get(index)))
        return ModelResponse(id=self.id or "stream", created=self.created or int(time.time()),
                             model=self.model, choices=choices, usage=self.usage,
                             system_fingerprint=self.system_fingerprint)

    def _text_response(self) -> TextCompletion:
        choices = [TextChoice(index=index, text="".join(self._text.get(index, ())),
                              finish_reason=self.finish_reasons.get(index))
                   for index in sorted(self._text.keys() | self.finish_reasons.keys()) or [0]]
        return TextCompletion(id=self.id or "stream", created=self.created or int(time.time()),
                              model=self.model, choices=choices, usage=self.usage,
                              system_fingerprint=self.system_fingerprint)


class Ending(Protocol):
    """What a stream reports to when it ends (the core's ``StreamEnding``)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def attempts(self) -> list[Attempt]: ...

    def conclude(self, acc: StreamAccumulator, done: bool, error: APIError | None, closing: bool
                 ) -> tuple[ModelResponse | TextCompletion | None, Cost | None, APIError | None]: ...

    def settle(self) -> None: ...

    async def asettle(self) -> None: ...

    def abandon(self) -> None:
        """The stream was garbage-collected without being read or closed: release what it held."""
        ...


class _StreamBase:
    """The non-I/O half of a stream: chunk bookkeeping and the end-of-stream decision."""

    def __init__(self, parser: StreamParser, acc: StreamAccumulator, buffered: list[ChatCompletionChunk],
                 ending: Ending, *, forward_usage: bool) -> None:
        self.provider = ending.provider
        self.model: str | None = ending.model
        self._ending = ending
        self._parser = parser
        self._acc = acc
        self._buffered = buffered
        self._forward_usage = forward_usage
        self._ended = False
        self._closing = False
        self.response: ModelResponse | TextCompletion | None = None
        self.cost: Cost | None = None
        # A stream dropped unread (never iterated, never closed) still gives back its budget hold
        # and its connection when it is collected; the finalizer holds no reference to the stream.
        self._finalizer = weakref.finalize(self, ending.abandon)

    @property
    def usage(self) -> Usage | None:
        return self.response.usage if self.response is not None else self._acc.usage

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return tuple(self._ending.attempts)

    def _forward(self, chunk: ChatCompletionChunk) -> bool:
        """Whether the caller sees this chunk (usage-only chunks only if they asked)."""
        return bool(chunk.choices) or self._forward_usage

    def _usage_chunk(self) -> Any:
        """A final usage-only chunk carrying the locally counted (estimated) usage."""
        acc = self._acc
        kind = TextCompletion if acc.text_completion else ChatCompletionChunk
        return kind(id=acc.id or "stream", created=acc.created or int(time.time()), model=acc.model,
                    choices=[], usage=self.usage)

    def _conclude(self, error: APIError | None) -> APIError | None:
        """Settle the stream once (complete, interrupted, or closed): the error to raise, if any."""
        self._ended = True
        self._finalizer.detach()
        self.response, self.cost, error = self._ending.conclude(self._acc, self._parser.done, error, self._closing)
        return error

    def _wrong_shape(self, exc: BaseException) -> APIError:
        return wrong_shape(exc, b"", provider=self.provider, model=self.model or "")

    def _interrupted(self, exc: APIError) -> StreamInterruptedError:
        """A failure after content reached the caller: always a StreamInterruptedError."""
        if exc.provider is None:
            exc.provider, exc.model = self.provider, self.model
        if isinstance(exc, StreamInterruptedError):
            return exc
        err = StreamInterruptedError(f"the stream broke off: {exc.message}", partial_text=self._acc.text,
                                     status_code=exc.status_code, provider=exc.provider, model=exc.model,
                                     code=exc.code, request_id=exc.request_id)
        err.__cause__ = exc
        return err


class Stream(_StreamBase):
    """An iterator of ``ChatCompletionChunk``; after the end, ``response``, ``usage``, ``cost``."""

    def __init__(self, http: StreamResponse, events: Iterator[Event], parser: StreamParser,
                 acc: StreamAccumulator, buffered: list[ChatCompletionChunk], ending: Ending,
                 **kwargs: Any) -> None:
        super().__init__(parser, acc, buffered, ending, **kwargs)
        self._http = http
        self._events = events

    #: The iterator ``next(stream)`` reads (held, so that a later ``for`` loop goes on from there).
    _chunks: Iterator[ChatCompletionChunk] | None = None
    #: The iterator a ``for`` loop is reading, held weakly: a loop left by ``break`` drops it,
    #: which closes the stream (the connection is released, what arrived is priced and recorded).
    _loop: weakref.ref[Iterator[ChatCompletionChunk]] | None = None

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        chunks = self._chunks or (self._loop() if self._loop is not None else None)
        if chunks is None:
            chunks = self._iterate()
            self._loop = weakref.ref(chunks)
        return chunks

    def __next__(self) -> ChatCompletionChunk:
        """``next(stream)``, as on LiteLLM's and OpenAI's streams; a ``for`` loop goes on after it."""
        if self._chunks is None:
            self._chunks = iter(self)
        return next(self._chunks)

    def _iterate(self) -> Iterator[ChatCompletionChunk]:
        finished = False
        try:
            for chunk in self._buffered:
                if self._forward(chunk):
                    yield chunk
            self._buffered = []
            add, feed = self._acc.add, self._parser.feed
            for event, data in self._events:
                for chunk in feed(event, data):
                    add(chunk)
                    if chunk.choices or self._forward_usage:
                        yield chunk
            finished = True
        except APIError as exc:
            self._http.close()
            self._end(self._interrupted(exc))
        except SHAPE_ERRORS as exc:  # a chunk of the wrong shape: typed, like any malformed chunk
            self._http.close()
            self._end(self._interrupted(self._wrong_shape(exc)))
        finally:
            if not finished and not self._ended:
                self.close()  # the caller stopped reading (break): release and record what arrived
        if finished:
            self._http.close()
            counted = self._acc.usage is None
            self._end(None)
            if counted and self._forward_usage and self.usage is not None:
                yield self._usage_chunk()  # the caller asked for usage; the provider sent none

    def _end(self, error: APIError | None) -> None:
        if self._ended:
            return
        error = self._conclude(error)
        self._ending.settle()
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop reading: the connection is released, and what arrived is priced and recorded."""
        self._http.close()
        if not self._ended:
            self._closing = True
            self._end(None)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(_StreamBase):
    """The async twin of ``Stream``: ``async for chunk in stream``."""

    def __init__(self, http: AsyncStreamResponse, events: AsyncIterator[Event], parser: StreamParser,
                 acc: StreamAccumulator, buffered: list[ChatCompletionChunk], ending: Ending,
                 **kwargs: Any) -> None:
        super().__init__(parser, acc, buffered, ending, **kwargs)
        self._http = http
        self._events = events

    #: As on ``Stream``: the iterator ``__anext__`` reads, and the one an ``async for`` loop reads.
    _chunks: AsyncIterator[ChatCompletionChunk] | None = None
    _loop: weakref.ref[AsyncIterator[ChatCompletionChunk]] | None = None

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        chunks = self._chunks or (self._loop() if self._loop is not None else None)
        if chunks is None:
            chunks = self._aiterate()
            self._loop = weakref.ref(chunks)
        return chunks

    async def __anext__(self) -> ChatCompletionChunk:
        """``await anext(stream)``, as on LiteLLM's and OpenAI's async streams (instructor uses it)."""
        if self._chunks is None:
            self._chunks = self.__aiter__()
        return await self._chunks.__anext__()

    async def _aiterate(self) -> AsyncIterator[ChatCompletionChunk]:
        finished = False
        try:
            for chunk in self._buffered:
                if self._forward(chunk):
                    yield chunk
            self._buffered = []
            add, feed = self._acc.add, self._parser.feed
            async for event, data in self._events:
                for chunk in feed(event, data):
                    add(chunk)
                    if chunk.choices or self._forward_usage:
                        yield chunk
            finished = True
        except APIError as exc:
            await self._http.aclose()
            await self._aend(self._interrupted(exc))
        except SHAPE_ERRORS as exc:
            await self._http.aclose()
            await self._aend(self._interrupted(self._wrong_shape(exc)))
        finally:
            if not finished and not self._ended:
                await self.aclose()  # the caller stopped reading: release and record what arrived
        if finished:
            await self._http.aclose()
            counted = self._acc.usage is None
            await self._aend(None)
            if counted and self._forward_usage and self.usage is not None:
                yield self._usage_chunk()  # the caller asked for usage; the provider sent none

    async def _aend(self, error: APIError | None) -> None:
        if self._ended:
            return
        error = self._conclude(error)
        await self._ending.asettle()
        if error is not None:
            raise error

    async def aclose(self) -> None:
        await self._http.aclose()
        if not self._ended:
            self._closing = True
            await self._aend(None)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
