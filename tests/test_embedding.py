"""routerlib._embedding: the validated embedding request, refused before anything is sent."""

from __future__ import annotations

import typing
from typing import Any

import pytest

import routerlib
from routerlib._embedding import ACCEPTED, EMBEDDING_PARAMS, MAX_INPUTS, EmbeddingRequest, build_embedding_request
from routerlib._request import ChatRequest
from routerlib.params import EmbeddingParams

MODEL = "openai/text-embedding-3-small"


def build(**params: Any) -> EmbeddingRequest:
    return build_embedding_request({"model": MODEL, "input": "hello", **params})


@pytest.mark.parametrize(("value", "stored", "count", "texts"), [
    ("hello", "hello", 1, ("hello",)),
    (["a", "b"], ("a", "b"), 2, ("a", "b")),
    ([1, 2, 3], (1, 2, 3), 1, None),
    ([[1, 2], [3]], ((1, 2), (3,)), 2, None),
])
def test_every_openai_input_shape(value: Any, stored: Any, count: int, texts: Any) -> None:
    request = build(input=value)
    assert request.input == stored and request.count == count and request.texts() == texts


def test_token_lists_of_token_inputs() -> None:
    assert build(input=[1, 2]).token_lists() == ((1, 2),)
    assert build(input=[[1], [2, 3]]).token_lists() == ((1,), (2, 3))
    assert build(input=["a"]).token_lists() == ()


@pytest.mark.parametrize(("value", "said"), [
    ("", "input='': an empty string cannot be embedded"),
    ([], "input=[]: give at least one input"),
    (["a", ""], "input[1]: every input of a list of strings must be a non-empty string"),
    (["a", 3], "input[1]: every input of a list of strings must be a non-empty string"),
    ([1, "a"], "input[1]: token ids are integers >= 0, got str"),
    ([1, True], "input[1]: token ids are integers >= 0, got bool"),
    ([0, -1], "input[1]=-1: token ids are integers >= 0"),
    ([[1], []], "input[1]: every input of a list of token-id lists must be a non-empty list"),
    ([[1], [2.5]], "input[1][0]: token ids are integers >= 0, got float"),
    ([{"text": "a"}], "input[0]: must be a string, a list of strings"),
    (None, "input: must be a string, a list of strings"),
    (["x"] * (MAX_INPUTS + 1), f"input: at most {MAX_INPUTS} inputs per call, got {MAX_INPUTS + 1}"),
])
def test_bad_inputs_say_what_is_allowed(value: Any, said: str) -> None:
    with pytest.raises(routerlib.InvalidRequestError) as caught:
        build(input=value)
    assert said in str(caught.value)


def test_bad_input_is_never_quoted_whole() -> None:
    with pytest.raises(routerlib.InvalidRequestError) as caught:
        build(input=["private words", 7])
    assert "private words" not in str(caught.value)


@pytest.mark.parametrize(("params", "said"), [
    ({"dimensions": 0}, "dimensions=0"),
    ({"dimensions": "8"}, "dimensions='8'"),
    ({"encoding_format": "int8"}, "encoding_format='int8'"),
    ({"user": 5}, "user=5"),
    ({"mock_response": "some text"}, "for embedding(), give a list of floats"),
    ({"mock_response": []}, "for embedding(), give a list of floats"),
    ({"mock_response": "litellm.Nope"}, "names no LiteLLM error"),
])
def test_bad_values_are_refused(params: dict[str, Any], said: str) -> None:
    with pytest.raises(routerlib.InvalidRequestError) as caught:
        build(**params)
    assert said in str(caught.value)


def test_chat_parameters_are_unknown_here_with_a_hint() -> None:
    with pytest.raises(routerlib.InvalidRequestError) as caught:
        build(temperature=0.5)
    assert "unknown parameter 'temperature'" in str(caught.value)
    with pytest.raises(routerlib.InvalidRequestError) as caught:
        build(dimension=8)
    assert "did you mean dimensions" in str(caught.value)


def test_aliases_and_provider_prefix_fold_as_for_completions() -> None:
    request = build_embedding_request({"model": "text-embedding-3-small", "input": "x", "custom_llm_provider": "openai",
                                       "request_timeout": 5.0, "base_url": "http://h/v1", "max_retries": 0,
                                       "extra_headers": {"x-a": "1"}})
    assert (request.model, request.timeout, request.api_base, request.num_retries, request.headers) == (
        "openai/text-embedding-3-small", 5.0, "http://h/v1", 0, {"x-a": "1"})


def test_mock_response_forms() -> None:
    assert build(mock_response=[1, 0.5]).mock_response == (1.0, 0.5)
    assert build(mock_response="litellm.RateLimitError").mock_response == "litellm.RateLimitError"
    error = ValueError("boom")
    assert build(mock_response=error).mock_response is error


def test_the_request_is_frozen_and_hides_its_key() -> None:
    request = build(api_key="sk-secret-0123456789", headers={"Authorization": "Bearer sk-secret-0123456789"})
    assert "sk-secret" not in repr(request)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        request.input = "other"  # type: ignore[misc]


def test_the_core_tells_the_operations_apart_by_a_class_constant() -> None:
    assert EmbeddingRequest.operation == "embeddings" and ChatRequest.operation == "chat"
    assert EmbeddingRequest.provider_params == EMBEDDING_PARAMS == ("dimensions", "encoding_format", "user")
    assert EmbeddingRequest.stream is False and EmbeddingRequest.mock_tool_calls is None


def test_typed_keywords_match_the_accepted_parameters() -> None:
    assert set(EmbeddingParams.__annotations__) == ACCEPTED - {"model", "input"}
    assert EmbeddingParams.__total__ is False
    assert typing.get_type_hints(EmbeddingParams)["dimensions"] is int
