"""routerlib._messages: a response's message goes back in as input, and null fields are never sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import KEY, MODEL, chat_body, client, sent_json

from routerlib._messages import normalise_message, normalise_messages
from routerlib.exceptions import InvalidRequestError
from routerlib.transport import HTTPResponse
from routerlib.types import ChatCompletionMessage, ChatCompletionMessageToolCall, Function, ModelResponse

TOOL_ANSWER = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "refusal": None, "annotations": [],
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
}
SENT_ASSISTANT = {"role": "assistant", "content": None,
                  "tool_calls": [{"id": "call_1", "type": "function",
                                  "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}


def test_a_plain_dict_passes_through_untouched() -> None:
    message = {"role": "user", "content": "Hi"}
    assert normalise_message(message) is message


def test_null_fields_and_empty_lists_are_dropped_but_content_is_kept() -> None:
    dumped = ModelResponse.model_validate(TOOL_ANSWER).choices[0].message.model_dump()
    assert dumped["refusal"] is None and dumped["function_call"] is None
    assert dumped["tool_calls"][0]["index"] is None  # what a dump carries...
    assert normalise_message(dumped) == SENT_ASSISTANT  # ...and what is sent
    assert normalise_message({"role": "assistant", "content": "x", "tool_calls": []}) == {
        "role": "assistant", "content": "x"}


def test_the_callers_dict_is_not_changed() -> None:
    message: dict[str, Any] = {"role": "user", "content": "Hi", "name": None}
    assert normalise_message(message) == {"role": "user", "content": "Hi"}
    assert message == {"role": "user", "content": "Hi", "name": None}


def test_routerlibs_message_object_becomes_a_dict() -> None:
    message = ChatCompletionMessage(content=None, tool_calls=[ChatCompletionMessageToolCall(
        id="call_1", function=Function(name="get_weather", arguments="{\"city\": \"Paris\"}"))])
    assert normalise_message(message) == SENT_ASSISTANT


def test_the_openai_sdks_message_object_becomes_a_dict() -> None:
    openai_types = pytest.importorskip("openai.types.chat")
    message = openai_types.ChatCompletion.model_validate(TOOL_ANSWER).choices[0].message
    assert normalise_message(message) == SENT_ASSISTANT


def test_tool_call_objects_inside_a_dict_message() -> None:
    calls = ModelResponse.model_validate(TOOL_ANSWER).choices[0].message.tool_calls
    assert normalise_message({"role": "assistant", "content": None, "tool_calls": calls}) == SENT_ASSISTANT


def test_what_is_no_message_is_left_for_validation_to_refuse() -> None:
    assert normalise_message("hi") == "hi"
    assert normalise_messages("hi") == "hi"
    c, _ = client(HTTPResponse(200, {}, json.dumps(chat_body("x")).encode()))
    with pytest.raises(InvalidRequestError, match=r"messages\[0\].*dict.*got str"):
        c.completion(MODEL, ["hi"], api_key=KEY)  # type: ignore[list-item]


@pytest.mark.parametrize("form", ["object", "dump"])
def test_the_documented_tool_loop_sends_no_null_fields(form: str) -> None:
    """messages.append(response.choices[0].message), then call again: the second body is clean."""
    answers = [TOOL_ANSWER, chat_body("It is sunny in Paris.")]
    c, transport = client(lambda request: HTTPResponse(200, {}, json.dumps(answers[len(transport.requests) - 1])
                                                       .encode()))
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = c.completion(MODEL, messages, api_key=KEY, num_retries=0)
    assert isinstance(first, ModelResponse)
    message = first.choices[0].message
    messages.append(message if form == "object" else message.model_dump())
    messages.append({"role": "tool", "tool_call_id": "call_1", "content": "sunny"})
    second = c.completion(MODEL, messages, api_key=KEY, num_retries=0)
    assert isinstance(second, ModelResponse)
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert sent_json(transport)["messages"][1] == SENT_ASSISTANT
