"""The cache key: everything that can change the answer, and nothing that cannot.

A key is built in two steps, so that a call pays for the expensive part once::

    fingerprint(request)               sha256 of the canonical request part (messages, tools,
                                       sampling parameters, templates, ...); None = uncacheable
    make_key(fp, deployment, ns, user) "<format>:<routerlib version>:<namespace>:<sha256>"

The second hash covers the fingerprint, the resolved deployment (provider, model sent,
endpoint, API version, prompt template, non-secret headers), the namespace and, with
per-user scoping, the caller's user. Neither the API key nor any header or field that holds
a credential enters either hash: rotating a key keeps the cache, and no key, log or dump of
the cache can leak one. The user id is inside the hash, never in the clear.

Canonical form (so that spelling does not split entries):

- mappings are compared by content, not by argument or key order (JSON with sorted keys);
  tuples and lists are the same thing; ``-0.0`` is ``0.0``; integer values of float
  parameters (``temperature=1``) are floats;
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
do not change the answer; scope entries per user with ``per_user=True`` instead). A test
keeps ``IN_KEY`` and ``OUT_OF_KEY`` covering every request field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..providers.base import Deployment
    from ..request import ChatRequest

__all__ = ["FORMAT_VERSION", "IN_KEY", "OUT_OF_KEY", "fingerprint", "key_prefix", "make_key", "user_scope"]

#: Bumped whenever the key or the stored value changes shape: old entries are then never read.
FORMAT_VERSION = 1

#: Request fields that enter the key (besides the resolved deployment).
IN_KEY: tuple[str, ...] = (
    "messages", "prompt", "temperature", "top_p", "n", "stop", "max_completion_tokens", "max_tokens",
    "modalities", "prediction", "audio", "presence_penalty", "frequency_penalty", "logit_bias",
    "reasoning_effort", "verbosity", "response_format", "seed", "tools", "tool_choice", "parallel_tool_calls",
    "logprobs", "top_logprobs", "web_search_options", "service_tier", "repetition_penalty", "router_preference",
    "extra_body", "headers", "deployment_id", "initial_prompt_value", "roles", "final_prompt_value", "bos_token",
    "eos_token", "hf_model_name", "mock_response",
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
}

#: Parameters whose value is a float: 1 and 1.0 are one entry.
_FLOATS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "repetition_penalty")
#: OpenAI's documented defaults that every provider shares: giving them is the same as not.
_NEUTRAL: dict[str, Any] = {"n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0, "logprobs": False}
#: Header names (lowercase) containing one of these carry credentials and never enter a key.
_SECRET_HEADER_PARTS = ("key", "auth", "token", "secret", "cookie", "password", "credential", "signature")


class UncacheableError(ValueError):
    """A value with no canonical JSON form (an object, NaN): the call is not cached."""


def _canon(value: Any) -> Any:
    """``value`` as plain JSON data with one spelling per meaning (see the module docstring)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UncacheableError(f"non-finite number {value!r}")
        return value + 0.0  # -0.0 -> 0.0
    if isinstance(value, Mapping):
        return {_key_text(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _canon(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **fields}
    raise UncacheableError(f"a {type(value).__name__} has no canonical form")


def _key_text(key: object) -> str:
    if not isinstance(key, str):
        raise UncacheableError(f"a mapping key {type(key).__name__} is not text")
    return key


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _canon(v) for k, v in message.items() if v is not None}
    content = out.get("content")
    if (isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict)
            and content[0].get("type") == "text" and set(content[0]) == {"type", "text"}):
        out["content"] = content[0]["text"]
    return out


def _headers(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """Headers that may change the answer (e.g. anthropic-beta), without any that hold credentials."""
    if not headers:
        return None
    kept = {str(k).lower(): str(v) for k, v in headers.items()
            if not any(part in str(k).lower() for part in _SECRET_HEADER_PARTS)}
    return kept or None


def _request_part(request: ChatRequest) -> dict[str, Any]:
    values = request.__dict__
    part: dict[str, Any] = {}
    for name in IN_KEY:
        value = values[name]
        if value is None or value == ():
            continue
        if name == "messages":
            part[name] = [_message(m) for m in value]
            continue
        if name == "headers":
            value = _headers(value)
        elif name == "stop" and isinstance(value, str):
            value = [value]
        elif name in _FLOATS:
            value = float(value)
        if value is None or value == _NEUTRAL.get(name, ...) or (name == "stop" and not value):
            continue
        part[name] = _canon(value)
    return part


def _digest(data: Any) -> str:
    try:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise UncacheableError(str(exc)) from None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(request: ChatRequest) -> str | None:
    """sha256 of the canonical request part, or None when the request cannot be cached."""
    try:
        return _digest(_request_part(request))
    except UncacheableError:
        return None


def _deployment_part(deployment: Deployment) -> dict[str, Any]:
    template = deployment.options.template
    hf_name = deployment.spec.options.get("hf_model_name")
    return {
        "provider": deployment.provider,
        "model": deployment.model,
        "api_base": deployment.api_base,
        "api_version": deployment.api_version,
        "headers": _headers(deployment.headers),
        "template": None if template is None else _canon(template),
        "hf_model_name": hf_name if isinstance(hf_name, str) else None,
        "default_max_tokens": deployment.default_max_tokens,
    }


def key_prefix() -> str:
    """"<format>:<routerlib version>": entries written by another version are never read."""
    version = getattr(sys.modules.get("routerlib"), "__version__", "0")
    return f"v{FORMAT_VERSION}:{version}"


def make_key(fp: str, deployment: Deployment, namespace: str, user: str | None = None) -> str | None:
    """The storage key of ``fp``'s answer from ``deployment``, in ``namespace`` (and ``user``'s scope).

    None when the deployment has a value with no canonical form (the call is then not cached).
    """
    try:
        digest = _digest({"request": fp, "deployment": _deployment_part(deployment),
                          "namespace": namespace, "user": user})
    except UncacheableError:
        return None
    return f"{key_prefix()}:{namespace}:{digest}"


def user_scope(request: ChatRequest) -> str | None:
    """The caller's user for per-user scoping: ``metadata["user"]``, else the OpenAI ``user``."""
    metadata = request.metadata
    user = metadata.get("user") if metadata else None
    return user if isinstance(user, str) and user else request.user
