"""The public, read-only request types: one validated call, as adapters and observers see it.

``ChatRequest`` is built by ``Client.completion`` (and friends) from the call's parameters,
``EmbeddingRequest`` by ``Client.embedding``; both extend ``BaseRequest`` (routing, retries,
prices) and say which they are in ``operation`` ("chat" or "embeddings"). User code reads
them (in an adapter's ``build_request``, an observer's ``CallStart``) but never builds one by
hand.
"""

from ._base_request import BaseRequest
from ._embedding import EMBEDDING_PARAMS, EmbeddingRequest, Request
from ._request import PROVIDER_PARAMS, ChatRequest

__all__ = ["EMBEDDING_PARAMS", "PROVIDER_PARAMS", "BaseRequest", "ChatRequest", "EmbeddingRequest", "Request"]
