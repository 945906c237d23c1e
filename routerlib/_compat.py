"""LiteLLM's ``stream_chunk_builder`` and ``batch_completion``, on routerlib's types.

Both exist so that code written for LiteLLM runs after ``import routerlib as litellm``:

- ``stream_chunk_builder(chunks, messages=None)`` rebuilds one response from the chunks a
  caller collected (routerlib's own, or OpenAI-shaped dicts). A ``Stream`` already does this
  as it goes (``stream.response``, with the provider's usage and the exact cost); this is for
  code that collects the chunks itself.
- ``batch_completion(model, messages=[[...], [...]], **params)`` runs one completion per
  message list on a bounded thread pool and returns the results in order, an error in the
  place of a call that failed (as LiteLLM does), so that one failure does not hide the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .exceptions import InvalidRequestError, RouterlibError
from .types import ChatCompletionChunk, ModelResponse, TextCompletion, Usage

if TYPE_CHECKING:
    from .client import Client
    from .streaming import Stream

__all__ = ["batch_completion", "stream_chunk_builder"]

#: ``batch_completion``'s default thread count: enough to overlap network waits, bounded so a
#: list of 10,000 conversations does not start 10,000 threads (LiteLLM's default is 100).
DEFAULT_MAX_WORKERS = 32


def stream_chunk_builder(chunks: Sequence[Any], messages: Sequence[Mapping[str, Any]] | None = None,
                         start_time: object = None, end_time: object = None) -> ModelResponse | TextCompletion | None:
    """One response from streamed chunks (LiteLLM's ``stream_chunk_builder``); None for no chunks.

    ``chunks`` are routerlib chunks (``ChatCompletionChunk``, or ``TextCompletion`` chunks of
    a text stream) or OpenAI-shaped dicts. Usage is the chunks' own when one carried it;
    else it is counted here (``usage.estimated``), the prompt from ``messages`` when given.
    ``start_time``/``end_time`` are accepted for LiteLLM's signature and not used.
    """
    from .streaming import StreamAccumulator

    if isinstance(chunks, str | bytes | Mapping) or not isinstance(chunks, Sequence):
        raise InvalidRequestError(f"stream_chunk_builder(chunks=...): must be a list of chunks, got "
                                  f"{type(chunks).__name__}", code="invalid_parameter")
    if not chunks:
        return None
    acc = StreamAccumulator()
    for i, chunk in enumerate(chunks):
        acc.add(_as_chunk(i, chunk))
    response = acc.response()
    if response.usage is None:
        response.usage = _estimated_usage(response, messages)
    return response


def _as_chunk(i: int, chunk: Any) -> ChatCompletionChunk | TextCompletion:
    if isinstance(chunk, ChatCompletionChunk | TextCompletion):
        return chunk
    data = chunk.model_dump() if callable(getattr(chunk, "model_dump", None)) else chunk
    if not isinstance(data, Mapping):
        raise InvalidRequestError(f"stream_chunk_builder(chunks[{i}]): a chunk must be a routerlib chunk or an "
                                  f"OpenAI-shaped dict, got {type(chunk).__name__}", code="invalid_parameter")
    choices = data.get("choices") or ()
    text = data.get("object") == "text_completion" or any(
        isinstance(c, Mapping) and "text" in c and "delta" not in c for c in choices)
    try:
        return TextCompletion.model_validate(data) if text else ChatCompletionChunk.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(f"stream_chunk_builder(chunks[{i}]): not a chunk ({problem(exc)})",
                                  code="invalid_parameter") from None


def problem(exc: ValidationError) -> str:
    """The first problem pydantic found, without the input values (which may be large or private)."""
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def _estimated_usage(response: ModelResponse | TextCompletion,
                     messages: Sequence[Mapping[str, Any]] | None) -> Usage:
    """Token counts made here (tiktoken) when no chunk carried the provider's usage."""
    from .tokens import count_messages, count_text

    model = response.model
    if isinstance(response, TextCompletion):
        text = "".join(c.text for c in response.choices)
    else:
        text = "".join((c.message.content or "") + "".join(
            (t.function.name or "") + t.function.arguments for t in c.message.tool_calls or ())
            for c in response.choices)
    prompt = count_messages(model, messages) if messages else 0
    completion = count_text(model, text)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 estimated=True)


def batch_completion(model: str, messages: Sequence[Sequence[Mapping[str, Any]]] = (), *,
                     max_workers: int = DEFAULT_MAX_WORKERS, client: Client | None = None,
                     **params: Any) -> list[ModelResponse | Stream | RouterlibError]:
    """One completion per message list, run concurrently; results in the order of ``messages``.

    Each result is the response, or the routerlib error that call raised (LiteLLM returns the
    exceptions in place too). Every call gets the same ``params``; they run on at most
    ``max_workers`` threads of the default client (or ``client``), which is thread-safe.
    """
    import concurrent.futures

    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence) or not all(
            isinstance(m, Sequence) and not isinstance(m, str | bytes | Mapping) for m in messages):
        raise InvalidRequestError("batch_completion(messages=...): pass a list of message lists, one per call, "
                                  "e.g. [[{'role': 'user', 'content': 'Hi'}], [...]]", code="invalid_parameter")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidRequestError(f"batch_completion(max_workers={max_workers!r}): must be an integer >= 1",
                                  code="invalid_parameter")
    if client is None:
        from ._api import default_client

        client = default_client()
    if not messages:
        return []
    call = client.completion
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(max_workers, len(messages)),
                                               thread_name_prefix="routerlib-batch") as pool:
        futures = [pool.submit(call, model, conversation, **params) for conversation in messages]
        results: list[ModelResponse | Stream | RouterlibError] = []
        for future in futures:
            try:
                results.append(future.result())
            except RouterlibError as error:
                results.append(error)
    return results
