"""The cache key: everything that can change the answer, and nothing that cannot.

A key is built in two steps, so that a call pays for the expensive part once. The hash is
BLAKE2b with a 256-bit digest (as collision-resistant as sha256): CPython implements it itself,
where its sha256 goes through OpenSSL, whose per-call setup costs several microseconds on
every cache miss (measured in a whole call; see docs/cache.md)::

    request_hash(request)              BLAKE2b fed with the canonical request part (messages, tools,
                                       sampling parameters, templates, ...); None = uncacheable
    make_key(h, deployment, ns, user)  "<format>:<routerlib version>:<namespace>:<256-bit hex digest>"

``make_key`` continues a copy of the request's hash with the resolved deployment (provider,
model sent, endpoint, API version, prompt template, non-secret headers) -- or, for a call a
Router sends to a group, the group (``group_scope``: its name and each of its deployments) --,
the namespace and, with per-user scoping, the caller's user. Neither the API key nor any header
or field that holds a credential enters either hash: rotating a key keeps the cache, and no key, log or dump of
the cache can leak one. The user id is inside the hash, never in the clear.

Canonical form (so that spelling does not split entries):

- mappings are compared by content, not by argument or key order (JSON with sorted keys; the
  common plain message ``{"role": r, "content": text}`` as the pair ``(r, text)``);
  tuples and lists are the same thing; integer values of float parameters (``temperature=1``)
  are floats, and their ``-0.0`` is ``0.0``;
- a message's ``None`` fields are dropped, and content given as a single text part is the
  plain string it means;
- ``stop="x"`` is ``stop=["x"]``, and parameters set to OpenAI's documented defaults that
  every provider shares are the same as not given: ``n=1``, ``presence_penalty=0``,
  ``frequency_penalty=0``, ``logprobs=False``, ``stop=[]``, ``tools=[]``. Temperature and
  top_p are *not* folded: their defaults differ between providers and models.

Not in the key (``OUT_OF_KEY`` lists each with the reason): stream and stream_options (a
cached answer replays as a stream or not), credentials, timeouts and retry settings, prices,
metadata, fallbacks and model lists (the key is that of the deployment that answers), and the
OpenAI ``user`` and ``safety_identifier`` (they identify the caller for abuse monitoring and
do not change the answer; scope entries per user with ``per_user=True`` instead). An embedding
request's part is its ``EMBEDDING_IN_KEY`` fields. Tests keep ``IN_KEY``, ``EMBEDDING_IN_KEY``
and ``OUT_OF_KEY`` covering every field of both requests.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import pydantic_core

from .._secrets import is_credential_header

if TYPE_CHECKING:
    from .._embedding import Request
    from ..providers.base import Deployment

__all__ = [
    "EMBEDDING_IN_KEY",
    "FORMAT_VERSION",
    "IN_KEY",
    "OUT_OF_KEY",
    "UncacheableError",
    "fingerprint",
    "group_scope",
    "key_prefix",
    "make_key",
    "request_hash",
    "user_scope",
]

#: Bumped whenever the key or the stored value changes shape: old entries are then never read.
FORMAT_VERSION = 1

#: Request fields that enter the key (besides the resolved deployment).
IN_KEY: tuple[str, ...] = (
    "messages", "prompt", "temperature", "top_p", "n", "stop", "max_completion_tokens", "max_tokens",
    "modalities", "prediction", "audio", "presence_penalty", "frequency_penalty", "logit_bias",
    "reasoning_effort", "verbosity", "response_format", "seed", "tools", "tool_choice", "parallel_tool_calls",
    "logprobs", "top_logprobs", "web_search_options", "service_tier", "repetition_penalty", "router_preference",
    "best_of", "echo", "suffix", "extra_body", "headers", "deployment_id", "initial_prompt_value", "roles",
    "final_prompt_value", "bos_token", "eos_token", "hf_model_name", "mock_response", "mock_tool_calls",
)

#: Embedding request fields that enter the key (its other fields are shared with chat requests,
#: and kept out for the reasons ``OUT_OF_KEY`` gives). ``input`` never names a chat field, so an
#: embedding's key can never equal a chat call's.
EMBEDDING_IN_KEY: tuple[str, ...] = (
    "input", "dimensions", "encoding_format", "extra_body", "headers", "deployment_id", "mock_response",
)

#: Request fields kept out of the key, each with the reason.
OUT_OF_KEY: dict[str, str] = {
    "model": "replaced by the resolved deployment (provider, model sent, endpoint)",
    "api_base": "replaced by the resolved deployment's endpoint",
    "api_version": "replaced by the resolved deployment's API version",
    "stream": "a cached answer replays as a stream or as one response",
    "stream_options": "only decides whether a replayed stream shows its usage chunk",
    "user": "identifies the end user for abuse monitoring; scope with per_user=True instead",
    "safety_identifier": "identifies the end user for abuse monitoring; does not change the answer",
    "api_key": "a credential: never in a key",
    "azure_ad_token": "a credential: never in a key",
    "timeout": "how long to wait, not what is answered",
    "deadline": "how long to wait, not what is answered",
    "num_retries": "how often to try, not what is answered",
    "policy": "how often to try, not what is answered",
    "fallbacks": "the key is that of the deployment that answers",
    "model_list": "the key is that of the deployment that answers",
    "context_window_fallback_dict": "the key is that of the deployment that answers",
    "drop_params": "dropped parameters are not sent; the key only splits more finely",
    "metadata": "routerlib's own bookkeeping, never sent (metadata['user'] scopes with per_user=True)",
    "input_cost_per_token": "prices the answer, does not change it",
    "output_cost_per_token": "prices the answer, does not change it",
    "input_cost_per_second": "prices the answer, does not change it",
    "output_cost_per_second": "prices the answer, does not change it",
    "cache": "the cache controls themselves (the namespace enters the key)",
    "mock_testing_fallbacks": "the primary fails without an answer; the key is that of the deployment that answers",
}

#: Parameters whose value is a float: 1 and 1.0 are one entry.
_FLOATS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "repetition_penalty")
#: OpenAI's documented defaults that every provider shares: giving them is the same as not.
_NEUTRAL: dict[str, Any] = {"n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0, "logprobs": False}
#: Besides the credential headers routerlib knows everywhere (``_secrets.is_credential_header``:
#: auth, key, token, secret, cookie, passw, credential, session), header names holding these never
#: enter a key either: a request signature changes with every request and would split the cache.
_UNKEYED_HEADER_PARTS = ("signature",)


class UncacheableError(ValueError):
    """A value with no canonical JSON form (an object, NaN): the call is not cached."""


def _default(value: Any) -> Any:
    """JSON for what the C encoder does not take itself: other mappings, Decimals, dataclasses."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__, **{f.name: getattr(value, f.name) for f in dataclasses.fields(value)}}
    raise UncacheableError(f"a {type(value).__name__} has no canonical form")


