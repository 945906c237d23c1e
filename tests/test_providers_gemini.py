"""Unit tests for the Gemini adapter: recorded payloads fed straight to the adapter.

Fixtures under tests/fixtures/gemini/ are built from the examples in Google's Gemini API
documentation (each names its source). No network: requests are checked as bodies, answers
and streams are fed to the parser through ``iter_sse`` exactly as the engine does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_helpers import accumulate, feed_sse, fixture_loader
from pydantic import BaseModel

import routerlib
from routerlib import exceptions as exc
from routerlib._request import build_request
from routerlib.providers import gemini
from routerlib.providers._gemini_parse import GeminiStreamParser
from routerlib.providers.base import Deployment, select_params
from routerlib.transport import HTTPRequest, HTTPResponse, MockTransport
from routerlib.types import ChatCompletionChunk, ModelResponse

SPEC = gemini.specs()[0]
ADAPTER = gemini.GeminiAdapter()
MODEL = "gemini-1.5-pro"
BASE = "https://generativelanguage.googleapis.com/v1beta"
HELLO = [{"role": "user", "content": "Hello"}]
load = fixture_loader("gemini")


def deployment(model: str = MODEL) -> Deployment:
    return Deployment(spec=SPEC, model=model, api_base=BASE, api_key="AIza-test-key")


def build(messages: Any = HELLO, model: str = MODEL, **params: Any) -> tuple[HTTPRequest, dict[str, Any]]:
    request = build_request({"model": f"gemini/{model}", "messages": messages, **params})
    selected, _ = select_params(request, SPEC)
    http = SPEC.adapter.build_request(request, selected, deployment(model))
    return http, json.loads(http.body)


def parse(name_or_data: Any) -> ModelResponse:
    data = load(name_or_data) if isinstance(name_or_data, str) else name_or_data
    request = build_request({"model": f"gemini/{MODEL}", "messages": HELLO})
    response = SPEC.adapter.parse_response(200, {}, json.dumps(data).encode(), request, deployment())
    assert isinstance(response, ModelResponse)
    return response


def sse_lines(events: list[Any]) -> list[bytes]:
    lines: list[bytes] = []
    for data in events:
        lines += [b"data: " + json.dumps(data).encode(), b""]
    return lines


def run_stream(events: list[Any], n: int | None = None) -> tuple[list[ChatCompletionChunk], GeminiStreamParser]:
    request = build_request({"model": f"gemini/{MODEL}", "messages": HELLO, "stream": True, "n": n})
    parser = ADAPTER.stream_parser(request, deployment())
    return feed_sse(parser, sse_lines(events)), parser


# -- the provider row and the HTTP request ------------------------------------------------------

def test_spec_row() -> None:
    assert SPEC.name == "gemini"
    assert SPEC.api_base == BASE
    assert SPEC.api_key_env == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert SPEC.price_prefix == "gemini"
    assert {"logit_bias", "logprobs", "user", "parallel_tool_calls"} <= SPEC.unsupported
    assert {"temperature", "seed", "n", "presence_penalty", "reasoning_effort"} <= SPEC.supported


def test_key_travels_in_a_header_never_in_the_url() -> None:
    http, body = build()
    assert http.url == f"{BASE}/models/{MODEL}:generateContent"
    assert "key=" not in http.url and "AIza" not in http.url
    assert http.headers["x-goog-api-key"] == "AIza-test-key"
    assert "authorization" not in http.headers
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_stream_url_asks_for_sse() -> None:
    http, _ = build(stream=True)
    assert http.url == f"{BASE}/models/{MODEL}:streamGenerateContent?alt=sse"


def test_models_prefix_is_not_doubled() -> None:
    request = build_request({"model": "gemini/x", "messages": HELLO})
    dep = Deployment(spec=SPEC, model="models/gemini-2.0-flash", api_base=BASE + "/", api_key="k")
    http = SPEC.adapter.build_request(request, {}, dep)
    assert http.url == f"{BASE}/models/gemini-2.0-flash:generateContent"


def test_conversation_becomes_the_documented_body() -> None:
    case = load("request_conversation.json")
    _, body = build(case["messages"], **case["params"])
    assert body == case["expected"]


def test_media_parts() -> None:
    parts = [
        {"type": "image_url", "image_url": "gs://bucket/cat.png"},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "file", "file": {"file_id": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                                  "format": "video/mp4"}},
    ]
    _, body = build([{"role": "user", "content": parts}])
    assert body["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
        {"fileData": {"mimeType": "video/mp4", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
    ]


def test_assistant_text_becomes_a_model_turn_and_empty_turns_are_skipped() -> None:
    messages = [*HELLO, {"role": "assistant", "content": ""}, {"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": "Bye"}]
    _, body = build(messages)
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "Hi!"}]


@pytest.mark.parametrize(("effort", "model", "config"), [
    ("none", "gemini-2.5-flash", {"thinkingBudget": 0}),
    ("minimal", "gemini-2.5-flash", {"thinkingBudget": 512}),
    ("low", "gemini-2.5-flash", {"thinkingBudget": 1024}),
    ("medium", "gemini-2.5-pro", {"thinkingBudget": 2048}),
    ("high", "gemini-2.5-pro", {"thinkingBudget": 4096}),
    ("xhigh", "gemini-2.5-pro", {"thinkingBudget": 8192}),
    ("low", "gemini-3-pro-preview", {"thinkingLevel": "low"}),
    ("high", "gemini-3-pro-preview", {"thinkingLevel": "high"}),
])
def test_reasoning_effort_becomes_thinking_config(effort: str, model: str, config: dict[str, Any]) -> None:
    assert build(model=model, reasoning_effort=effort)[1]["generationConfig"]["thinkingConfig"] == config


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    config = build(max_tokens=10, max_completion_tokens=20, stop="X")[1]["generationConfig"]
    assert config == {"maxOutputTokens": 20, "stopSequences": ["X"]}


class Person(BaseModel):
    name: str
    nickname: str | None = None
    friends: list[Person] = []


class Address(BaseModel):
    city: str


class Customer(BaseModel):
    """A customer."""

    name: str
    address: Address
    tier: str = "basic"


def test_response_format_json_schema_becomes_an_openapi_response_schema() -> None:
    config = build(response_format=Customer)[1]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "object", "description": "A customer.",
        "properties": {"name": {"type": "string"},
                       "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                       "tier": {"type": "string"}},
        "required": ["name", "address", "tier"],  # OpenAI strict mode (routerlib's default) requires all
    }
    config = build(response_format={"type": "json_object"})[1]["generationConfig"]
    assert config == {"responseMimeType": "application/json"}


def test_schema_conversion_details() -> None:
    schema = {"type": "object", "additionalProperties": False, "title": "T", "$schema": "x",
              "properties": {
                  "a": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
                  "b": {"type": ["string", "null"]},
                  "c": {"const": "fixed"},
                  "d": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                  "e": {"type": "array", "items": {"$ref": "#/$defs/E"}}},
              "$defs": {"E": {"type": "string", "enum": ["x", "y"], "title": "E"}}}
    assert gemini.gemini_schema(schema) == {"type": "object", "properties": {
        "a": {"nullable": True, "type": "integer"},
        "b": {"nullable": True, "type": "string"},
        "c": {"enum": ["fixed"]},
        "d": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "e": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}}}}


def test_recursive_schema_is_refused_before_sending() -> None:
    with pytest.raises(exc.InvalidRequestError, match="recursive"):
        build(response_format=Person)


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
])
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "x": {"type": "string"}}}}}]
    assert build(tools=tools, tool_choice=choice)[1]["toolConfig"] == {"functionCallingConfig": expected}


def test_web_search_options_add_google_search_grounding() -> None:
    assert build(web_search_options={})[1]["tools"] == [{"googleSearch": {}}]


def test_unsupported_params_are_refused_or_dropped() -> None:
    request = build_request({"model": f"gemini/{MODEL}", "messages": HELLO, "logit_bias": {"1": 1},
                             "user": "u"})
    with pytest.raises(exc.UnsupportedParamsError, match="logit_bias, user"):
        select_params(request, SPEC)
    _, body = build(logit_bias={"1": 1}, user="u", temperature=0.1, drop_params=True)
    assert body["generationConfig"] == {"temperature": 0.1}


# -- responses ----------------------------------------------------------------------------------

def test_parse_text_response() -> None:
    r = parse("response_text.json")
    assert r.id == "iyAzaMuHLtuBz7IPnbWFmQg"
    assert r.model == "gemini-1.5-pro-002"
    assert r.choices[0].message.content == "The AI, designated Unit 734, was programmed for efficiency."
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (8, 12, 20)


def test_parse_parallel_function_calls() -> None:
    r = parse("response_function_call.json")
    message = r.choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    assert [c.function.name for c in message.tool_calls] == ["power_disco_ball", "start_music", "dim_lights"]
    assert json.loads(message.tool_calls[1].function.arguments) == {"energetic": True, "loud": True}
    assert len({c.id for c in message.tool_calls}) == 3 and all(c.id for c in message.tool_calls)
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.model == "gemini-2.0-flash" and r.id


def test_parse_thoughts_and_cached_usage() -> None:
    r = parse("response_thinking_cache.json")
    message = r.choices[0].message
    assert message.content == "The sum is 42."
    assert (message.model_extra or {})["reasoning_content"].startswith("**Calculating the sum**")
    usage = r.usage
    assert usage is not None
    assert usage.prompt_tokens == 4096  # promptTokenCount already includes the 3072 cached tokens
    assert usage.cached_tokens == 3072
    assert usage.completion_tokens == 393 + 916  # candidatesTokenCount excludes thoughtsTokenCount
    assert usage.reasoning_tokens == 916
    assert usage.total_tokens == 5405  # equals Gemini's own totalTokenCount


def test_tool_use_prompt_and_audio_tokens_count_as_prompt() -> None:
    data = load("response_text.json")
    data["usageMetadata"] = {"promptTokenCount": 100, "toolUsePromptTokenCount": 50, "candidatesTokenCount": 5,
                             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 60},
                                                     {"modality": "AUDIO", "tokenCount": 40}]}
    usage = parse(data).usage
    assert usage is not None and usage.prompt_tokens == 150 and usage.total_tokens == 155
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.audio_tokens == 40


def test_blocked_prompt_is_a_content_policy_violation() -> None:
    with pytest.raises(exc.ContentPolicyViolationError, match="SAFETY") as info:
        parse("response_blocked.json")
    assert info.value.code == "safety" and not info.value.retryable


def test_safety_finish_is_content_filter_without_content() -> None:
    r = parse("response_safety_finish.json")
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].message.content is None


@pytest.mark.parametrize(("reason", "finish"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("OTHER", "stop"), ("MALFORMED_FUNCTION_CALL", "stop"),
])
def test_finish_reason_mapping(reason: str, finish: str) -> None:
    data = load("response_text.json")
    data["candidates"][0]["finishReason"] = reason
    assert parse(data).choices[0].finish_reason == finish


def test_thought_signature_round_trips_through_the_tool_call_id() -> None:
    data = load("response_function_call.json")
    data["candidates"][0]["content"]["parts"][0]["thoughtSignature"] = "c2lnbmF0dXJl"
    call = parse(data).choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.id is not None and call.id.endswith("__thought__c2lnbmF0dXJl")
    history = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
               {"role": "tool", "tool_call_id": call.id, "content": "on"}]
    contents = build(history)[1]["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "power_disco_ball"


def test_answer_without_candidates_or_feedback_is_unreadable() -> None:
    with pytest.raises(exc.APIResponseValidationError):
        parse({"usageMetadata": {"promptTokenCount": 1}})


# -- streams ------------------------------------------------------------------------------------

def test_stream_text_is_done_at_the_finish_reason() -> None:
    events = load("stream_text.json")["events"]
    chunks, parser = run_stream(events)
    assert parser.done
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == "The"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 7)
    assert {c.id for c in chunks} == {"sse-resp-1"}
    assert accumulate(chunks).choices[0].message.content == "The opposite of hot is cold.\n"


def test_stream_truncated_before_the_finish_is_not_done() -> None:
    _, parser = run_stream(load("stream_text.json")["events"][:2])
    assert not parser.done


def test_stream_function_call_and_thinking_usage() -> None:
    chunks, parser = run_stream(load("stream_function_call.json")["events"])
    assert parser.done
    response = accumulate(chunks)
    message = response.choices[0].message
    assert message.content == "Checking the weather."
    assert message.tool_calls is not None and message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"location": "Paris"}
    assert (message.tool_calls[0].id or "").endswith("__thought__Sig0123==")
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.usage is not None
    assert (response.usage.completion_tokens, response.usage.reasoning_tokens) == (18 + 120, 120)


def test_stream_with_two_candidates_waits_for_both() -> None:
    def event(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": index}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate]}
    chunks, parser = run_stream([event(0, "a"), event(1, "b"), event(0, "!", "STOP")], n=2)
    assert not parser.done
    more = parser.feed(None, json.dumps(event(1, "?", "MAX_TOKENS")).encode())
    assert parser.done
    response = accumulate(chunks + more)
    assert [c.message.content for c in response.choices] == ["a!", "b?"]
    assert [c.finish_reason for c in response.choices] == ["stop", "length"]


def test_stream_error_event_and_blocked_prompt() -> None:
    parser = GeminiStreamParser(deployment())
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(exc.ServiceUnavailableError):
        parser.feed(None, json.dumps(error).encode())
    with pytest.raises(exc.ContentPolicyViolationError):
        parser.feed(None, json.dumps(load("response_blocked.json")).encode())
    with pytest.raises(exc.APIResponseValidationError):
        parser.feed(None, b'{"candidates": [{"content": ')


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", load("errors.json")["cases"], ids=lambda c: f"{c['status']}-{c['expect']}")
def test_documented_errors_are_classified(case: dict[str, Any]) -> None:
    body = json.dumps(case["body"]).encode()
    error = SPEC.adapter.parse_error(case["status"], {"x-goog-request-id": "g-1"}, body, deployment())
    assert type(error).__name__ == case["expect"]
    assert error.status_code == case["status"]
    assert error.retryable is case["retryable"]
    assert error.message == case["body"]["error"]["message"]
    assert error.provider == "gemini" and error.model == MODEL
    assert error.request_id == "g-1"
    assert error.retry_after == case.get("retry_after")


def test_retry_after_header_wins_over_retry_info() -> None:
    case = next(c for c in load("errors.json")["cases"] if c["status"] == 429)
    error = SPEC.adapter.parse_error(429, {"retry-after": "2"}, json.dumps(case["body"]).encode(), deployment())
    assert error.retry_after == 2.0


def test_the_client_sends_and_parses_through_the_adapter() -> None:
    body = json.dumps(load("response_thinking_cache.json")).encode()
    transport = MockTransport(lambda request: HTTPResponse(200, {}, body))
    client = routerlib.Client(transport=transport, environ={"GOOGLE_API_KEY": "AIza-env"})
    response = client.completion("gemini/gemini-2.5-flash", HELLO)
    assert isinstance(response, ModelResponse)
    assert response.provider == "gemini"
    assert response.cost is not None and response.cost.total is not None
    assert response.cost.reasoning > 0 and response.cost.cached_input > 0
    sent = transport.requests[0]
    assert sent.headers["x-goog-api-key"] == "AIza-env" and "AIza" not in sent.url


def test_empty_text_parts_and_tool_choice_without_tools_are_not_sent() -> None:
    content = [{"type": "text", "text": ""}, {"type": "text", "text": "Hi"}]
    _, body = build([{"role": "user", "content": content}], tool_choice="auto")
    assert body == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_wrongly_typed_answers_are_unreadable_not_crashes() -> None:
    data = load("response_text.json")
    data["candidates"][0]["index"] = "zero"
    with pytest.raises(exc.APIResponseValidationError, match="does not fit"):
        parse(data)


# -- model ids in the URL path (issue 10 item 12)

def test_a_model_id_outside_the_plain_characters_is_percent_encoded() -> None:
    request = build_request({"model": "gemini/x", "messages": HELLO})
    for model, segment in (("gémini", "g%C3%A9mini"), ("a+b", "a%2Bb"), ("tuned~1.5_x-y", "tuned~1.5_x-y")):
        assert ADAPTER.build_request(request, {}, deployment(model)).url == f"{BASE}/models/{segment}:generateContent"


@pytest.mark.parametrize("model", ["../../admin", "x:generateContent?alt=sse#", "a/b", "..", "x y", "x%2F"])
def test_a_model_id_that_would_change_the_url_cannot_make_a_deployment(model: str) -> None:
    with pytest.raises(exc.InvalidRequestError, match="goes into the URL path"):
        deployment(model)


def test_usage_with_counts_that_are_not_integers_is_left_to_the_engine() -> None:
    from routerlib.exceptions import UsageWarning
    from routerlib.providers._gemini_parse import normalise_usage

    with pytest.warns(UsageWarning, match="not integers"):
        assert normalise_usage({"promptTokenCount": "9", "candidatesTokenCount": 3}) is None
    usage = normalise_usage({"promptTokenCount": 9.0, "candidatesTokenCount": 3, "promptTokensDetails": "odd"})
    assert usage is not None and usage["prompt_tokens"] == 9


@pytest.mark.parametrize("schema", [
    {"$defs": ["A"], "type": "object"}, {"$ref": "#/$defs/A", "$defs": {"A": True}}, {"allOf": [True]},
    {"properties": "x"}, {"anyOf": None}, {"type": [{}, "null"]},
])
def test_a_schema_of_the_wrong_shape_is_a_typed_error(schema: dict[str, Any]) -> None:
    with pytest.raises(exc.InvalidRequestError, match=r"cannot be converted for gemini|not defined"):
        gemini.gemini_schema(schema)


# -- embeddings ----------------------------------------------------------------------------------

def embed(value: Any, **params: Any) -> tuple[HTTPRequest, Any]:
    from routerlib._embedding import build_embedding_request

    request = build_embedding_request({"model": "gemini/gemini-embedding-001", "input": value, **params})
    selected, _ = select_params(request, SPEC)
    http = ADAPTER.build_embedding_request(request, selected, deployment("gemini-embedding-001"))
    return http, json.loads(http.body)


def test_one_text_goes_to_embed_content() -> None:
    http, body = embed("hello", dimensions=768, extra_body={"taskType": "RETRIEVAL_DOCUMENT", "title": "T"})
    assert http.url == f"{BASE}/models/gemini-embedding-001:embedContent" and "AIza" not in http.url
    assert http.headers["x-goog-api-key"] == "AIza-test-key"
    assert body == {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 768,
                    "taskType": "RETRIEVAL_DOCUMENT", "title": "T"}


def test_a_list_goes_to_batch_embed_contents_naming_the_model_in_each_request() -> None:
    http, body = embed(["a", "b"])
    assert http.url == f"{BASE}/models/gemini-embedding-001:batchEmbedContents"
    assert body == {"requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}}
                                 for t in ("a", "b")]}


def test_token_ids_base64_and_user_are_refused_for_gemini() -> None:
    with pytest.raises(exc.UnsupportedParamsError, match="gemini embeds text only"):
        embed([1, 2, 3])
    with pytest.raises(exc.UnsupportedParamsError, match="encoding_format only as 'float'"):
        embed("x", encoding_format="base64")
    assert embed("x", encoding_format="float")[1] == {"content": {"parts": [{"text": "x"}]}}
    with pytest.raises(exc.UnsupportedParamsError, match="does not support user"):
        embed("x", user="u")


def embedding_parse(data: Any, value: Any = ("a", "b")) -> Any:
    from routerlib._embedding import build_embedding_request

    request = build_embedding_request({"model": "gemini/gemini-embedding-001", "input": list(value)})
    return ADAPTER.parse_embedding_response(200, {}, json.dumps(data).encode(), request,
                                            deployment("models/gemini-embedding-001"))


def test_embedding_answers_become_openais_list() -> None:
    response = embedding_parse({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]})
    assert [(d.index, d.embedding) for d in response.data] == [(0, [0.1, 0.2]), (1, [0.3, 0.4])]
    assert response.model == "gemini-embedding-001" and response.usage is None  # counted by the call
    single = embedding_parse({"embedding": {"values": [1.0]}, "usageMetadata": {"promptTokenCount": 4}}, ["a"])
    assert single.data[0].embedding == [1.0] and single.usage is not None and single.usage.prompt_tokens == 4


@pytest.mark.parametrize(("data", "said"), [
    ({"embeddings": [{"values": [0.1]}]}, "1 embeddings for 2 inputs"),
    ({"nothing": []}, "has no embeddings"),
    ({"embeddings": [{"values": [0.1]}, {"vals": []}]}, "embedding 1 of the provider's answer has no values"),
])
def test_unusable_embedding_answers_are_validation_errors(data: Any, said: str) -> None:
    with pytest.raises(exc.APIResponseValidationError, match=said):
        embedding_parse(data)


def test_a_gemini_rate_limit_on_embeddings_is_typed_with_its_retry_delay() -> None:
    error = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}]}}
    answers = iter([HTTPResponse(429, {}, json.dumps(error).encode()),
                    HTTPResponse(200, {}, json.dumps({"embedding": {"values": [0.5]}}).encode())])
    client = routerlib.Client(transport=MockTransport(lambda request: next(answers)), environ={},
                              sleep=lambda s: None)
    response = client.embedding("gemini/gemini-embedding-001", "x", api_key="k")
    assert [a.error for a in response.attempts] == ["RateLimitError", None] and response.attempts[0].retry_after == 0
