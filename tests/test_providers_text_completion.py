"""Chat over raw-prompt servers: template choice, request, response and stream conversion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_helpers import as_chat, as_stream

import routerlib
from routerlib._request import build_request
from routerlib.exceptions import InvalidRequestError, UnsupportedParamsError
from routerlib.prompts import PromptTemplate
from routerlib.providers import Deployment, ProviderSpec
from routerlib.providers.base import DeploymentOptions
from routerlib.providers.registry import builtin_specs, spec_from_row
from routerlib.providers.text_completion import (
    TextCompletionAdapter,
    TextToChatStreamParser,
    chat_response,
    render_prompt,
)
from routerlib.transport import HTTPRequest, HTTPResponse, MockTransport
from routerlib.types import ModelResponse, TextCompletion

pytestmark = pytest.mark.filterwarnings("ignore:cost of this model is unknown")

SPEC = builtin_specs()["text-completion-openai"]
CHAT = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
LLAMA2 = "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nQ1 [/INST] A1 </s><s>[INST] Q2 [/INST]"
ROLES = {"system": {"pre_message": "[S]", "post_message": "[/S]"},
         "user": {"pre_message": "<u>", "post_message": "</u>"},
         "assistant": {"pre_message": "<a>", "post_message": "</a>"}}
TEXT_BODY = {"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "served-name",
             "choices": [{"index": 0, "text": " Paris.", "logprobs": None, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}


def _deployment(model: str = "my-model", spec: ProviderSpec = SPEC, prompt_template: Any = None) -> Deployment:
    return Deployment(spec=spec, model=model, api_base="http://127.0.0.1:9/v1",
                      options=DeploymentOptions(template=prompt_template))


def _request(**params: Any) -> Any:
    return build_request({"model": "text-completion-openai/my-model", "messages": CHAT, **params})


# -- which template ----------------------------------------------------------------------------


def test_model_family_template_by_model_name() -> None:
    assert render_prompt(_request(), _deployment("meta-llama/Llama-2-7b-chat-hf")) == LLAMA2


def test_hf_model_name_picks_the_family_over_an_alias() -> None:
    prompt = render_prompt(_request(hf_model_name="meta-llama/Llama-2-13b-chat-hf"), _deployment("prod-chat"))
    assert prompt == LLAMA2


def test_per_call_template_params_win() -> None:
    request = _request(roles=ROLES, initial_prompt_value="<BEGIN>", final_prompt_value="<a>",
                       bos_token="<s>", eos_token="</s>")
    prompt = render_prompt(request, _deployment("meta-llama/Llama-2-7b-chat-hf"))
    assert prompt == "<s><BEGIN>[S]S[/S]<u>Q1</u><a>A1</a></s><s><u>Q2</u><a>"


def test_deployment_template_registered_per_model() -> None:
    template = PromptTemplate.from_params(roles=ROLES, final_prompt_value="<a>")
    as_dict = {"roles": ROLES, "final_prompt_value": "<a>"}
    for option in (template, as_dict):
        prompt = render_prompt(_request(), _deployment("meta-llama/Llama-2-7b-chat-hf", prompt_template=option))
        assert prompt == "[S]S[/S]<u>Q1</u><a>A1</a><u>Q2</u><a>"


def test_row_template_applies_when_the_call_and_deployment_have_none() -> None:
    spec = spec_from_row({"name": "tgi", "api_base": "http://gpu/v1", "key_required": False,
                          "options": {"prompt_template": {"roles": ROLES}}}, adapter=TextCompletionAdapter())
    assert render_prompt(_request(), _deployment(spec=spec)) == "[S]S[/S]<u>Q1</u><a>A1</a><u>Q2</u>"


def test_unknown_model_uses_the_default_transcript() -> None:
    prompt = render_prompt(_request(), _deployment("some-base-model"))
    assert prompt == "system: S\nuser: Q1\nassistant: A1\nuser: Q2\nassistant:"


def test_a_typo_in_a_per_call_template_is_refused() -> None:
    # refused when the request is validated, before any prompt is rendered or sent
    with pytest.raises(InvalidRequestError, match="pre_mesage"):
        render_prompt(_request(roles={"user": {"pre_mesage": "x"}}), _deployment())


# -- the request -------------------------------------------------------------------------------


def _sent(request: Any, params: dict[str, Any], deployment: Deployment) -> tuple[HTTPRequest, dict[str, Any]]:
    http = deployment.adapter.build_request(request, params, deployment)
    return http, json.loads(http.body)


def test_chat_call_is_sent_as_a_text_completion() -> None:
    http, body = _sent(_request(stream=False), {"max_tokens": 20, "stop": ["</s>"]},
                       _deployment("meta-llama/Llama-2-7b-chat-hf"))
    assert http.url == "http://127.0.0.1:9/v1/completions"
    assert body == {"model": "meta-llama/Llama-2-7b-chat-hf", "prompt": LLAMA2, "max_tokens": 20,
                    "stop": ["</s>"]}


def test_text_completion_call_passes_through_unchanged() -> None:
    request = build_request({"model": "text-completion-openai/m", "prompt": "raw <|prompt|>", "max_tokens": 5})
    http, body = _sent(request, {"max_tokens": 5}, _deployment("m"))
    assert http.url.endswith("/completions")
    assert body == {"model": "m", "prompt": "raw <|prompt|>", "max_tokens": 5}


def test_stream_asks_for_usage() -> None:
    _, body = _sent(_request(stream=True), {}, _deployment())
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_chat_only_params_are_refused_by_the_builtin_row() -> None:
    client = routerlib.Client(transport=MockTransport(lambda r: HTTPResponse(200, {}, b"{}")), environ={})
    with pytest.raises(UnsupportedParamsError, match="tools"):
        client.completion("text-completion-openai/m", CHAT, tools=[{"type": "function", "function": {"name": "f"}}])


def test_chat_only_params_refused_or_dropped_on_an_opted_in_row() -> None:
    spec = spec_from_row({"name": "tgi", "api_base": "http://gpu/v1", "key_required": False},
                         adapter=TextCompletionAdapter())
    deployment = _deployment(spec=spec)
    with pytest.raises(UnsupportedParamsError, match=r"raw prompt.*tool_choice"):
        _sent(_request(), {"tool_choice": "auto", "temperature": 0}, deployment)
    _, body = _sent(_request(drop_params=True), {"tool_choice": "auto", "temperature": 0}, deployment)
    assert "tool_choice" not in body and body["temperature"] == 0


# -- the response ------------------------------------------------------------------------------


def test_text_answer_becomes_a_chat_message() -> None:
    response = SPEC.adapter.parse_response(200, {}, json.dumps(TEXT_BODY).encode(), _request(), _deployment())
    assert isinstance(response, ModelResponse)
    assert response.object == "chat.completion" and response.model == "served-name"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == " Paris."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens == 11


def test_text_completion_call_gets_a_text_completion_back() -> None:
    request = build_request({"model": "text-completion-openai/m", "prompt": "x"})
    response = SPEC.adapter.parse_response(200, {}, json.dumps(TEXT_BODY).encode(), request, _deployment())
    assert isinstance(response, TextCompletion) and response.choices[0].text == " Paris."


def test_unknown_fields_survive_the_conversion() -> None:
    completion = TextCompletion.model_validate({**TEXT_BODY, "prompt_logprobs": None, "kv_transfer_params": 1})
    assert chat_response(completion).model_dump()["kv_transfer_params"] == 1


# -- streams -----------------------------------------------------------------------------------


def _event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
    return json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "m",
                       "choices": choices, "usage": usage}).encode()


def test_stream_conversion_role_first_then_deltas_then_usage() -> None:
    parser = SPEC.adapter.stream_parser(_request(stream=True), _deployment())
    assert isinstance(parser, TextToChatStreamParser)
    chunks = parser.feed(None, _event([{"index": 0, "text": "Par", "finish_reason": None}]))
    chunks += parser.feed(None, _event([{"index": 0, "text": "is", "finish_reason": "stop"}]))
    chunks += parser.feed(None, _event([], {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}))
    assert not parser.done
    assert parser.feed(None, b"[DONE]") == [] and parser.done
    deltas = [(c.choices[0].delta.role, c.choices[0].delta.content, c.choices[0].finish_reason)
              for c in chunks if c.choices]
    assert deltas == [("assistant", "", None), (None, "Par", None), (None, "is", "stop")]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    assert all(c.object == "chat.completion.chunk" and c.id == "cmpl-1" for c in chunks)


def test_stream_with_two_choices_gets_a_role_for_each() -> None:
    parser = SPEC.adapter.stream_parser(_request(stream=True, n=2), _deployment())
    first = parser.feed(None, _event([{"index": 0, "text": "a"}, {"index": 1, "text": "b"}]))
    assert [c.index for c in first[0].choices] == [0, 1]
    assert all(c.delta.role == "assistant" for c in first[0].choices)
    again = parser.feed(None, _event([{"index": 1, "text": "c"}]))
    assert len(again) == 1 and again[0].choices[0].delta.content == "c"


def test_stream_through_a_client() -> None:
    events = [_event([{"index": 0, "text": "Hel"}]), _event([{"index": 0, "text": "lo", "finish_reason": "stop"}]),
              _event([], {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})]
    body = b"".join(b"data: " + e + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    transport = MockTransport(lambda r: HTTPResponse(200, {"content-type": "text/event-stream"}, body))
    client = routerlib.Client(transport=transport, environ={})
    stream = as_stream(client.completion("text-completion-openai/my-model", CHAT, api_base="http://gpu/v1",
                                         stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hello"
    assert as_chat(stream.response).choices[0].message.content == "Hello"
    assert stream.usage is not None and stream.usage.total_tokens == 5
    assert json.loads(transport.requests[0].body)["prompt"].endswith("assistant:")


def test_quirks_still_apply_on_a_text_row() -> None:
    spec = spec_from_row({"name": "wise_text", "api_base": "http://gpu/v1", "key_required": False,
                          "options": {"report_requested_model": True, "default_max_tokens": 64}},
                         adapter=TextCompletionAdapter())
    transport = MockTransport(lambda r: HTTPResponse(200, {}, json.dumps({**TEXT_BODY, "model": "redacted"}).encode()))
    client = routerlib.Client(transport=transport, environ={})
    client.register_provider(spec)
    response = as_chat(client.completion("wise_text/llama-2-7b-chat", CHAT))
    assert response.model == "llama-2-7b-chat"
    assert json.loads(transport.requests[0].body)["max_tokens"] == 64
    assert response.choices[0].message.content == " Paris."
