"""The module-level calls: thin shells over one default ``Client``.

The default client is built on first use, with default settings; it is never configured
through module attributes. For other defaults (a ledger, budgets, a retry policy, callbacks)
make a ``routerlib.Client(...)`` and call its methods instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from typing_extensions import Unpack

from .client import Client
from .params import CompletionParams, EmbeddingParams
from .streaming import AsyncStream, Stream
from .types import EmbeddingResponse, ModelResponse, TextCompletion

EmbeddingInput = str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client behind ``routerlib.completion`` and friends (built once, on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Client()
    return _default


def completion(model: str, messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
               **params: Unpack[CompletionParams]) -> ModelResponse | Stream:
    """Send a chat completion; returns a ``ModelResponse``, or a ``Stream`` with stream=True.

    ``model`` is "provider/model-name" (a bare known name resolves its provider from the
    model map). ``params`` are the OpenAI chat parameters plus routing options
    (num_retries, fallbacks, timeout, deadline, metadata, ...): see the README for the
    full list. Unknown names and bad values raise ``InvalidRequestError`` before anything
    is sent.
    """
    return default_client().completion(model, messages, **params)


async def acompletion(model: str, messages: Sequence[Mapping[str, Any] | BaseModel] | None = None,
                      **params: Unpack[CompletionParams]) -> ModelResponse | AsyncStream:
    """The async twin of ``completion``: same parameters, same results."""
    return await default_client().acompletion(model, messages, **params)


def text_completion(model: str, prompt: str | Sequence[str],
                    **params: Unpack[CompletionParams]) -> TextCompletion | Stream:
    """A /completions call with a raw prompt; returns a ``TextCompletion``."""
    return default_client().text_completion(model, prompt, **params)


async def atext_completion(model: str, prompt: str | Sequence[str],
                           **params: Unpack[CompletionParams]) -> TextCompletion | AsyncStream:
    """The async twin of ``text_completion``."""
    return await default_client().atext_completion(model, prompt, **params)


def embedding(model: str, input: EmbeddingInput, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
    """Embeddings of ``input``: a string, a list of strings (one embedding each, in order), or
    token ids. Returns an ``EmbeddingResponse`` (``data[i].embedding``, ``usage``, ``cost``).

    The same machinery as ``completion``: retries, ``fallbacks``, ``deadline``, prices from the
    model map, budgets and the ledger (on a ``Client``). ``params`` are OpenAI's ``dimensions``,
    ``encoding_format``, ``user`` plus routing options; unknown names and bad values raise
    ``InvalidRequestError`` before anything is sent.
    """
    return default_client().embedding(model, input, **params)


async def aembedding(model: str, input: EmbeddingInput, **params: Unpack[EmbeddingParams]) -> EmbeddingResponse:
    """The async twin of ``embedding``."""
    return await default_client().aembedding(model, input, **params)
