"""Unit tests for the Anthropic Messages adapter: recorded payloads fed straight to the adapter.

Fixtures under tests/fixtures/anthropic/ are built from the examples in Anthropic's API
documentation (each names its source). No network: requests are checked as bodies, answers
and streams are fed to the parser through ``iter_sse`` exactly as the engine does.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from provider_helpers import accumulate, feed_sse, fixture_loader

import routerlib
from routerlib import exceptions as exc
from routerlib._request import build_request
from routerlib.cost import CostUnknownWarning
from routerlib.cost.model_map import ModelMap
from routerlib.cost.pricing import compute_cost
from routerlib.providers import anthropic
from routerlib.providers._anthropic_parse import AnthropicStreamParser
from routerlib.providers.base import Deployment, select_params
from routerlib.streaming import iter_sse
from routerlib.transport import HTTPRequest, HTTPResponse, MockTransport
from routerlib.types import ChatCompletionChunk, ModelResponse

SPEC = anthropic.specs()[0]
ADAPTER = anthropic.AnthropicAdapter()
MODEL = "claude-3-5-sonnet-20241022"
HELLO = [{"role": "user", "content": "Hello"}]
load = fixture_loader("anthropic")


def deployment(**fields: Any) -> Deployment:
    return Deployment(spec=SPEC, model=MODEL, api_base="https://api.anthropic.com", api_key="sk-ant-test",
                      **fields)


def build(messages: Any = HELLO, dep: Deployment | None = None, **params: Any) -> tuple[HTTPRequest, dict[str, Any]]:
    request = build_request({"model": f"anthropic/{MODEL}", "messages": messages, **params})
    selected, _ = select_params(request, SPEC)
    http = SPEC.adapter.build_request(request, selected, dep or deployment())
    return http, json.loads(http.body)


def parse(name_or_data: Any, **params: Any) -> ModelResponse:
    data = load(name_or_data) if isinstance(name_or_data, str) else name_or_data
    request = build_request({"model": f"anthropic/{MODEL}", "messages": HELLO, **params})
    response = SPEC.adapter.parse_response(200, {}, json.dumps(data).encode(), request, deployment())
    assert isinstance(response, ModelResponse)
    return response


def sse_lines(events: list[list[Any]]) -> list[bytes]:
    lines: list[bytes] = []
    for name, data in events:
        lines += [f"event: {name}".encode(), b"data: " + json.dumps(data).encode(), b""]
    return lines


def run_stream(events: list[list[Any]], **params: Any) -> tuple[list[ChatCompletionChunk], AnthropicStreamParser]:
    request = build_request({"model": f"anthropic/{MODEL}", "messages": HELLO, "stream": True, **params})
    parser = ADAPTER.stream_parser(request, deployment())
    return feed_sse(parser, sse_lines(events)), parser


# -- the provider row and the HTTP request ------------------------------------------------------

def test_spec_row() -> None:
    assert SPEC.name == "anthropic"
    assert SPEC.api_base == "https://api.anthropic.com"
    assert SPEC.api_key_env == ("ANTHROPIC_API_KEY",)
    assert SPEC.price_prefix == "anthropic"
    assert {"presence_penalty", "logit_bias", "seed", "logprobs"} <= SPEC.unsupported
    assert {"temperature", "top_p", "stop", "tools", "reasoning_effort", "user"} <= SPEC.supported


def test_request_url_and_headers() -> None:
    http, body = build()
    assert http.method == "POST"
    assert http.url == "https://api.anthropic.com/v1/messages"
    assert http.headers["x-api-key"] == "sk-ant-test"
    assert http.headers["anthropic-version"] == "2023-06-01"
    assert http.headers["content-type"] == "application/json"
    assert "authorization" not in http.headers
    assert body == {"model": MODEL, "messages": HELLO, "max_tokens": 4096}


def test_api_version_replaces_the_version_header() -> None:
    dep = Deployment(spec=SPEC, model=MODEL, api_base="http://h/anthropic/", api_key="k", api_version="2099-01-01")
    http, _ = build(dep=dep)
    assert http.headers["anthropic-version"] == "2099-01-01"
    assert http.url == "http://h/anthropic/v1/messages"


def test_conversation_becomes_the_documented_messages_body() -> None:
    case = load("request_conversation.json")
    _, body = build(case["messages"], **case["params"])
    assert body == case["expected"]


def test_single_system_message_is_a_plain_string() -> None:
    _, body = build([{"role": "system", "content": "Be brief."}, *HELLO])
    assert body["system"] == "Be brief."
    assert body["messages"] == HELLO


def test_cache_control_is_kept_on_parts_and_messages() -> None:
    messages = [
        {"role": "system", "content": "Long policy text", "cache_control": {"type": "ephemeral"}},
        {"role": "user", "content": [{"type": "text", "text": "Doc", "cache_control": {"type": "ephemeral"}},
                                     {"type": "text", "text": "Question?"}]},
    ]
    _, body = build(messages)
    assert body["system"] == [{"type": "text", "text": "Long policy text", "cache_control": {"type": "ephemeral"}}]
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_pdf_file_part_becomes_a_document_and_audio_is_refused() -> None:
    pdf = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}}
    _, body = build([{"role": "user", "content": [pdf]}])
    assert body["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}]
    audio = {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}
    with pytest.raises(exc.UnsupportedParamsError, match="input_audio"):
        build([{"role": "user", "content": [audio]}])


def test_thinking_blocks_from_an_earlier_answer_are_sent_back_first() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig"}
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [call], "thinking_blocks": [thinking]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "done"}]
    _, body = build(messages)
    assert body["messages"][1]["content"] == [thinking, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "done"}]}


def test_bad_tool_call_arguments_are_refused_before_sending() -> None:
    call = {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(exc.InvalidRequestError, match="not valid JSON"):
        build([*HELLO, {"role": "assistant", "content": None, "tool_calls": [call]}])


@pytest.mark.parametrize(("params", "expected"), [
    ({}, 4096),
    ({"max_tokens": 100}, 100),
    ({"max_completion_tokens": 200, "max_tokens": 100}, 200),
])
def test_max_tokens_is_always_sent(params: dict[str, Any], expected: int) -> None:
    assert build(**params)[1]["max_tokens"] == expected


def test_max_tokens_default_comes_from_the_deployment_options() -> None:
    assert build(dep=deployment(default_max_tokens=8192))[1]["max_tokens"] == 8192


@pytest.mark.parametrize(("effort", "budget", "max_tokens"), [
    ("minimal", 1024, 4096), ("low", 1024, 4096), ("medium", 2048, 4096),
    ("high", 4096, 8192), ("xhigh", 8192, 12288),
])
def test_reasoning_effort_becomes_a_thinking_budget_below_max_tokens(effort: str, budget: int,
                                                                    max_tokens: int) -> None:
    body = build(reasoning_effort=effort)[1]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == max_tokens > budget


def test_reasoning_effort_none_sends_no_thinking() -> None:
    assert "thinking" not in build(reasoning_effort="none")[1]


def test_explicit_max_tokens_lowers_the_thinking_budget() -> None:
    body = build(reasoning_effort="high", max_completion_tokens=3000)[1]
    assert body["max_tokens"] == 3000
    assert body["thinking"]["budget_tokens"] == 2999
    with pytest.raises(exc.InvalidRequestError, match="above 1024"):
        build(reasoning_effort="low", max_tokens=1000)


def test_sampling_params_are_renamed() -> None:
    body = build(temperature=0.5, top_p=0.9, stop=["a", "b"], safety_identifier="hash-1",
                 service_tier="default", n=1)[1]
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["stop_sequences"] == ["a", "b"]
    assert body["metadata"] == {"user_id": "hash-1"}
    assert body["service_tier"] == "standard_only"
    assert "n" not in body


def test_n_above_one_is_refused_unless_dropped() -> None:
    with pytest.raises(exc.UnsupportedParamsError, match="n > 1"):
        build(n=2)
    assert "n" not in build(n=2, drop_params=True)[1]


def test_unsupported_params_are_refused_or_dropped() -> None:
    request = build_request({"model": f"anthropic/{MODEL}", "messages": HELLO, "presence_penalty": 0.5,
                             "seed": 1})
    with pytest.raises(exc.UnsupportedParamsError, match="presence_penalty, seed"):
        select_params(request, SPEC)
    request = request.model_copy(update={"drop_params": True})
    assert select_params(request, SPEC)[1] == ("presence_penalty", "seed")


def test_text_completion_only_parameters_are_refused_or_dropped() -> None:
    """A text_completion() reaches Anthropic as one chat message: echo, best_of, suffix mean nothing there."""
    body = json.dumps(load("response_text.json")).encode()
    c = routerlib.Client(transport=MockTransport(lambda r: HTTPResponse(200, {}, body)), environ={})
    with pytest.raises(exc.UnsupportedParamsError, match="best_of, echo"):
        c.text_completion(f"anthropic/{MODEL}", "Say hi", echo=True, best_of=2, api_key="k", num_retries=0)
    answer = c.text_completion(f"anthropic/{MODEL}", "Say hi", echo=True, api_key="k", drop_params=True)
    assert answer.dropped_params == ("echo",)


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    tools = load("request_conversation.json")["params"]["tools"]
    assert build(tools=tools, tool_choice=choice)[1]["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    tools = load("request_conversation.json")["params"]["tools"]
    body = build(tools=tools, parallel_tool_calls=False)[1]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_response_format_json_schema_becomes_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    body = build(response_format=fmt)[1]
    assert body["tools"][-1]["name"] == "json_output"
    assert body["tools"][-1]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": "json_output"}
    body = build(response_format={"type": "json_object"})[1]
    assert body["tools"][-1]["input_schema"] == {"type": "object"}
    assert "tools" not in build(response_format={"type": "text"})[1]


def test_response_format_cannot_be_combined_with_thinking() -> None:
    with pytest.raises(exc.UnsupportedParamsError, match="reasoning_effort"):
        build(response_format={"type": "json_object"}, reasoning_effort="low")


def test_stream_and_extra_body() -> None:
    body = build(stream=True, extra_body={"top_k": 5})[1]
    assert body["stream"] is True and body["top_k"] == 5


# -- responses ----------------------------------------------------------------------------------

def test_parse_text_response() -> None:
    r = parse("response_text.json")
    assert r.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert r.model == MODEL
    assert r.choices[0].message.content == "Hi! My name is Claude."
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (2095, 503, 2598)
    assert r.usage.cached_tokens == 0


def test_parse_tool_use_response() -> None:
    r = parse("response_tool_use.json")
    message = r.choices[0].message
    assert message.content == "I'll check the current weather in San Francisco for you."
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.id == "toolu_01A09q90qw90lq917835lq9"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert r.choices[0].finish_reason == "tool_calls"


def test_parse_thinking_and_cache_usage() -> None:
    r = parse("response_thinking_cache.json")
    message = r.choices[0].message
    assert message.content == "Based on my analysis, the answer is 42."
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == "Let me analyze this step by step..."
    assert [b["type"] for b in extra["thinking_blocks"]] == ["thinking", "redacted_thinking"]
    usage = r.usage
    assert usage is not None
    assert usage.prompt_tokens == 21 + 1200 + 188086
    assert usage.cached_tokens == 1200
    assert usage.cache_creation_tokens == 188086
    assert usage.completion_tokens == 393
    assert usage.total_tokens == 21 + 1200 + 188086 + 393


def test_cache_usage_is_priced_per_bucket() -> None:
    usage = parse("response_thinking_cache.json").usage
    info = ModelMap.default().get("claude-sonnet-4-5", "anthropic")
    assert usage is not None and info is not None
    cost = compute_cost(usage, info)
    assert cost.input == 21 * info.input_cost_per_token  # type: ignore[operator]
    assert cost.cached_input == 1200 * info.cache_read_input_token_cost  # type: ignore[operator]
    assert cost.cache_creation == 188086 * info.cache_creation_input_token_cost  # type: ignore[operator]
    assert cost.total == cost.input + cost.cached_input + cost.cache_creation + cost.output
    assert cost.total > Decimal(0)


def test_parse_json_output_tool_as_content() -> None:
    r = parse("response_json_output.json", response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content or "") == {"name": "Ada Lovelace", "born": 1815}
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(("reason", "finish"), [
    (k, v) for k, v in load("stop_reasons.json").items() if not k.startswith("_")])
def test_stop_reason_mapping(reason: str, finish: str) -> None:
    data = load("response_tool_use.json") if reason == "tool_use" else load("response_text.json")
    data["stop_reason"] = reason
    assert parse(data).choices[0].finish_reason == finish


def test_unreadable_body_is_a_retryable_validation_error() -> None:
    request = build_request({"model": f"anthropic/{MODEL}", "messages": HELLO})
    with pytest.raises(exc.APIResponseValidationError) as info:
        SPEC.adapter.parse_response(200, {}, b"<html>gateway</html>", request, deployment())
    assert info.value.retryable
    with pytest.raises(exc.APIResponseValidationError):
        SPEC.adapter.parse_response(200, {}, b'{"type": "message"}', request, deployment())


# -- streams ------------------------------------------------------------------------------------

def test_stream_text_chunks_in_openai_order() -> None:
    chunks, parser = run_stream(load("stream_text.json")["events"])
    assert parser.done
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:3]] == ["Hello", "!"]
    assert chunks[3].choices[0].finish_reason == "stop"
    assert chunks[4].choices == [] and chunks[4].usage is not None
    assert (chunks[4].usage.prompt_tokens, chunks[4].usage.completion_tokens) == (25, 15)
    assert {c.id for c in chunks} == {"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"}
    assert {c.model for c in chunks} == {MODEL}
    assert accumulate(chunks).choices[0].message.content == "Hello!"


def test_stream_tool_use_pieces_reassemble() -> None:
    chunks, parser = run_stream(load("stream_tool_use.json")["events"])
    assert parser.done
    calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    first = calls[0][0]
    assert (first.index, first.id, first.function.name, first.function.arguments) == (
        0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", "")
    assert all(c[0].id is None and c[0].index == 0 for c in calls[1:])
    response = accumulate(chunks)
    message = response.choices[0].message
    assert message.content == "Okay, let's check the weather for San Francisco, CA:"
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {
        "location": "San Francisco, CA", "unit": "fahrenheit"}
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.usage is not None and response.usage.completion_tokens == 89


def test_stream_thinking_deltas_and_cached_usage() -> None:
    chunks, _ = run_stream(load("stream_thinking.json")["events"])
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "")
                        for c in chunks if c.choices)
    assert reasoning.startswith("I need to find the GCD") and reasoning.endswith("= 21")
    response = accumulate(chunks)
    assert response.choices[0].message.content == "The greatest common divisor of 1071 and 462 is **21**."
    usage = response.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (2040, 2000, 211)


def test_stream_json_output_tool_streams_as_content() -> None:
    events = [
        ["message_start", {"type": "message_start", "message": {"id": "msg_j", "model": MODEL,
                                                                "usage": {"input_tokens": 5}}}],
        ["content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_j", "name": "json_output", "input": {}}}],
        ["content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": "{\"a\": "}}],
        ["content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": "1}"}}],
        ["message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 6}}],
        ["message_stop", {"type": "message_stop"}],
    ]
    chunks, _ = run_stream(events, response_format={"type": "json_object"})
    response = accumulate(chunks)
    assert response.choices[0].message.content == '{"a": 1}'
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"


def test_stream_error_event_raises_the_typed_error_after_content() -> None:
    events = load("stream_error.json")["events"]
    request = build_request({"model": f"anthropic/{MODEL}", "messages": HELLO, "stream": True})
    parser = SPEC.adapter.stream_parser(request, deployment())
    seen: list[ChatCompletionChunk] = []
    with pytest.raises(exc.ServiceUnavailableError) as info:
        for event, data in iter_sse(iter(sse_lines(events))):
            seen += parser.feed(event, data)
    assert info.value.status_code == 529 and info.value.retryable
    assert info.value.message == "Overloaded"
    assert accumulate(seen).choices[0].message.content == "Once upon"


@pytest.mark.parametrize(("kind", "cls", "status"), [
    ("overloaded_error", exc.ServiceUnavailableError, 529),
    ("rate_limit_error", exc.RateLimitError, 429),
    ("api_error", exc.InternalServerError, 500),
    ("invalid_request_error", exc.BadRequestError, 400),
    ("authentication_error", exc.AuthenticationError, 401),
    ("permission_error", exc.PermissionDeniedError, 403),
    ("not_found_error", exc.NotFoundError, 404),
])
def test_stream_error_event_types(kind: str, cls: type[exc.APIError], status: int) -> None:
    parser = AnthropicStreamParser(deployment())
    data = json.dumps({"type": "error", "error": {"type": kind, "message": "boom"}}).encode()
    with pytest.raises(cls) as info:
        parser.feed("error", data)
    assert info.value.status_code == status
    assert info.value.provider == "anthropic"


def test_stream_ignores_ping_and_unknown_events_and_rejects_garbage() -> None:
    parser = AnthropicStreamParser(deployment())
    assert parser.feed("ping", b'{"type": "ping"}') == []
    assert parser.feed("future_event", b'{"type": "future_event", "x": 1}') == []
    with pytest.raises(exc.APIResponseValidationError):
        parser.feed("content_block_delta", b'{"type": "content_block_delta", "ind')


def test_stream_without_any_usage_sends_no_zero_usage_chunk() -> None:
    events = [["message_start", {"type": "message_start", "message": {"id": "m", "model": MODEL}}],
              ["content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": "hi"}}],
              ["message_delta", {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}}]]
    chunks, parser = run_stream(events)
    assert not parser.done  # no message_stop yet; the finish reason alone completes the stream
    assert chunks[-1].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks)


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", load("errors.json")["cases"], ids=lambda c: f"{c['status']}-{c['expect']}")
def test_documented_errors_are_classified(case: dict[str, Any]) -> None:
    headers = {"request-id": "req_header_1", **case.get("headers", {})}
    error = SPEC.adapter.parse_error(case["status"], headers, json.dumps(case["body"]).encode(), deployment())
    assert type(error).__name__ == case["expect"]
    assert error.status_code == case["status"]
    assert error.retryable is case["retryable"]
    assert error.request_id == "req_header_1"
    assert error.code == case["body"]["error"]["type"]
    assert error.message == case["body"]["error"]["message"]
    assert error.provider == "anthropic" and error.model == MODEL
    if "retry_after" in case:
        assert error.retry_after == case["retry_after"]


def test_the_client_sends_and_parses_through_the_adapter() -> None:
    body = json.dumps(load("response_text.json")).encode()
    transport = MockTransport(lambda request: HTTPResponse(200, {"request-id": "req_1"}, body))
    client = routerlib.Client(transport=transport, environ={"ANTHROPIC_API_KEY": "sk-env"})
    with pytest.warns(CostUnknownWarning):  # claude-3-5-sonnet-20241022 has no price in the packaged map
        response = client.completion(f"anthropic/{MODEL}", HELLO)
    assert isinstance(response, ModelResponse)
    assert response.provider == "anthropic" and response.cost is not None and response.cost.total is None
    sent = transport.requests[0]
    assert sent.url == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == "sk-env"


def test_empty_text_parts_and_tool_choice_without_tools_are_not_sent() -> None:
    content = [{"type": "text", "text": ""}, {"type": "text", "text": "Hi"}]
    _, body = build([{"role": "user", "content": content}], tool_choice="none")
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert "tool_choice" not in body


def test_loosely_typed_answers_still_parse() -> None:
    data = load("response_text.json")
    data["usage"] = {"input_tokens": 20.0, "output_tokens": 5}  # strict validation fails, lax passes
    usage = parse(data).usage
    assert usage is not None and usage.prompt_tokens == 20 and usage.total_tokens == 25


def test_usage_with_counts_that_are_not_integers_is_left_to_the_engine() -> None:
    from routerlib.exceptions import UsageWarning
    from routerlib.providers._anthropic_parse import normalise_usage

    with pytest.warns(UsageWarning, match="not integers"):
        assert normalise_usage({"input_tokens": 9, "output_tokens": [3]}) is None
    assert normalise_usage({"input_tokens": 9.0, "output_tokens": 3})["total_tokens"] == 12  # type: ignore[index]


def test_the_api_version_replaces_a_caller_header_of_any_case() -> None:
    dep = Deployment(spec=SPEC, model=MODEL, api_base="https://api.anthropic.com", api_key="sk-ant-test",
                     api_version="2099-01-01", headers={"Anthropic-Version": "2000-01-01"})
    request = build_request({"model": f"anthropic/{MODEL}", "messages": [{"role": "user", "content": "x"}]})
    headers = SPEC.adapter.build_request(request, {"max_tokens": 5}, dep).headers
    assert [v for k, v in headers.items() if k.lower() == "anthropic-version"] == ["2099-01-01"]
