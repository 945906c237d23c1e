"""Replayed streams join back to exactly the stored answer."""

from __future__ import annotations

from typing import Any

from routerlib.cache.replay import replay_chunks
from routerlib.streaming import StreamAccumulator
from routerlib.types import ChatCompletionChunk, ModelResponse, TextCompletion

USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def chat(*choices: dict[str, Any]) -> ModelResponse:
    return ModelResponse.model_validate({"id": "c1", "created": 1700000000, "model": "gpt-4o-mini",
                                         "choices": list(choices), "usage": USAGE})


def accumulate(chunks: list[Any]) -> StreamAccumulator:
    acc = StreamAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc


def test_text_with_odd_whitespace_joins_back_exactly() -> None:
    text = "  Hello,\n\nworld!  Two  spaces\tand a tab. \n"
    response = chat({"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": text}})
    chunks = list(replay_chunks(response, include_usage=False))
    assert all(isinstance(c, ChatCompletionChunk) and c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "length"
    assert len(chunks) > 5  # word by word, as a stream would arrive
    assert {c.id for c in chunks} == {"c1"} and chunks[0].model == "gpt-4o-mini"


def test_tool_calls_refusals_and_several_choices_assemble_to_the_stored_response() -> None:
    response = chat(
        {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "get", "arguments": "{\"city\": \"Oslo\"}"}},
            {"id": "t2", "type": "function", "function": {"name": "put", "arguments": "{}"}}]}},
        {"index": 1, "finish_reason": "stop", "message": {"role": "assistant", "content": "second answer"}},
        {"index": 2, "finish_reason": "stop", "message": {"role": "assistant", "content": None, "refusal": "no"}})
    chunks = list(replay_chunks(response, include_usage=True))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12
    rebuilt = accumulate(chunks).response()
    assert isinstance(rebuilt, ModelResponse)
    calls = rebuilt.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("t1", "get", "{\"city\": \"Oslo\"}"), ("t2", "put", "{}")]
    assert rebuilt.choices[1].message.content == "second answer"
    assert [c.finish_reason for c in rebuilt.choices] == ["tool_calls", "stop", "stop"]
    assert any(c.choices and c.choices[0].delta.refusal == "no" for c in chunks)


def test_text_completions_replay_as_text_chunks() -> None:
    response = TextCompletion.model_validate({"id": "t", "model": "m", "usage": USAGE, "choices": [
        {"index": 0, "text": "one two  three", "finish_reason": "stop"}]})
    chunks = list(replay_chunks(response, include_usage=True))
    assert all(isinstance(c, TextCompletion) for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "one two  three"
    assert chunks[-1].usage is not None
    assert accumulate(chunks).response().choices[0].text == "one two  three"  # type: ignore[union-attr]


def test_an_empty_answer_still_ends_with_its_finish_reason() -> None:
    chunks = list(replay_chunks(chat({"index": 0, "finish_reason": "stop", "message": {"content": ""}}),
                                include_usage=False))
    assert chunks[-1].choices[0].finish_reason == "stop"
