"""routerlib._request: every parameter is validated into one frozen request before anything is sent."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from core_helpers import KEY, MESSAGES, MODEL, client, never_called, ok
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import routerlib
from routerlib._request import ACCEPTED, PROVIDER_PARAMS, ChatRequest, build_request
from routerlib.exceptions import BadRequestError, InvalidRequestError


def build(**params: Any) -> ChatRequest:
    return build_request({"model": MODEL, "messages": MESSAGES, **params})


def rejected(**params: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        build(**params)
    error = info.value
    assert isinstance(error, BadRequestError)
    assert error.status_code is None, "a locally raised error has no HTTP status"
    return error


# -- ranges: each message names the parameter, the value and what is allowed

@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("temperature", 2.5, "less than or equal to 2"),
    ("temperature", -0.1, "greater than or equal to 0"),
    ("top_p", 1.5, "less than or equal to 1"),
    ("top_p", -0.5, "greater than or equal to 0"),
    ("presence_penalty", 2.01, "less than or equal to 2"),
    ("presence_penalty", -3, "greater than or equal to -2"),
    ("frequency_penalty", 9, "less than or equal to 2"),
    ("frequency_penalty", -2.5, "greater than or equal to -2"),
    ("repetition_penalty", 0, "greater than 0"),
    ("repetition_penalty", -1.0, "greater than 0"),
    ("n", 0, "greater than or equal to 1"),
    ("max_tokens", 0, "greater than or equal to 1"),
    ("max_completion_tokens", -5, "greater than or equal to 1"),
    ("top_logprobs", 21, "less than or equal to 20"),
    ("top_logprobs", -1, "greater than or equal to 0"),
])
def test_out_of_range_values_are_named(name: str, value: float, allowed: str) -> None:
    extra = {"logprobs": True} if name == "top_logprobs" else {}
    error = rejected(**{name: value}, **extra)
    assert f"{name}={value!r}" in str(error)
    assert allowed in str(error)
    assert error.code == "invalid_parameter"


@pytest.mark.parametrize(("name", "value"), [
    ("temperature", 0), ("temperature", 2), ("top_p", 0), ("top_p", 1), ("presence_penalty", -2),
    ("frequency_penalty", 2), ("repetition_penalty", 0.01), ("n", 1), ("max_tokens", 1),
    ("max_completion_tokens", 1),
])
def test_boundaries_are_accepted(name: str, value: float) -> None:
    assert getattr(build(**{name: value}), name) == value


def test_top_logprobs_needs_logprobs_true() -> None:
    error = rejected(top_logprobs=5)
    assert "top_logprobs=5" in str(error)
    assert "logprobs=True" in str(error)
    rejected(top_logprobs=5, logprobs=False)
    assert build(top_logprobs=5, logprobs=True).top_logprobs == 5
    assert build(top_logprobs=0, logprobs=True).top_logprobs == 0
    assert build(top_logprobs=20, logprobs=True).top_logprobs == 20


def test_stop_at_most_four_sequences() -> None:
    assert build(stop=["a", "b", "c", "d"]).stop == ("a", "b", "c", "d")
    assert build(stop="END").stop == "END"
    error = rejected(stop=["a", "b", "c", "d", "e"])
    assert "stop=['a', 'b', 'c', 'd', 'e']" in str(error)
    assert "at most 4" in str(error)


@pytest.mark.parametrize(("name", "bad", "good"), [
    ("reasoning_effort", "extreme", ["none", "minimal", "low", "medium", "high", "xhigh"]),
    ("verbosity", "loud", ["low", "medium", "high"]),
    ("router_preference", "cheap", ["balanced", "powerful", "efficient"]),
])
def test_enumerations(name: str, bad: str, good: list[str]) -> None:
    for value in good:
        assert getattr(build(**{name: value}), name) == value
    error = rejected(**{name: bad})
    assert f"{name}={bad!r}" in str(error)
    for value in good:
        assert repr(value) in str(error), f"{value} should be listed as allowed"


def test_nan_temperature_is_rejected() -> None:
    assert "temperature=nan" in str(rejected(temperature=math.nan))


# -- messages

def test_messages_must_not_be_empty() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages=\[\]: at least one message is required"):
        build_request({"model": MODEL, "messages": []})


def test_messages_must_be_a_list_of_dicts() -> None:
    with pytest.raises(InvalidRequestError, match="messages"):
        build_request({"model": MODEL, "messages": "hello"})
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]"):
        build_request({"model": MODEL, "messages": ["hello"]})


@pytest.mark.parametrize("role", ["system", "developer", "user", "assistant", "function"])
def test_every_documented_role_is_accepted(role: str) -> None:
    assert build_request({"model": MODEL, "messages": [{"role": role, "content": "x"}]}).messages[0]["role"] == role


def test_tool_role_is_accepted_with_tool_call_id() -> None:
    message = {"role": "tool", "content": "42", "tool_call_id": "call_1"}
    assert build_request({"model": MODEL, "messages": [message]}).messages[0] == message


def test_unknown_role_is_named_with_the_allowed_roles() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": MODEL, "messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "x"}]})
    text = str(info.value)
    assert "messages[1].role='bot'" in text
    for role in ("system", "developer", "user", "assistant", "tool", "function"):
        assert role in text


def test_missing_role_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.role=None"):
        build_request({"model": MODEL, "messages": [{"content": "x"}]})


def test_content_parts_of_every_documented_type_are_accepted() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
    request = build_request({"model": MODEL, "messages": [{"role": "user", "content": parts}]})
    assert request.messages[0]["content"] == parts


def test_unknown_content_part_type_is_named() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "video"}]}]})
    text = str(info.value)
    assert "messages[0].content[0].type='video'" in text
    for kind in ("text", "image_url", "input_audio", "file"):
        assert kind in text


def test_content_of_another_type_is_rejected() -> None:
    expected = r"messages\[0\]\.content: must be a string or a list of parts, got int"
    with pytest.raises(InvalidRequestError, match=expected):
        build_request({"model": MODEL, "messages": [{"role": "user", "content": 5}]})


def test_content_is_required_except_for_assistant() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content: required for role 'user'"):
        build_request({"model": MODEL, "messages": [{"role": "user"}]})
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [tool_call]}]
    assert len(build_request({"model": MODEL, "messages": messages}).messages) == 2


def test_tool_message_needs_tool_call_id() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]: a tool message needs tool_call_id"):
        build_request({"model": MODEL, "messages": [{"role": "tool", "content": "42"}]})


# -- unknown names, aliases, deprecated parameters

def test_unknown_keyword_names_it_and_the_closest_valid_names() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(temprature=0.5)
    text = str(info.value)
    assert "'temprature'" in text
    assert "did you mean temperature" in text
    assert info.value.code == "unknown_parameter"


def test_unknown_keyword_without_close_match_still_named() -> None:
    with pytest.raises(InvalidRequestError, match="'zzzzqqq'"):
        build(zzzzqqq=1)


def test_every_unknown_keyword_is_named() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(max_token=5, top_k=3)
    text = str(info.value)
    assert "'max_token'" in text and "max_tokens" in text
    assert "'top_k'" in text and "extra_body" in text


def test_unknown_keyword_raises_before_any_network_call() -> None:
    c, transport = client(never_called)
    with pytest.raises(InvalidRequestError, match="frequncy_penalty"):
        c.completion(MODEL, MESSAGES, api_key=KEY, frequncy_penalty=1)
    assert transport.requests == []


def test_bad_value_raises_before_any_network_call() -> None:
    c, transport = client(never_called)
    with pytest.raises(InvalidRequestError, match="temperature=7"):
        c.completion(MODEL, MESSAGES, api_key=KEY, temperature=7)
    assert transport.requests == []


def test_base_url_is_api_base() -> None:
    assert build(base_url="http://localhost:8000/v1").api_base == "http://localhost:8000/v1"


def test_conflicting_base_url_and_api_base_is_an_error() -> None:
    with pytest.raises(InvalidRequestError, match="base_url and api_base"):
        build(base_url="http://a/v1", api_base="http://b/v1")
    assert build(base_url="http://a/v1", api_base="http://a/v1").api_base == "http://a/v1"


def test_max_retries_is_num_retries() -> None:
    assert build(max_retries=0).num_retries == 0
    assert build(max_retries=3).num_retries == 3


def test_num_retries_zero_is_a_real_zero() -> None:
    assert build(num_retries=0).num_retries == 0
    assert build().num_retries is None


def test_extra_headers_are_merged_into_headers() -> None:
    request = build(headers={"x-a": "1", "x-b": "1"}, extra_headers={"x-b": "2", "x-c": "3"})
    assert dict(request.headers or {}) == {"x-a": "1", "x-b": "2", "x-c": "3"}
    assert dict(build(extra_headers={"x-c": "3"}).headers or {}) == {"x-c": "3"}


def test_functions_are_mapped_to_tools() -> None:
    fn = {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    request = build(functions=[fn], function_call={"name": "get_weather"})
    assert request.tools == ({"type": "function", "function": fn},)
    assert request.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert build(functions=[fn], function_call="auto").tool_choice == "auto"


def test_explicit_tools_win_over_functions() -> None:
    tool = {"type": "function", "function": {"name": "a"}}
    request = build(tools=[tool], functions=[{"name": "b"}], tool_choice="none", function_call="auto")
    assert request.tools == (tool,)
    assert request.tool_choice == "none"


# -- response_format from a pydantic class

class Answer(BaseModel):
    city: str
    population: int = 0


class Nested(BaseModel):
    answer: Answer
    notes: list[str] = []


def test_response_format_from_a_pydantic_class() -> None:
    request = build(response_format=Answer)
    fmt = dict(request.response_format or {})
    assert fmt["type"] == "json_schema"
    spec = fmt["json_schema"]
    assert spec["name"] == "Answer"
    assert spec["strict"] is True
    schema = spec["schema"]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"city", "population"}
    assert schema["additionalProperties"] is False


def test_response_format_strict_schema_requires_every_property() -> None:
    # OpenAI's strict mode rejects a schema whose "required" omits a property (here: a defaulted one).
    schema = dict(build(response_format=Nested).response_format or {})["json_schema"]["schema"]
    assert sorted(schema["required"]) == ["answer", "notes"]
    inner = schema["$defs"]["Answer"]
    assert sorted(inner["required"]) == ["city", "population"]
    assert inner["additionalProperties"] is False


def test_response_format_dict_is_kept() -> None:
    assert dict(build(response_format={"type": "json_object"}).response_format or {}) == {"type": "json_object"}


def test_response_format_other_class_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="response_format"):
        build(response_format=int)


# -- the request object

def test_request_is_frozen() -> None:
    request = build(temperature=0.5)
    with pytest.raises(Exception, match="frozen"):
        request.temperature = 1.0  # type: ignore[misc]


def test_provider_params_are_fields() -> None:
    assert set(PROVIDER_PARAMS) <= set(ChatRequest.model_fields)
    for name in ("base_url", "max_retries", "extra_headers", "functions", "function_call"):
        assert name in ACCEPTED


def test_the_whole_documented_parameter_set_is_accepted() -> None:
    documented = [
        "model", "messages", "timeout", "temperature", "top_p", "n", "stream", "stream_options", "stop",
        "max_completion_tokens", "max_tokens", "modalities", "prediction", "audio", "presence_penalty",
        "frequency_penalty", "logit_bias", "user", "reasoning_effort", "verbosity", "response_format", "seed",
        "tools", "tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs", "web_search_options",
        "safety_identifier", "service_tier", "deployment_id", "functions", "function_call", "api_base",
        "base_url", "api_version", "api_key", "model_list", "headers", "extra_headers", "metadata", "extra_body",
        "drop_params", "repetition_penalty", "router_preference", "num_retries", "max_retries", "fallbacks",
        "context_window_fallback_dict", "input_cost_per_token", "output_cost_per_token", "input_cost_per_second",
        "output_cost_per_second", "initial_prompt_value", "roles", "final_prompt_value", "bos_token", "eos_token",
        "hf_model_name", "mock_response",
    ]
    missing = [name for name in documented if name not in ACCEPTED]
    assert missing == []


def test_wants_usage_chunk() -> None:
    assert build(stream=True, stream_options={"include_usage": True}).wants_usage_chunk
    assert not build(stream=True).wants_usage_chunk
    assert not build(stream=True, stream_options={"include_usage": False}).wants_usage_chunk


# -- secrets

def test_api_key_never_in_repr_or_str() -> None:
    request = build(api_key=KEY, headers={"Authorization": f"Bearer {KEY}", "x-ok": "visible"},
                    fallbacks=[{"model": "openai/gpt-4o", "api_key": KEY}],
                    model_list=[{"model_name": MODEL, "litellm_params": {"model": MODEL, "api_key": KEY}}])
    assert request.api_key == KEY
    for text in (repr(request), str(request)):
        assert KEY not in text
        assert "visible" in text, "only secrets are hidden"
        assert "openai/gpt-4o" in text


def test_api_key_never_in_validation_errors() -> None:
    error = rejected(api_key=12345678901234)
    assert "12345678901234" not in str(error)
    error = rejected(headers={"x-api-key": KEY, "x-n": 1})
    assert KEY not in str(error)
    assert "headers=" in str(error)


# -- property: the temperature range

@given(st.floats(min_value=0, max_value=2, allow_nan=False))
def test_valid_temperatures_are_accepted(value: float) -> None:
    assert build(temperature=value).temperature == value


@given(st.one_of(st.floats(max_value=0, exclude_max=True), st.floats(min_value=2, exclude_min=True),
                 st.just(math.nan)))
def test_invalid_temperatures_are_rejected(value: float) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(temperature=value)
    assert re.search(r"temperature=", str(info.value))


def test_client_validates_text_completion_prompt() -> None:
    c, transport = client(never_called)
    with pytest.raises(InvalidRequestError, match="prompt"):
        c.text_completion(MODEL, 42, api_key=KEY)  # type: ignore[arg-type]
    assert transport.requests == []


def test_module_level_completion_validates_too() -> None:
    with pytest.raises(InvalidRequestError, match="temperature=3"):
        routerlib.completion(MODEL, MESSAGES, temperature=3, mock_response="x")


def test_prompt_and_messages_together_are_rejected() -> None:
    # completion(..., prompt=...) would otherwise turn a chat call into a /completions call.
    c, transport = client(never_called)
    with pytest.raises(InvalidRequestError, match="prompt and messages"):
        c.completion(MODEL, MESSAGES, api_key=KEY, prompt="x")
    with pytest.raises(InvalidRequestError, match="prompt and messages"):
        c.text_completion(MODEL, "x", api_key=KEY, messages=MESSAGES)  # type: ignore[call-arg]
    assert transport.requests == []


def test_logprobs_is_a_flag_for_chat_and_a_count_for_text_completion() -> None:
    from routerlib._request import build_request

    text = build_request({"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Hi", "logprobs": 3})
    assert text.logprobs == 3 and not isinstance(text.logprobs, bool)
    chat = build_request({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
                          "logprobs": True, "top_logprobs": 2})
    assert chat.logprobs is True
    with pytest.raises(InvalidRequestError, match=r"logprobs=3: chat completions take true or false"):
        build_request({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "logprobs": 3})
    with pytest.raises(InvalidRequestError, match=r"logprobs=9: text_completion takes an integer 0\.\.5"):
        build_request({"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Hi", "logprobs": 9})


def test_a_validation_error_chains_nothing_that_holds_the_key() -> None:
    import traceback

    from routerlib._request import build_request

    secret = "sk-" + "SECRET-2"  # built at run time: the traceback's source lines must not show it
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "openai/gpt-4o", "messages": [], "api_key": secret})
    printed = "".join(traceback.format_exception(info.value))
    assert secret not in printed


@pytest.mark.parametrize(("name", "value"), [
    ("temperature", True), ("temperature", "0.5"), ("stream", "yes"), ("stream", 1), ("n", 2.0),
    ("max_tokens", "100"), ("num_retries", True), ("drop_params", "true"), ("timeout", "30"),
])
def test_values_of_the_wrong_type_are_refused_not_coerced(name: str, value: object) -> None:
    from routerlib._request import build_request

    with pytest.raises(InvalidRequestError, match=name):
        build_request({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}], name: value})


def test_whole_numbers_are_fine_where_a_float_is_expected() -> None:
    from routerlib._request import build_request

    request = build_request({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
                             "temperature": 1, "timeout": 30})
    assert request.temperature == 1.0 and request.timeout == 30.0


def test_misspelt_template_roles_are_refused() -> None:
    from routerlib._request import build_request

    base = {"model": "text-completion-openai/m", "messages": [{"role": "user", "content": "Hi"}]}
    with pytest.raises(InvalidRequestError, match="pre_message"):
        build_request({**base, "roles": {"user": {"pre": "[U]"}}})
    with pytest.raises(InvalidRequestError, match="roles"):
        build_request({**base, "roles": {"usr": {"pre_message": "[U]"}}})
    assert build_request({**base, "roles": {"user": {"pre_message": "[U]"}}}).roles is not None


# -- parameters LiteLLM accepts

def test_request_timeout_is_an_alias_of_timeout() -> None:
    assert build(request_timeout=5).timeout == 5
    assert build(request_timeout=5, timeout=5).timeout == 5
    error = rejected(request_timeout=5, timeout=6)
    assert "request_timeout and timeout" in str(error)
    assert "timeout=0: Input should be greater than 0" in str(rejected(request_timeout=0))


def test_custom_llm_provider_prefixes_the_model() -> None:
    assert build_request({"model": "gpt-4o-mini", "messages": MESSAGES,
                          "custom_llm_provider": "openai"}).model == "openai/gpt-4o-mini"
    assert build_request({"model": "openai/gpt-4o-mini", "messages": MESSAGES,
                          "custom_llm_provider": "openai"}).model == "openai/gpt-4o-mini"  # not doubled
    assert build_request({"model": "meta/llama-3", "messages": MESSAGES,
                          "custom_llm_provider": "together_ai"}).model == "together_ai/meta/llama-3"
    assert build(custom_llm_provider=None).model == MODEL
    for bad in ("", "a/b", 3):
        with pytest.raises(InvalidRequestError, match="custom_llm_provider"):
            build(custom_llm_provider=bad)


def test_custom_llm_provider_routes_the_call() -> None:
    c, transport = client(ok())
    c.completion("gpt-4o-mini", MESSAGES, custom_llm_provider="openai", api_key=KEY, api_base="http://h/v1")
    assert transport.requests[0].url == "http://h/v1/chat/completions"


def test_text_completion_only_parameters() -> None:
    request = build_request({"model": MODEL, "prompt": "Say", "echo": True, "best_of": 3, "suffix": "!"})
    assert (request.echo, request.best_of, request.suffix) == (True, 3, "!")
    error = rejected(echo=True)
    assert "only for text_completion" in str(error)
    assert "best_of=0" in str(rejected(best_of=0, prompt="x", messages=()))
    assert "echo='yes'" in str(rejected(echo="yes", prompt="x", messages=()))
    assert {"echo", "best_of", "suffix"} <= set(PROVIDER_PARAMS)
# -- hardening (issue 10 item 15, issue 13 item 7): checks on shapes adapters read

def test_a_validation_error_has_no_context_at_all() -> None:
    # raise ... from None only hides pydantic's error (input_value holds the key) from the printed traceback;
    # __context__ still held it for any tool that walks the chain.
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": MODEL, "messages": [], "api_key": KEY})
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(("message", "expected"), [
    ({"role": {"x": 1}, "content": "a"}, r"messages\[0\].role="),
    ({"role": "user", "content": [{"type": {"x": 1}}]}, r"messages\[0\].content\[0\].type="),
    ({"role": "user", "content": [{"type": "text", "text": 5}]}, "a text part needs 'text'"),
    ({"role": "user", "content": [{"type": "text"}]}, "a text part needs 'text'"),
    ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": 5}}]}, "an image_url part needs"),
    ({"role": "user", "content": [{"type": "image_url"}]}, "an image_url part needs"),
    ({"role": "user", "content": [{"type": "input_audio", "input_audio": "AAAA"}]}, "input_audio part needs"),
    ({"role": "user", "content": [{"type": "file", "file": "f"}]}, "a file part needs"),
    ({"role": "user", "content": [{"type": "text", "text": "a", "cache_control": "x"}]}, "cache_control"),
    ({"role": "tool", "content": "42", "tool_call_id": 7}, "tool_call_id"),
    ({"role": "user", "content": "a", "name": 5}, r"messages\[0\].name"),
    ({"role": "assistant", "content": None, "tool_calls": 5}, "tool_calls: must be a list"),
    ({"role": "assistant", "content": None, "tool_calls": [{"function": {"arguments": "{}"}}]}, r"tool_calls\[0\]"),
    ({"role": "assistant", "content": None, "tool_calls": [{"id": 1, "function": {"name": "f"}}]}, r"tool_calls\[0\]"),
    ({"role": "assistant", "content": "a", "thinking_blocks": 5}, "thinking_blocks"),
    ({"role": "user", "content": "a", "cache_control": "ephemeral"}, "cache_control"),
])
def test_message_shapes_adapters_read_are_checked(message: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidRequestError, match=expected):
        build_request({"model": MODEL, "messages": [message]})


@pytest.mark.parametrize(("params", "expected"), [
    ({"tools": [{"function": {"name": "f"}}]}, "each tool is a dict with a 'type'"),
    ({"tools": [{"type": "function"}]}, "a function tool needs"),
    ({"tools": [{"type": "function", "function": {"name": ""}}]}, "a function tool needs"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}, "JSON schema object"),
    ({"tools": [{"type": "function", "function": {"name": "f", "description": 1}}]}, "description"),
    ({"tool_choice": "any"}, "allowed strings are 'none', 'auto', 'required'"),
    ({"tool_choice": {"type": "function"}}, "a dict tool_choice needs"),
    ({"tool_choice": {"function": {"name": "f"}}}, "a dict tool_choice needs"),
    ({"response_format": {"type": "xml"}}, "allowed types are text, json_object, json_schema"),
    ({"response_format": {"type": "json_schema"}}, "needs 'json_schema'"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 5}}}, "needs 'json_schema'"),
    ({"functions": 5}, "functions: must be a list"),
    ({"function_call": 5}, "function_call: must be"),
    ({"deployment_id": "../x"}, "goes into the URL path"),
    ({"api_version": "2024-10-21\r\nX: y"}, "api_version="),
    ({"context_window_fallback_dict": {"a": "openai/"}}, "names no model"),
    ({"hf_model_name": "meta/llama\n"}, "hf_model_name="),
])
def test_tool_format_and_routing_shapes_are_checked(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidRequestError, match=expected):
        build(**params)


def test_well_formed_tools_and_formats_pass() -> None:
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    request = build(tools=[tool, {"type": "custom", "custom": {"name": "g"}}], tool_choice={"type": "function",
                    "function": {"name": "f"}}, response_format={"type": "json_schema",
                                                                  "json_schema": {"name": "x", "schema": {}}})
    assert request.tools is not None and len(request.tools) == 2


# -- the whole surface through every adapter, without I/O: a sendable request or a typed local error

_circ: list[Any] = []
_circ.append(_circ)
_ATOMS = [None, True, False, 0, -1, 1, 2**70, 0.5, math.nan, math.inf, "", " ", "x", "\n", "a\r\nb", "\ud800", "é",
          "日本", "a\x00b", [], [1], {}, {"a": 1}, {"a": object()}, _circ, b"\xff", object(), ("t",), {"type": "text"}]
_text = st.one_of(st.sampled_from(["", " ", "x", "\n", "\ud800", "é", "a:b", "..", "/", "?", "#", "http://h:1/v1",
                                   "localhost:1", "openai/", "openai/gpt-4o"]), st.text(max_size=6))
_any = st.recursive(st.one_of(st.sampled_from(_ATOMS), _text, st.integers(), st.floats()),
                    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(_text, c, max_size=3)), max_leaves=5)
_image = st.one_of(_any, st.fixed_dictionaries({"url": _any}))
_part = st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["text", "image_url", "input_audio", "file"]), _any)},
                              optional={"text": _any, "image_url": _image, "input_audio": _any, "file": _any,
                                        "cache_control": _any})
_call = st.fixed_dictionaries({}, optional={"id": _any, "function": st.one_of(
    _any, st.fixed_dictionaries({}, optional={"name": _any, "arguments": _any}))})
_message = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["system", "user", "assistant", "tool", "developer", "function"]), _any)},
    optional={"content": st.one_of(_text, _any, st.lists(_part, max_size=2)), "tool_call_id": _any, "name": _any,
              "tool_calls": st.one_of(_any, st.lists(_call, max_size=2)), "cache_control": _any,
              "thinking_blocks": _any})
_ENTRY_KEYS = ["model", "api_base", "base_url", "api_key", "api_version", "headers", "extra_headers", "timeout",
               "input_cost_per_token", "azure_ad_token"]
_entry = st.dictionaries(st.sampled_from(_ENTRY_KEYS), st.one_of(_text, _any), max_size=3).map(
    lambda d: {"model": "openai/gpt-4o", **d})
_SHAPED = {
    "messages": st.lists(_message, min_size=1, max_size=2),
    "headers": st.dictionaries(_text, st.one_of(_text, _any), max_size=2),
    "tools": st.lists(st.one_of(_any, st.fixed_dictionaries({"type": st.one_of(st.just("function"), _any)}, optional={
        "function": st.one_of(_any, st.fixed_dictionaries({"name": _any}, optional={"parameters": _any}))})),
        max_size=2),
    "fallbacks": st.lists(st.one_of(_entry, _text), max_size=2),
    "model_list": st.lists(_entry.map(lambda d: {"model_name": "m", "litellm_params": d}), max_size=2),
    "api_base": st.one_of(_text, _any),
}
_FUZZED = sorted(ACCEPTED - {"model", "policy", "api_key", "mock_response"})


def _sendable(request: Any) -> None:
    """What http.client and a strict JSON server would take."""
    import json

    assert request.url.isascii() and request.url.isprintable() and " " not in request.url
    for name, value in request.headers.items():
        name.encode("ascii")
        value.encode("latin-1")
        assert not any(c in value for c in "\r\n\x00")
    json.loads(request.body, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
                                   "azure/my-deployment", "text-completion-openai/gpt-3.5-turbo-instruct"])
@given(params=st.dictionaries(st.sampled_from(_FUZZED), _any, max_size=4).flatmap(
    lambda d: st.fixed_dictionaries({k: _SHAPED.get(k, st.just(v)) for k, v in d.items()})),
    messages=_SHAPED["messages"])
def test_fuzz_every_parameter_through_every_adapter(model: str, params: dict[str, Any],
                                                    messages: list[Any]) -> None:
    from routerlib.exceptions import ContextWindowExceededError, MissingAPIKeyError, UnsupportedParamsError
    from routerlib.planning import Planner, targets_for
    from routerlib.providers.base import select_params
    from routerlib.providers.registry import ProviderRegistry

    call = {"model": model, "messages": messages, "api_key": KEY, "api_base": "http://127.0.0.1:9/v1", **params}
    if "prompt" in call:
        call.pop("messages")
    planner = Planner(ProviderRegistry.with_builtins(), None, {})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            request = build_request(call)
            targets = targets_for(request)
            if len(targets) > 1:
                planner.check(targets, request)
            primary = None
            for target in targets:
                deployment = planner.resolve(target, request, primary)
                primary = primary or deployment
                if request.prompt is not None and not getattr(deployment.adapter, "accepts_prompt", False):
                    continue
                selected, _ = select_params(request, deployment.spec)
                _sendable(deployment.adapter.build_request(request, selected, deployment))
        except (InvalidRequestError, UnsupportedParamsError, ContextWindowExceededError, MissingAPIKeyError):
            pass


def test_the_words_nan_and_infinity_inside_strings_are_fine() -> None:
    request = build(extra_body={"note": "NaN and Infinity"}, stop=["NaN"], user="Infinity")
    assert request.extra_body == {"note": "NaN and Infinity"}




def test_litellms_mock_forms_are_accepted_and_checked() -> None:
    error = ValueError("boom")
    assert build_request({"model": "m", "messages": MESSAGES, "mock_response": error}).mock_response is error
    request = build_request({"model": "m", "messages": MESSAGES, "mock_testing_fallbacks": True,
                             "mock_tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]})
    assert request.mock_testing_fallbacks is True and request.mock_tool_calls is not None
    for bad, said in (({"mock_testing_fallbacks": "yes"}, "mock_testing_fallbacks='yes'"),
                      ({"mock_response": 42}, "mock_response=42"),
                      ({"mock_response": "litellm.RateLimit"}, "names no LiteLLM error")):
        with pytest.raises(InvalidRequestError, match=re.escape(said)):
            build_request({"model": "m", "messages": MESSAGES, **bad})


def test_chat_and_embedding_requests_share_the_call_options() -> None:
    from routerlib.request import BaseRequest, EmbeddingRequest

    shared = set(BaseRequest.model_fields)
    assert {"model", "fallbacks", "num_retries", "api_key", "metadata", "input_cost_per_token"} <= shared
    assert shared <= set(ChatRequest.model_fields) and shared <= set(EmbeddingRequest.model_fields)
    assert "messages" not in EmbeddingRequest.model_fields and "input" not in ChatRequest.model_fields


def test_litellm_caching_keyword_says_where_caching_is_configured() -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "caching": True})
    assert "Client(cache=MemoryCache())" in str(info.value) and "extra_body" not in str(info.value)
