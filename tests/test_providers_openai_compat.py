"""routerlib.providers.openai_compat: request building, response and stream parsing, never a raw KeyError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import KEY, MESSAGES, MODEL, chat_body, chunk, client, ok, sent_json, usage_chunk

from routerlib import exceptions as ex
from routerlib._request import build_request
from routerlib.providers.base import Deployment, ProviderSpec, select_params
from routerlib.providers.openai_compat import OpenAICompatAdapter, OpenAIStreamParser
from routerlib.providers.registry import builtin_specs, spec_from_row
from routerlib.transport import HTTPRequest
from routerlib.types import ChatCompletionChunk, ModelResponse, TextCompletion

ADAPTER = OpenAICompatAdapter()


def deployment(spec: ProviderSpec | None = None, **kwargs: Any) -> Deployment:
    fields: dict[str, Any] = {"model": "gpt-4o-mini", "api_base": "https://api.openai.com/v1/", "api_key": KEY}
    fields.update(kwargs)
    return Deployment(spec=spec or builtin_specs()["openai"], **fields)


def built(dep: Deployment | None = None, **params: Any) -> tuple[HTTPRequest, dict[str, Any]]:
    dep = dep or deployment()
    request = build_request({"model": MODEL, "messages": MESSAGES, **params})
    selected, _ = select_params(request, dep.spec)
    http = ADAPTER.build_request(request, selected, dep)
    return http, json.loads(http.body)


# -- build_request

def test_url_headers_and_body() -> None:
    http, body = built(temperature=0.2, max_tokens=50, seed=7, user="u1")
    assert http.method == "POST"
    assert http.url == "https://api.openai.com/v1/chat/completions"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["content-type"] == "application/json"
    assert body == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 50,
                    "seed": 7, "user": "u1"}


def test_routerlib_options_are_not_sent() -> None:
    _, body = built(num_retries=3, fallbacks=["openai/gpt-4o"], metadata={"team": "a"}, timeout=5,
                    input_cost_per_token="0.000001", drop_params=True, mock_response=None)
    assert set(body) == {"model", "messages"}


def test_text_completion_goes_to_completions() -> None:
    dep = deployment()
    request = build_request({"model": MODEL, "prompt": ("a", "b"), "max_tokens": 5})
    http = ADAPTER.build_request(request, select_params(request, dep.spec)[0], dep)
    assert http.url == "https://api.openai.com/v1/completions"
    assert json.loads(http.body) == {"model": "gpt-4o-mini", "prompt": ["a", "b"], "max_tokens": 5}


def test_text_completion_only_parameters_are_sent_to_completions() -> None:
    dep = deployment()
    request = build_request({"model": MODEL, "prompt": "Say", "echo": True, "best_of": 2, "suffix": "!"})
    http = ADAPTER.build_request(request, select_params(request, dep.spec)[0], dep)
    assert http.url == "https://api.openai.com/v1/completions"
    assert json.loads(http.body) == {"model": "gpt-4o-mini", "prompt": "Say", "echo": True, "best_of": 2,
                                     "suffix": "!"}


def test_headers_merge_spec_and_deployment() -> None:
    spec = spec_from_row({"name": "acme", "api_base": "https://acme/v1", "extra_headers": {"x-acme": "1"},
                          "auth": "x-api-key"})
    http, _ = built(deployment(spec, headers={"x-trace": "t1"}))
    assert http.headers["x-api-key"] == KEY
    assert "authorization" not in http.headers
    assert http.headers["x-acme"] == "1"
    assert http.headers["x-trace"] == "t1"


def test_no_key_no_auth_header() -> None:
    http, _ = built(deployment(api_key=None))
    assert "authorization" not in {k.lower() for k in http.headers}


def test_stream_forces_include_usage() -> None:
    _, body = built(stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    _, body = built(stream=True, stream_options={"include_usage": False, "other": 1})
    assert body["stream_options"] == {"include_usage": True, "other": 1}


def test_stream_options_without_stream_are_not_sent() -> None:
    # OpenAI answers 400 to stream_options on a non-streamed request.
    _, body = built(stream_options={"include_usage": True})
    assert "stream_options" not in body
    assert "stream" not in body


def test_stream_options_not_forced_where_unsupported() -> None:
    spec = spec_from_row({"name": "plain", "api_base": "http://x/v1", "unsupported": ["stream_options"]})
    _, body = built(deployment(spec), stream=True)
    assert body["stream"] is True
    assert "stream_options" not in body


def test_extra_body_is_merged_last() -> None:
    _, body = built(temperature=0.5, extra_body={"top_k": 20, "min_p": 0.1, "temperature": 0.7})
    assert body["top_k"] == 20
    assert body["min_p"] == 0.1
    assert body["temperature"] == 0.7


def test_unsupported_params_raise_or_drop() -> None:
    request = build_request({"model": MODEL, "messages": MESSAGES, "repetition_penalty": 1.1, "temperature": 1})
    with pytest.raises(ex.UnsupportedParamsError, match="repetition_penalty") as info:
        select_params(request, builtin_specs()["openai"])
    assert info.value.status_code is None
    dropping = build_request({"model": MODEL, "messages": MESSAGES, "repetition_penalty": 1.1, "temperature": 1,
                              "drop_params": True})
    params, dropped = select_params(dropping, builtin_specs()["openai"])
    assert params == {"temperature": 1}
    assert dropped == ("repetition_penalty",)


def test_renamed_params() -> None:
    spec = spec_from_row({"name": "old", "api_base": "http://x/v1", "renamed": {"max_completion_tokens": "max_tokens"}})
    _, body = built(deployment(spec), max_completion_tokens=64)
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body


def test_tools_and_response_format_are_sent_as_given() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    _, body = built(tools=[tool], tool_choice="required", parallel_tool_calls=False,
                    response_format={"type": "json_object"}, logprobs=True, top_logprobs=3, n=2)
    assert body["tools"] == [tool]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {"type": "json_object"}
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert body["n"] == 2


# -- parse_response

def parse(body: bytes | dict[str, Any], *, text: bool = False) -> ModelResponse | TextCompletion:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    params: dict[str, Any] = {"model": MODEL, "prompt": "x"} if text else {"model": MODEL, "messages": MESSAGES}
    return ADAPTER.parse_response(200, {"x-request-id": "req_1"}, raw, build_request(params), deployment())


def test_parse_valid_response() -> None:
    response = parse(chat_body("Hello!", system_fingerprint="fp_9"))
    assert isinstance(response, ModelResponse)
    assert response.choices[0].message.content == "Hello!"
    assert response.usage is not None and response.usage.total_tokens == 12
    assert response.system_fingerprint == "fp_9"


def test_parse_n_choices() -> None:
    body = chat_body("a")
    body["choices"].append({"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "b"}})
    response = parse(body)
    assert [(c.index, c.message.content, c.finish_reason) for c in response.choices] == [
        (0, "a", "stop"), (1, "b", "length")]


def test_parse_tool_calls() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
    body = chat_body(None)
    body["choices"][0]["message"]["tool_calls"] = [call]
    body["choices"][0]["finish_reason"] = "tool_calls"
    response = parse(body)
    assert isinstance(response, ModelResponse)
    calls = response.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].id == "call_1"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}
    assert response.model_dump()["choices"][0]["message"]["tool_calls"][0] == {**call, "index": None}


def test_logprobs_round_trip() -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.01, "bytes": [72, 105],
                             "top_logprobs": [{"token": "Hi", "logprob": -0.01, "bytes": [72, 105]}]}],
                "refusal": None}
    body = chat_body("Hi")
    body["choices"][0]["logprobs"] = logprobs
    response = parse(body)
    assert response.choices[0].logprobs == logprobs
    assert response.model_dump()["choices"][0]["logprobs"] == logprobs


def test_parse_text_completion() -> None:
    body = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": " world", "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    response = parse(body, text=True)
    assert isinstance(response, TextCompletion)
    assert response.choices[0].text == " world"


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"<html>502</html>", b"null", b"[]", b"42",
    b'{"id": "x"}', b'{"id": "x", "choices": null}', b'{"id": "x", "choices": [{"index": 0}]}',
    b'{"id": "x", "choices": []}', b'{"id": "x", "choices": "nope"}',
])
def test_unusable_2xx_is_a_typed_retryable_error(raw: bytes) -> None:
    with pytest.raises(ex.APIResponseValidationError) as info:
        parse(raw)
    error = info.value
    assert error.retryable is True
    assert error.provider == "openai" and error.model == "gpt-4o-mini"
    assert error.request_id == "req_1"


def test_unusable_2xx_is_retried_by_the_client() -> None:
    answers = iter([ok({"id": "x"}), ok()])
    c, transport = client(lambda request: next(answers))
    response = c.completion(MODEL, MESSAGES, api_key=KEY, num_retries=1)
    assert response.choices[0].message.content == "Hi!"
    assert len(transport.requests) == 2
    assert [a.error for a in response.attempts] == ["APIResponseValidationError", None]


def test_parse_error_uses_the_classifier() -> None:
    body = json.dumps({"error": {"message": "too long", "code": "context_length_exceeded"}}).encode()
    error = ADAPTER.parse_error(400, {"x-request-id": "r"}, body, deployment())
    assert isinstance(error, ex.ContextWindowExceededError)
    assert error.provider == "openai" and error.request_id == "r"


# -- stream parser

def feed_all(parser: OpenAIStreamParser, *events: bytes) -> list[Any]:
    out: list[Any] = []
    for data in events:
        out.extend(parser.feed(None, data))
    return out


def test_stream_parser_chunks_and_done() -> None:
    parser = ADAPTER.stream_parser(build_request({"model": MODEL, "messages": MESSAGES}), deployment())
    assert isinstance(parser, OpenAIStreamParser)
    chunks = feed_all(parser, json.dumps(chunk("Hi", role="assistant")).encode(),
                      json.dumps(chunk(finish="stop")).encode(), json.dumps(usage_chunk()).encode())
    assert [type(c) for c in chunks] == [ChatCompletionChunk] * 3
    assert chunks[0].choices[0].delta.content == "Hi"
    assert chunks[2].usage.total_tokens == 9
    assert parser.done is False
    assert parser.feed(None, b"[DONE]") == []
    assert parser.done is True


def test_stream_parser_mid_stream_error_object() -> None:
    parser = OpenAIStreamParser(deployment())
    feed_all(parser, json.dumps(chunk("Hi")).encode())
    with pytest.raises(ex.RateLimitError) as info:
        parser.feed(None, json.dumps({"error": {"message": "Rate limit reached", "type": "requests",
                                                "code": 429}}).encode())
    assert info.value.message == "Rate limit reached"
    with pytest.raises(ex.InternalServerError, match="The server had an error"):
        parser.feed(None, b'{"error": {"message": "The server had an error", "type": "server_error"}}')


def test_stream_parser_malformed_chunk_is_an_error_not_skipped() -> None:
    parser = OpenAIStreamParser(deployment())
    with pytest.raises(ex.APIResponseValidationError, match="malformed stream chunk") as info:
        parser.feed(None, b'{"id": "c", "choices": [{"delta": {"content": "Hel')
    assert info.value.retryable is True
    with pytest.raises(ex.APIResponseValidationError):
        parser.feed(None, b'{"choices": [{"delta": "not a delta"}]}')


def test_stream_parser_tool_call_pieces() -> None:
    parser = OpenAIStreamParser(deployment())
    pieces = [
        chunk(tool_calls=[{"index": 0, "id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": "{\"ci"}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": "ty\": \"Oslo\"}"}}]),
    ]
    chunks = feed_all(parser, *(json.dumps(p).encode() for p in pieces))
    assert chunks[0].choices[0].delta.tool_calls[0].id == "call_1"
    assert chunks[1].choices[0].delta.tool_calls[0].function.arguments == "{\"ci"


def test_text_stream_parser_gives_text_chunks() -> None:
    parser = ADAPTER.stream_parser(build_request({"model": MODEL, "prompt": "x", "stream": True}), deployment())
    out = parser.feed(None, b'{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", '
                            b'"choices": [{"index": 0, "text": "Hi", "finish_reason": null, "logprobs": null}]}')
    assert isinstance(out[0], TextCompletion)
    assert out[0].choices[0].text == "Hi"


def test_request_body_through_the_client_for_n_and_tools() -> None:
    c, transport = client(ok())
    tool = {"type": "function", "function": {"name": "f"}}
    c.completion(MODEL, MESSAGES, api_key=KEY, n=3, tools=[tool], logprobs=True, top_logprobs=2)
    body = sent_json(transport)
    assert body["n"] == 3 and body["tools"] == [tool] and body["top_logprobs"] == 2


def test_unusable_2xx_chains_the_parse_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ex.APIResponseValidationError) as info:
        parse(b"{not json")
    assert isinstance(info.value.__cause__, ValidationError)
    assert "{not json" in info.value.message


def test_an_error_inside_a_200_is_raised_as_the_error_it_carries() -> None:
    from routerlib.providers.openai_compat import OpenAICompatAdapter

    body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": 429}}'
    dep = _deployment_for_errors()
    with pytest.raises(ex.RateLimitError) as info:
        OpenAICompatAdapter().parse_response(200, {}, body, _chat_request_for_errors(), dep)
    assert info.value.message == "Rate limit reached"
    body = b'{"error": {"message": "boom", "type": "server_error", "code": null}}'
    with pytest.raises(ex.InternalServerError):
        OpenAICompatAdapter().parse_response(200, {}, body, _chat_request_for_errors(), dep)


def _deployment_for_errors() -> Any:
    from routerlib.providers import Deployment, builtin_specs

    return Deployment(spec=builtin_specs()["openai"], model="gpt-4o-mini", api_base="http://x/v1", api_key="k")


def _chat_request_for_errors() -> Any:
    from routerlib._request import build_request

    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


# -- headers: one per name, whatever its case

def test_a_caller_header_replaces_routerlib_s_of_the_same_name_in_any_case() -> None:
    dep = deployment(headers={"Authorization": "Bearer other-token", "Content-Type": "application/json; x=1",
                              "X-Extra": "1"})
    headers = built(dep)[0].headers
    lowered = [k.lower() for k in headers]
    assert sorted(lowered) == sorted(set(lowered)), "each header is sent once"
    assert headers["Authorization"] == "Bearer other-token" and headers["X-Extra"] == "1"
    assert headers["Content-Type"] == "application/json; x=1"


def test_a_body_that_cannot_serialise_is_a_typed_error_before_sending() -> None:
    # build_request refuses these; a request made another way (a router, an adapter's additions) still fails typed.
    dep = deployment()
    request = build_request({"model": MODEL, "messages": MESSAGES})
    with pytest.raises(ex.InvalidRequestError, match="cannot be sent as JSON"):
        ADAPTER.build_request(request, {"temperature": object()}, dep)


# -- embeddings

def embedding_request(**params: Any) -> Any:
    from routerlib._embedding import build_embedding_request

    return build_embedding_request({"model": "openai/text-embedding-3-small", "input": ["a", "b"], **params})


def embedding_answer(*indexes: int) -> bytes:
    return json.dumps({"object": "list", "model": "text-embedding-3-small",
                       "data": [{"object": "embedding", "index": i, "embedding": [float(i)]} for i in indexes],
                       "usage": {"prompt_tokens": 2, "total_tokens": 2}}).encode()


def test_embedding_request_url_headers_and_body() -> None:
    dep = deployment(model="text-embedding-3-small")
    request = embedding_request(dimensions=256, encoding_format="float", user="u", extra_body={"x": 1},
                                num_retries=1, input_cost_per_token="0.1")
    selected, _ = select_params(request, dep.spec)
    http = ADAPTER.build_embedding_request(request, selected, dep)
    assert http.url == "https://api.openai.com/v1/embeddings" and http.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(http.body) == {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256,
                                     "encoding_format": "float", "user": "u", "x": 1}


def test_embeddings_come_back_in_input_order() -> None:
    response = ADAPTER.parse_embedding_response(200, {}, embedding_answer(1, 0), embedding_request(), deployment())
    assert [(d.index, d.embedding) for d in response.data] == [(0, [0.0]), (1, [1.0])]
    assert response.usage is not None and response.usage.prompt_tokens == 2


@pytest.mark.parametrize(("body", "said"), [
    (embedding_answer(0), "1 embeddings for 2 inputs"),
    (embedding_answer(0, 5), "indexes that match no input"),
    (b'{"object": "list", "data": "nope"}', "not a valid list of embeddings"),
    (b"<html>", "not a valid list of embeddings"),
])
def test_an_unusable_embedding_answer_is_a_retryable_validation_error(body: bytes, said: str) -> None:
    with pytest.raises(ex.APIResponseValidationError, match=said) as caught:
        ADAPTER.parse_embedding_response(200, {}, body, embedding_request(), deployment())
    assert caught.value.retryable


def test_an_error_inside_a_2xx_embedding_answer_is_typed() -> None:
    body = b'{"error": {"message": "slow down", "type": "rate_limit", "code": 429}}'
    with pytest.raises(ex.RateLimitError):
        ADAPTER.parse_embedding_response(200, {}, body, embedding_request(), deployment())