def _message(message: Mapping[str, Any]) -> Any:
    """A message in canonical form: ``(role, text)`` for the common plain message (content a string,
    or a single text part, which means the same), else its JSON with sorted keys (``_nested``)."""
    if None in message.values():
        message = {k: v for k, v in message.items() if v is not None}
    if len(message) == 2:
        role, content = message.get("role"), message.get("content")
        if isinstance(role, str):
            if isinstance(content, str):
                return (role, content)
            if isinstance(content, list | tuple) and len(content) == 1:
                part = content[0]
                if isinstance(part, Mapping) and len(part) == 2 and part.get("type") == "text" \
                        and isinstance(part.get("text"), str):
                    return (role, part["text"])
    return _nested(message)


def _nested(value: Any) -> dict[str, str]:
    """A value holding mappings, as its JSON with sorted keys, tagged so that it can never be equal
    to a plain value of the same text."""
    return {"\x00json": _json(value).decode("utf-8", "surrogatepass")}


def _is_nested(value: Any) -> bool:
    return isinstance(value, Mapping) or (isinstance(value, list | tuple)
                                          and any(isinstance(v, Mapping | list | tuple) for v in value))


def _headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Headers that may change the answer (e.g. anthropic-beta), without any that hold credentials."""
    if not headers:
        return None
    kept = {str(k).lower(): str(v) for k, v in headers.items() if not _unkeyed_header(str(k))}
    return kept or None


def _unkeyed_header(name: str) -> bool:
    """Whether a header of this name stays out of keys: every header ``Deployment.secrets`` takes
    for a credential (one rule for what a credential is, so that none is hashed into a key), and
    request signatures."""
    lower = name.lower()
    return is_credential_header(lower) or any(part in lower for part in _UNKEYED_HEADER_PARTS)


_IN_KEY = {"chat": frozenset(IN_KEY), "embeddings": frozenset(EMBEDDING_IN_KEY)}


def _request_part(request: Request) -> dict[str, Any]:
    """The request's fields that enter the key, canonical. Only the fields the caller gave are
    looked at (pydantic records them): the others are None, and None never enters the key."""
    values = request.__dict__
    part: dict[str, Any] = {}
    # Sorted: a set's order changes between processes (string hashing is salted), the key must not.
    for name in sorted(request.__pydantic_fields_set__ & _IN_KEY[request.operation]):
        value = values[name]
        if value is None or value == ():
            continue
        if name == "messages":
            value = [_message(m) for m in value]
        elif name == "headers":
            value = _headers(value)
        elif name == "stop" and isinstance(value, str):
            value = [value]
        elif name in _FLOATS:
            value = float(value) + 0.0  # 1 -> 1.0, -0.0 -> 0.0
        if value is None or value == _NEUTRAL.get(name, ...) or (name == "stop" and not value):
            continue
        part[name] = _nested(value) if name != "messages" and _is_nested(value) else value
    return part


#: One encoder for every request part (building one per call costs more than some encodings).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                            default=_default)


def _json(data: Any) -> bytes:
    """``data`` as canonical JSON bytes (the C encoder with sorted keys; ``_default`` for the rest)."""
    try:
        return _ENCODER.encode(data).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError) as exc:  # NaN, a non-text key among text keys, an object
        raise UncacheableError(str(exc)) from None


def request_hash(request: Request) -> Any:
    """A BLAKE2b hash object fed with the canonical request part, or None when it cannot be cached.

    ``make_key`` copies it and adds the deployment, so the request is encoded once per call
    whatever the number of deployments keyed (the first one's lookup, the answering one's store).
    """
    try:
        # pydantic's Rust serializer: several times faster than json for the (already canonical) part.
        return blake2b(pydantic_core.to_json(_request_part(request)), digest_size=32)
    except (UncacheableError, ValueError, TypeError):  # PydanticSerializationError is a ValueError
        return None


def fingerprint(request: Request) -> str | None:
    """The hex digest of ``request_hash`` (for tests and debugging)."""
    h = request_hash(request)
    return None if h is None else str(h.hexdigest())


def _deployment_part(deployment: Deployment) -> bytes:
    """What of the deployment can change the answer, as bytes with one spelling per value.

    The plain fields are strings, integers or None, whose ``repr`` in a tuple is unambiguous
    (and several times cheaper than JSON); headers and a template, when there are any, are
    added as canonical JSON.
    """
    hf_name = deployment.spec.options.get("hf_model_name")
    plain = (deployment.spec.name, deployment.model, deployment.api_base, deployment.api_version,
             deployment.default_max_tokens, hf_name if isinstance(hf_name, str) else None)
    text = repr(plain).encode("utf-8", "surrogatepass")
    headers = _headers(deployment.headers) if deployment.headers else None
    template = deployment.options.template
    if headers is not None or template is not None:
        text += b"\x00" + _json({"headers": headers, "template": template})
    return text


def group_scope(name: str, deployments: Iterable[Deployment]) -> bytes | None:
    """The key part of a Router group's answers: its name and every deployment a call may go to,
    each as ``_deployment_part`` reads it (provider, model sent, endpoint, API version, template,
    non-secret headers). None when one has no canonical form (the call is then not cached).

    A group is one model to its callers, so an answer from any of its deployments answers a call
    to the group, whichever deployment that call is routed to (keyed per deployment, a group of
    three endpoints would fetch each prompt three times). The deployments are in it whole, not
    just their model names: two Routers sharing a cache may give one group name to different
    servers of a model of the same name (a fine-tune served by each tenant), and a call whose
    tags exclude a deployment must not get that deployment's answer. Keys and weights are not in
    it. Tagged with a leading ``group`` so it never equals a deployment's part.
    """
    try:
        parts = sorted({_deployment_part(d) for d in deployments})
    except UncacheableError:
        return None
    return repr(("group", name, parts)).encode("utf-8", "surrogatepass")


@functools.cache
def key_prefix() -> str:
    """"<format>:<routerlib version>": entries written by another version are never read."""
    version = getattr(sys.modules.get("routerlib"), "__version__", "0")
    return f"v{FORMAT_VERSION}:{version}"


def make_key(h: Any, deployment: Deployment, namespace: str, user: str | None = None,
             scope: bytes | None = None) -> str | None:
    """The storage key of the answer to ``h`` (a ``request_hash``) from ``deployment``, in ``namespace``
    (and ``user``'s scope). None when the deployment has a value with no canonical form.

    ``scope`` replaces the deployment when the answer belongs to something wider: a Router group,
    any of whose deployments may answer (``group_scope``)."""
    if scope is not None:
        tail = scope
    else:
        try:
            tail = _deployment_part(deployment)
        except UncacheableError:
            return None
    h = h.copy()
    h.update(b"\x00" + repr((namespace, user)).encode("utf-8", "surrogatepass") + b"\x00" + tail)
    return f"{key_prefix()}:{namespace}:{h.hexdigest()}"


def user_scope(request: Request) -> str | None:
    """The caller's user for per-user scoping (``BaseRequest.caller``; a blank name is no user)."""
    return request.caller
