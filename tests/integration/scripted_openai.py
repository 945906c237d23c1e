"""A scripted OpenAI-compatible server on 127.0.0.1 for the LiteLLM drop-in and instructor tests.

It answers the way OpenAI does, derived from the request alone, so that unchanged client code
(LiteLLM scripts, instructor) can run against it:

- ``/v1/chat/completions``: a tool call when ``tools`` are given (arguments made from the tool's
  JSON schema), JSON content when a ``response_format`` is given (from its schema, or from the
  schema instructor puts in the system prompt), the weather when the last message is a tool
  result, else a greeting. ``stream`` answers in SSE pieces (tool arguments in pieces too), with
  a usage chunk when ``stream_options.include_usage`` asks.
- ``/v1/completions``: a text completion (``echo`` repeats the prompt); a chat-only model gets
  OpenAI's 404 ("This is a chat model ...").
- ``/v1/embeddings``: one vector per input, derived from it (``embedding_vector``), floats or
  base64 (``encoding_format``), ``dimensions`` long (default 3); usage counts the inputs' words
  (token-id inputs: their length), so it never exceeds a tokenizer's count.
- ``/fail/<status>/v1/...``: that status with an OpenAI error body.

Every request is recorded (``server.requests``), so tests can check exactly what was sent.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recording_server import RecordingServer, sse

GREETING = "Hello from the loopback server."
WEATHER = "It is sunny in Paris."
USAGE = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
CHAT_ONLY = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")


def example(schema: dict[str, Any], defs: dict[str, Any] | None = None, name: str = "") -> Any:
    """A value matching a (pydantic-made) JSON schema: names "Jason", ages 25, two items per list."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name)
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"), defs, name)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {prop: example(sub, defs, prop) for prop, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {}), defs, name) for _ in range(2)]
    if kind == "integer":
        return 25
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if "enum" in schema:
        return schema["enum"][0]
    return "Jason" if name == "name" else f"some {name or 'text'}"


def _schema_in_prompt(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """instructor's JSON mode puts the schema in a system message: the first JSON object there."""
    for message in messages:
        content = message.get("content")
        if message.get("role") == "system" and isinstance(content, str) and "{" in content:
            value, _ = json.JSONDecoder().raw_decode(content[content.index("{"):])
            return dict(value)
    return {"type": "object", "properties": {}}


def chat_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message OpenAI would plausibly send for this request."""
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        return {"role": "assistant", "content": WEATHER}
    if body.get("tools"):
        function = body["tools"][0]["function"]
        arguments = json.dumps(example(function.get("parameters") or {}))
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": function["name"], "arguments": arguments}}]}
    fmt = body.get("response_format")
    if fmt:
        schema = (fmt.get("json_schema") or {}).get("schema") or _schema_in_prompt(messages)
        return {"role": "assistant", "content": json.dumps(example(schema))}
    return {"role": "assistant", "content": GREETING}


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _chat_chunks(body: dict[str, Any], message: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-loop", "object": "chat.completion.chunk", "created": 1700000000, "model": body["model"]}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    for call in message.get("tool_calls") or ():
        deltas.append({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"], "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                   for piece in _pieces(call["function"]["arguments"])]
    if message.get("content"):
        deltas += [{"content": piece} for piece in _pieces(message["content"])]
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": USAGE})
    return chunks


def _text_answer(body: dict[str, Any]) -> tuple[int, str, bytes]:
    model = body["model"]
    if model.startswith(CHAT_ONLY):
        error = {"error": {"message": "This is a chat model and not supported in the v1/completions endpoint. "
                                      "Did you mean to use v1/chat/completions?", "type": "invalid_request_error",
                           "param": "model", "code": None}}
        return 404, "application/json", json.dumps(error).encode()
    prompt = body.get("prompt")
    text = (prompt if body.get("echo") and isinstance(prompt, str) else "") + GREETING
    base = {"id": "cmpl-loop", "object": "text_completion", "created": 1700000000, "model": model}
    if body.get("stream"):
        events = [{**base, "choices": [{"index": 0, "text": p, "finish_reason": None, "logprobs": None}]}
                  for p in _pieces(text)]
        events.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]})
        return 200, "text/event-stream", sse(events)
    answer = {**base, "usage": USAGE,
              "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}]}
    return 200, "application/json", json.dumps(answer).encode()


def embedding_vector(item: Any, index: int, dimensions: int = 3) -> list[float]:
    """A vector made from the input alone: its size, its position, then quarters."""
    size = len(item.split()) if isinstance(item, str) else len(item)
    return ([float(size), float(index)] + [0.25] * dimensions)[:dimensions]


def embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    """What OpenAI's /v1/embeddings answers for ``body`` (see the module docstring)."""
    raw = body["input"]
    inputs = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else raw
    dimensions = body.get("dimensions") or 3
    data = []
    for i, item in enumerate(inputs):
        vector: Any = embedding_vector(item, i, dimensions)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(len(item.split()) if isinstance(item, str) else len(item) for item in inputs)
    return {"object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def respond(path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    failing = re.match(r"/fail/(\d{3})/", path)
    if failing:
        status = int(failing.group(1))
        error = {"error": {"message": f"loopback failure {status}", "type": "rate_limit_error" if status == 429
                           else "server_error", "param": None, "code": None}}
        return status, "application/json", json.dumps(error).encode()
    if path.split("?", 1)[0].endswith("/embeddings"):
        return 200, "application/json", json.dumps(embeddings_answer(body)).encode()
    if path.endswith("/completions") and not path.endswith("/chat/completions"):
        return _text_answer(body)
    message = chat_answer(body)
    if body.get("stream"):
        return 200, "text/event-stream", sse(_chat_chunks(body, message))
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    answer = {"id": "chatcmpl-loop", "object": "chat.completion", "created": 1700000000, "model": body["model"],
              "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
              "usage": USAGE}
    return 200, "application/json", json.dumps(answer).encode()


@contextmanager
def scripted_openai() -> Iterator[RecordingServer]:
    server = RecordingServer(respond)
    try:
        yield server
    finally:
        server.close()
