"""The five seed routers' rows against a real loopback server standing in for each of them.

Each test checks what the router's documentation (``/work/shared/seeds``) says: the headers
sent, the body fields, and the response quirks routerlib must handle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from provider_helpers import as_chat, as_stream
from recording_server import RecordingServer, Responder, sse

import routerlib
from routerlib.exceptions import InvalidRequestError, UnprocessableEntityError

pytestmark = pytest.mark.filterwarnings("ignore:cost of this model is unknown")

MESSAGES = [{"role": "system", "content": "You are a helpful coding assistant."},
            {"role": "user", "content": "Write a Python function to calculate Fibonacci numbers."}]
USAGE = {"prompt_tokens": 33, "completion_tokens": 89, "total_tokens": 122}


def _chat_body(model: str, content: str = "def fibonacci(n): ...") -> dict[str, Any]:
    return {"id": "chatcmpl-20osd348shx1", "object": "chat.completion", "created": 1703262150, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": None,
                         "finish_reason": "stop"}], "usage": USAGE}


def _router(model_reported: str | None = None) -> Responder:
    """Answers chat, text and streamed calls; ``model_reported`` replaces the model (WiseRouter)."""

    def respond(path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        model = model_reported or body["model"]
        if path.endswith("/chat/completions") and body.get("stream"):
            head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1718000000, "model": model}
            events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "你"},
                                            "finish_reason": None}]},
                      {**head, "choices": [{"index": 0, "delta": {"content": "好"}, "finish_reason": "stop"}]}]
            if (body.get("stream_options") or {}).get("include_usage"):
                events.append({**head, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 6,
                                                                "total_tokens": 18}})
            return 200, "text/event-stream", sse(events)
        if path.endswith("/chat/completions"):
            return 200, "application/json", json.dumps(_chat_body(model)).encode()
        answer = {"id": "cmpl-2h38kn309nvb1", "object": "text_completion", "created": 1703262150, "model": model,
                  "choices": [{"text": "In lines of indented grace,", "index": 0, "logprobs": None,
                               "finish_reason": "length"}],
                  "usage": {"prompt_tokens": 8, "completion_tokens": 400, "total_tokens": 408}}
        return 200, "application/json", json.dumps(answer).encode()

    return respond


@pytest.fixture
def client() -> Iterator[routerlib.Client]:
    with routerlib.Client(environ={}) as c:
        yield c


@pytest.fixture
def wiserouter() -> Iterator[RecordingServer]:
    server = RecordingServer(_router(model_reported="redacted"))
    yield server
    server.close()


@pytest.fixture
def plain() -> Iterator[RecordingServer]:
    server = RecordingServer(_router())
    yield server
    server.close()


# -- WiseRouter (seed 000) ---------------------------------------------------------------------


def test_wiserouter_chat_body_headers_and_redacted_model(wiserouter: RecordingServer,
                                                        client: routerlib.Client) -> None:
    response = as_chat(client.completion("wiserouter/balanced-chat", MESSAGES, api_base=wiserouter.url,
                                         api_key="wk", temperature=0.7, max_tokens=400, repetition_penalty=1.1,
                                         router_preference="efficient", extra_body={"top_k": 40, "min_p": 0.05}))
    request = wiserouter.last
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer wk"
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {"model": "balanced-chat", "messages": MESSAGES, "temperature": 0.7, "max_tokens": 400,
                               "repetition_penalty": 1.1, "router_preference": "efficient", "top_k": 40,
                               "min_p": 0.05}
    assert response.model == "balanced-chat", "the redacted model is reported as the requested one"
    assert (response.choices[0].message.content or "").startswith("def fibonacci")
    assert response.usage is not None and response.usage.total_tokens == 122


def test_wiserouter_default_max_tokens_replaces_the_tiny_server_default(wiserouter: RecordingServer,
                                                                       client: routerlib.Client) -> None:
    client.completion("wiserouter/auto", MESSAGES, api_base=wiserouter.url, api_key="wk")
    assert wiserouter.last["body"]["max_tokens"] == 4096


def test_wiserouter_completions_endpoint(wiserouter: RecordingServer, client: routerlib.Client) -> None:
    response = client.text_completion("wiserouter/auto", "Write a poem about coding in Python:",
                                      api_base=wiserouter.url, api_key="wk", temperature=0.7, repetition_penalty=1.1)
    request = wiserouter.last
    assert request["path"] == "/v1/completions"
    assert request["body"] == {"model": "auto", "prompt": "Write a poem about coding in Python:",
                               "temperature": 0.7, "repetition_penalty": 1.1, "max_tokens": 4096}
    assert isinstance(response, routerlib.TextCompletion)
    assert response.model == "auto" and response.choices[0].finish_reason == "length"


def test_wiserouter_stream_reports_the_requested_model(wiserouter: RecordingServer,
                                                      client: routerlib.Client) -> None:
    stream = as_stream(client.completion("wiserouter/auto", MESSAGES, api_base=wiserouter.url, api_key="wk",
                                         stream=True))
    assert {chunk.model for chunk in stream} == {"auto"}
    assert stream.response is not None and stream.response.model == "auto"


# -- Wrift (seed 001) --------------------------------------------------------------------------


def test_wrift_body_with_its_documented_params(plain: RecordingServer, client: routerlib.Client) -> None:
    client.completion("wrift/openai/gpt-4o-audio:2024-12-17", MESSAGES, api_base=plain.url, api_key="rk",
                      max_tokens=128, logprobs=True, top_logprobs=3, modalities=["text", "audio"],
                      audio={"voice": "alloy", "format": "wav"}, reasoning_effort="low", verbosity="low",
                      prediction={"type": "content", "content": "def fibonacci"}, parallel_tool_calls=False)
    body = plain.last["body"]
    assert plain.last["headers"]["authorization"] == "Bearer rk"
    assert body["model"] == "openai/gpt-4o-audio:2024-12-17"
    assert body["max_completion_tokens"] == 128 and "max_tokens" not in body
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert body["modalities"] == ["text", "audio"] and body["audio"] == {"voice": "alloy", "format": "wav"}
    assert (body["reasoning_effort"], body["verbosity"]) == ("low", "low")


def test_wrift_refuses_a_bare_model_name_without_calling(plain: RecordingServer, client: routerlib.Client) -> None:
    with pytest.raises(InvalidRequestError, match="owner/name"):
        client.completion("wrift/gpt-4o", MESSAGES, api_base=plain.url, api_key="rk")
    assert plain.requests == []


def test_wrift_fastapi_validation_error(client: routerlib.Client) -> None:
    detail = {"detail": [{"loc": ["body", "messages", 0, "role"], "msg": "Input should be 'developer', 'system', "
                          "'user', 'assistant' or 'tool'", "type": "literal_error"},
                         {"loc": ["body", "temperature"], "msg": "Input should be less than or equal to 2",
                          "type": "less_than_equal"}]}
    server = RecordingServer(lambda path, body: (422, "application/json", json.dumps(detail).encode()))
    try:
        with pytest.raises(UnprocessableEntityError) as info:
            client.completion("wrift/meta/llama-3-8b", MESSAGES, api_base=server.url, api_key="rk")
    finally:
        server.close()
    error = info.value
    assert error.status_code == 422 and not error.retryable
    assert "messages.0.role: Input should be 'developer'" in error.message
    assert "temperature: Input should be less than or equal to 2" in error.message
    assert len(server.requests) == 1, "a 422 is not retried"


# -- openroute (seed 002) ----------------------------------------------------------------------


def test_openroute_tools_and_json_mode(plain: RecordingServer, client: routerlib.Client) -> None:
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]
    client.completion("openroute/gpt-3.5-turbo", [{"role": "user", "content": "Hello!"}], api_base=plain.url,
                      temperature=1, max_tokens=150, response_format={"type": "json_object"}, tools=tools,
                      tool_choice="auto", num_retries=0)
    request = plain.last
    assert request["body"] == {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "Hello!"}],
                               "temperature": 1.0, "max_tokens": 150, "response_format": {"type": "json_object"},
                               "tools": tools, "tool_choice": "auto"}
    assert "authorization" not in request["headers"], "no key given, none invented"
    assert "num_retries" not in request["body"], "routerlib's own options are never forwarded"


# -- Routeway (seed 003) -----------------------------------------------------------------------


def test_routeway_sends_bearer_and_x_api_key(plain: RecordingServer) -> None:
    with routerlib.Client(environ={"Routeway_API_KEY": "rw-secret"}) as client:
        story = [{"role": "user", "content": "Write a short story about a robot and a cat."}]
        response = as_chat(client.completion("routeway/gpt-4o-mini", story, api_base=plain.url))
    headers = plain.last["headers"]
    assert headers["authorization"] == "Bearer rw-secret"
    assert headers["x-api-key"] == "rw-secret"
    assert response.choices[0].message.content


# -- wrouter (seed 004) ------------------------------------------------------------------------


def test_wrouter_stream_usage_and_multimodal_parts(plain: RecordingServer, client: routerlib.Client) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "描述这张图"},
                                             {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]
    stream = as_stream(client.completion("wrouter/claude-sonnet-4-5", messages, api_base=plain.url, api_key="sk-w",
                                         stream=True, stream_options={"include_usage": True}))
    chunks = list(stream)
    body = plain.last["body"]
    assert body["model"] == "claude-sonnet-4-5", "vendor model ids go through unchanged"
    assert body["messages"] == messages
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "你好"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 18
    assert stream.usage is not None and stream.usage.total_tokens == 18


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "deepseek-chat",
                                   "qwen3-coder", "doubao-seed-1-6"])
def test_wrouter_passes_any_vendor_model_id(plain: RecordingServer, client: routerlib.Client, model: str) -> None:
    response = as_chat(client.completion(f"wrouter/{model}", [{"role": "user", "content": "你好"}],
                                         api_base=plain.url, api_key="sk-w", temperature=0.7))
    assert plain.last["body"]["model"] == model and response.model == model
    assert response.provider == "wrouter"
