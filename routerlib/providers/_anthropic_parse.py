"""Reading Anthropic's answers: Messages responses, stream events and errors, OpenAI-shaped.

- **Content blocks** (docs.anthropic.com/en/api/messages): text blocks join into the message
  content; ``tool_use`` blocks become ``tool_calls`` (``arguments`` = the input as JSON text);
  ``thinking`` blocks become ``reasoning_content``, and every thinking or redacted-thinking
  block is kept verbatim in ``thinking_blocks`` so that a caller can send it back with a tool
  result, as extended thinking requires. The ``json_output`` tool standing in for
  ``response_format`` becomes the content.
- **stop_reason** (docs.anthropic.com/en/api/handling-stop-reasons): end_turn, stop_sequence
  and pause_turn -> "stop"; max_tokens and model_context_window_exceeded -> "length";
  tool_use -> "tool_calls"; refusal -> "content_filter".
- **Usage** (docs.anthropic.com/en/docs/build-with-claude/prompt-caching): ``input_tokens``
  counts only the tokens after the last cache breakpoint, so prompt_tokens = input_tokens +
  cache_read_input_tokens + cache_creation_input_tokens, with the reads in ``cached_tokens``
  and the writes in ``cache_creation_tokens``. ``output_tokens`` includes thinking, which the
  API does not count apart, so ``reasoning_tokens`` stays 0.
- **Stream** (docs.anthropic.com/en/api/messages-streaming): message_start (id, model, input
  usage) -> a role chunk; content_block_start/delta -> content, tool-call (index, id, name,
  then argument pieces from input_json_delta) and reasoning deltas; message_delta (stop
  reason, cumulative usage) -> the finish chunk and the usage chunk; message_stop -> done;
  ping and unknown events are ignored (the versioning policy says new ones may appear); an
  ``error`` event raises the typed error its type names (overloaded_error is a 529).
- **Errors** (docs.anthropic.com/en/api/errors): ``{"type": "error", "error": {"type",
  "message"}}``, classified by type and status by ``_errors``; the ``request-id`` header is
  kept. "prompt is too long" (invalid_request_error) is a ContextWindowExceededError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .._usage import count, warn_implausible
from ..exceptions import APIError
from ..types import ChatCompletionChunk, ModelResponse
from ._errors import build_error, unreadable_body
from ._wire import ChunkFactory, load_json, new_id, validated
from .base import Deployment

__all__ = ["JSON_TOOL", "AnthropicStreamParser", "normalise_usage", "parse_error", "parse_response"]

#: The forced tool that carries a response_format answer.
JSON_TOOL = "json_output"

FINISH_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
    "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter",
}
#: Error type -> the HTTP status it comes with (for errors inside a 200 stream).
ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
    "rate_limit_error": 429, "api_error": 500, "timeout_error": 504, "overloaded_error": 529,
}


def parse_response(body: bytes, headers: Mapping[str, str], deployment: Deployment, *,
                   json_tool: str | None) -> ModelResponse:
    """A Messages answer as a ModelResponse (one choice)."""
    data = load_json(body, provider=deployment.provider, model=deployment.model, headers=headers)
    blocks = data.get("content")
    if not isinstance(blocks, list):
        raise unreadable_body("an Anthropic message without content", body, provider=deployment.provider,
                              model=deployment.model, headers=headers)
    message = _message(blocks, json_tool)
    finish = FINISH_REASONS.get(data.get("stop_reason") or "end_turn", "stop")
    if finish == "tool_calls" and "tool_calls" not in message:
        finish = "stop"  # the json_output tool answered: for the caller that is a plain answer
    usage = data.get("usage")
    return validated(ModelResponse, {
        "id": data.get("id") or new_id("msg_"),
        "created": int(time.time()),
        "model": data.get("model") or deployment.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": normalise_usage(usage) if isinstance(usage, Mapping) else None,
    }, provider=deployment.provider, model=deployment.model)


def _message(blocks: list[Any], json_tool: str | None) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    thinking: list[Any] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {})
            if json_tool is not None and block.get("name") == json_tool:
                texts.append(arguments)
            else:
                calls.append({"id": block.get("id"), "type": "function",
                              "function": {"name": block.get("name"), "arguments": arguments}})
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            thinking.append(block)
        elif kind == "redacted_thinking":
            thinking.append(block)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking
    return message


def normalise_usage(usage: Mapping[str, Any]) -> dict[str, Any] | None:
    """Anthropic usage in routerlib's canonical (OpenAI) meaning; see the module docstring.

    None (with a ``UsageWarning``) when a count is not an integer: the engine then counts locally.
    """
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    given = usage.get("input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    if not (read.__class__ is int and written.__class__ is int and given.__class__ is int
            and completion.__class__ is int):  # the common case costs no call; else convert or give up
        read, written, given, completion = (count(v) for v in (read, written, given, completion))
        if read is None or written is None or given is None or completion is None:
            warn_implausible("counts that are not integers")
            return None
    prompt = given + read + written
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": read, "cache_creation_tokens": written}}


def parse_error(status: int, headers: Mapping[str, str], body: bytes, deployment: Deployment) -> APIError:
    """The typed error for a non-2xx Messages answer."""
    return build_error(status, headers, body, provider=deployment.provider, model=deployment.model)


def _stream_error(payload: Mapping[str, Any], raw: bytes, deployment: Deployment) -> APIError:
    """An ``error`` event inside a 200 stream: the status its type would have had."""
    error = payload.get("error")
    kind = error.get("type") if isinstance(error, Mapping) else None
    status = ERROR_STATUS.get(kind or "", 500)
    return build_error(status, {}, raw, provider=deployment.provider, model=deployment.model)


class AnthropicStreamParser:
    """Messages stream events -> OpenAI chunks; see the module docstring for the mapping."""

    def __init__(self, deployment: Deployment, *, json_tool: str | None = None) -> None:
        self.done = False
        self._deployment = deployment
        self._json_tool = json_tool
        self._chunks = ChunkFactory(new_id("msg_"), deployment.model, int(time.time()), deployment.provider)
        self._usage: dict[str, Any] = {}
        #: content block index -> (kind, tool-call index): kind is "tool" or "json".
        self._blocks: dict[int, tuple[str, int]] = {}
        self._tool_calls = 0

    def feed(self, event: str | None, data: bytes) -> list[ChatCompletionChunk]:
        payload = load_json(data, provider=self._deployment.provider, model=self._deployment.model,
                            what="a stream event")
        kind = payload.get("type")
        if kind == "content_block_delta":
            return self._block_delta(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "message_start":
            return self._message_start(payload)
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise _stream_error(payload, data, self._deployment)
        return []  # ping, content_block_stop, and event types added later

    def _message_start(self, payload: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        message = payload.get("message") or {}
        chunks = self._chunks
        chunks.id = message.get("id") or chunks.id
        chunks.model = message.get("model") or chunks.model
        usage = message.get("usage") if isinstance(message, Mapping) else None
        if isinstance(usage, Mapping):
            self._usage.update(usage)
        return [chunks.delta({"role": "assistant", "content": ""})]

    def _block_start(self, payload: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        block = payload.get("content_block") or {}
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunks.delta({"content": block["text"]})]
        if kind != "tool_use":
            return []
        if self._json_tool is not None and block.get("name") == self._json_tool:
            self._blocks[payload.get("index", 0)] = ("json", -1)
            return []
        position = self._tool_calls
        self._tool_calls += 1
        self._blocks[payload.get("index", 0)] = ("tool", position)
        call = {"index": position, "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"), "arguments": ""}}
        return [self._chunks.delta({"tool_calls": [call]})]

    def _block_delta(self, payload: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [self._chunks.delta({"content": text})] if text else []
        if kind == "input_json_delta":
            piece = delta.get("partial_json")
            target = self._blocks.get(payload.get("index", 0))
            if not piece or target is None:
                return []
            if target[0] == "json":
                return [self._chunks.delta({"content": piece})]
            call = {"index": target[1], "function": {"arguments": piece}}
            return [self._chunks.delta({"tool_calls": [call]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunks.delta({"reasoning_content": delta["thinking"]})]
        return []  # signature_delta, citations_delta

    def _message_delta(self, payload: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        """The stop reason and the final (cumulative) usage: the finish chunk, then the usage chunk."""
        usage = payload.get("usage")
        if isinstance(usage, Mapping):
            self._usage.update((k, v) for k, v in usage.items() if v is not None)
        reason = (payload.get("delta") or {}).get("stop_reason")
        finish = FINISH_REASONS.get(reason or "end_turn", "stop")
        if finish == "tool_calls" and self._tool_calls == 0:
            finish = "stop"  # only the json_output tool answered
        chunks = [self._chunks.delta({}, finish)]
        usage = normalise_usage(self._usage) if self._usage else None
        if usage is not None:  # none (or unusable): the engine estimates, never a silent zero
            chunks.append(self._chunks.usage(usage))
        return chunks
