"""Messages as routerlib sends them: message objects accepted back, null fields never sent.

The tool-calling loop that LiteLLM's and OpenAI's docs show appends the response's message
object itself, then sends the list again::

    messages.append(response.choices[0].message)     # routerlib's, OpenAI SDK's, LiteLLM's
    messages.append(response.choices[0].message.model_dump())

A message object (any pydantic model) becomes a plain dict here. Either way, keys whose value
is null are dropped (``refusal``, ``function_call``, ``audio``, ``name``, a tool call's
``index``...), and so are empty ``tool_calls``/``annotations`` lists: a response carries them
as null or empty, a request must not (OpenAI answers 400 to ``"tool_calls": []``; strict
OpenAI-compatible servers refuse unknown or null fields). ``content`` is kept even when
null: an assistant message with tool calls has null content in OpenAI's format.

The common message, a dict with no null value and no tool calls, is passed through as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["needs_normalising", "normalise_message", "normalise_messages"]

_DROP_WHEN_EMPTY = frozenset({"tool_calls", "annotations"})


def needs_normalising(messages: Any) -> bool:
    """Whether any message is not a plain dict free of nulls and tool calls (the common case is a quick no)."""
    if not isinstance(messages, list | tuple):
        return False
    for message in messages:  # noqa: SIM110 - on every call: a plain loop is cheaper than any() over a generator
        if type(message) is not dict or "tool_calls" in message or None in message.values():
            return True
    return False


def normalise_messages(messages: Any) -> Any:
    """``messages`` with each message normalised; anything not a list is returned for validation to refuse."""
    if not isinstance(messages, list | tuple):
        return messages
    return tuple(normalise_message(m) for m in messages)


def normalise_message(message: Any) -> Any:
    """One message as a dict without null fields; a value that is no message is returned unchanged."""
    if isinstance(message, dict):
        if "tool_calls" not in message and None not in message.values():
            return message  # the common case: nothing to drop
        return _clean(message)
    if isinstance(message, Mapping):
        return _clean(message)
    dump = getattr(message, "model_dump", None)
    if callable(dump):
        data = dump()
        if isinstance(data, Mapping):
            return _clean(data)
    return message


def _clean(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in message.items():
        if value is None and key != "content":
            continue
        if key in _DROP_WHEN_EMPTY and isinstance(value, list | tuple) and not value:
            continue
        if key == "tool_calls" and isinstance(value, list | tuple):
            value = [_without_nulls(call) for call in value]
        out[key] = value
    return out


def _without_nulls(value: Any) -> Any:
    """A tool call (dict or object) as a dict without null keys, its ``function`` too."""
    if not isinstance(value, Mapping):
        dump = getattr(value, "model_dump", None)
        if not callable(dump):
            return value
        value = dump()
        if not isinstance(value, Mapping):
            return value
    return {k: (_without_nulls(v) if isinstance(v, Mapping) or hasattr(v, "model_dump") else v)
            for k, v in value.items() if v is not None}
