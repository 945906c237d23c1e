"""The public, read-only request type: one validated call, as adapters and observers see it.

``ChatRequest`` is built by ``Client.completion`` (and friends) from the call's parameters;
user code reads it (in an adapter's ``build_request``, an observer's ``CallStart``) but never
builds one by hand.
"""

from ._request import PROVIDER_PARAMS, ChatRequest

__all__ = ["PROVIDER_PARAMS", "ChatRequest"]
