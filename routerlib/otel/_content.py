"""Message content in the conventions' JSON shape, for ``capture_content=True`` only.

The GenAI conventions record content in three opt-in attributes, ``gen_ai.input.messages``,
``gen_ai.output.messages`` and ``gen_ai.system_instructions``, each following a JSON schema
(gen-ai-input-messages.json, gen-ai-output-messages.json): a message is ``{"role", "parts"}``,
a part is ``{"type": "text", "content"}``, ``{"type": "tool_call", "id", "name", "arguments"}``
or ``{"type": "tool_call_response", "id", "response"}``; an output message adds
``finish_reason``. On spans "it MAY be recorded as a JSON string if structured format is not
supported" (OpenTelemetry Python's span attributes hold no nested values), so these functions
return JSON strings.

routerlib's messages are OpenAI-shaped, where system messages are part of the chat history; the
conventions keep those in ``gen_ai.input.messages`` ("Instructions that are part of the chat
history SHOULD be recorded in gen_ai.input.messages"), so ``gen_ai.system_instructions`` is
never set. Parts other than text (images, audio, files) are recorded by their type only: their
payloads (often base64) are not content anyone reads in a trace, and can be megabytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..types import ModelResponse, TextCompletion


def input_messages(messages: Sequence[Mapping[str, Any]], prompt: str | Sequence[str] | None) -> str:
    """``gen_ai.input.messages`` for a chat call's messages, or a text completion's prompt."""
    if prompt is not None:
        prompts = (prompt,) if isinstance(prompt, str) else tuple(prompt)
        out = [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts]
    else:
        out = [_message(m) for m in messages]
    return _dumps(out)


def output_messages(response: ModelResponse | TextCompletion) -> str:
    """``gen_ai.output.messages``: one message per choice, in the provider's order."""
    out: list[dict[str, Any]] = []
    if isinstance(response, TextCompletion):
        for text_choice in response.choices:
            out.append({"role": "assistant", "parts": [{"type": "text", "content": text_choice.text}],
                        "finish_reason": text_choice.finish_reason or "error"})
        return _dumps(out)
    for choice in response.choices:
        message = choice.message
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "content": message.content})
        for call in message.tool_calls or ():
            parts.append({"type": "tool_call", "id": call.id, "name": call.function.name,
                          "arguments": _arguments(call.function.arguments)})
        out.append({"role": message.role or "assistant", "parts": parts,
                    "finish_reason": choice.finish_reason or "error"})
    return _dumps(out)


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                                           "response": _text(content)}]}
    parts = _parts(content)
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
                      "arguments": _arguments(function.get("arguments"))})
    return {"role": role, "parts": parts}


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        else:
            parts.append({"type": kind})  # a generic part: the type only, never the payload
    return parts


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if isinstance(p, Mapping) and p.get("type") == "text")


def _arguments(arguments: Any) -> Any:
    """Tool-call arguments as an object when they are JSON (the schema's preference), else as sent."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
