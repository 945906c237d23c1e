"""routerlib._base_request: the call options a chat and an embedding request share, checked alike."""

from __future__ import annotations

from typing import Any

import pytest

from routerlib._base_request import BaseRequest, check_call_options
from routerlib._embedding import build_embedding_request
from routerlib._request import ChatRequest, build_request
from routerlib.exceptions import InvalidRequestError

KEY = "sk-test-SECRET-0123456789"


def chat(**params: Any) -> BaseRequest:
    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **params})


def embedding(**params: Any) -> BaseRequest:
    return build_embedding_request({"model": "openai/text-embedding-3-small", "input": "hi", **params})


def both(**params: Any) -> list[BaseRequest]:
    return [chat(**params), embedding(**params)]


@pytest.mark.parametrize(("params", "said"), [
    ({"headers": {"x-a": "1\r\nx-b: 2"}}, "headers="),
    ({"api_base": "ftp://example.com"}, "api_base="),
    ({"api_key": "sk-with space"}, "api_key=<hidden>"),
    ({"fallbacks": ["openai/"]}, "fallbacks[0]"),
    ({"timeout": 0}, "timeout=0"),
    ({"metadata": {"user": 3}}, "metadata.user=3"),
    ({"deployment_id": "../x"}, "deployment_id="),
    ({"mock_testing_fallbacks": "yes"}, "mock_testing_fallbacks='yes'"),
])
def test_the_shared_fields_are_checked_the_same_for_both_operations(params: dict[str, Any], said: str) -> None:
    for build in (chat, embedding):
        with pytest.raises(InvalidRequestError) as caught:
            build(**params)
        assert said in str(caught.value) and KEY not in str(caught.value)


def test_keys_in_the_shared_fields_never_reach_a_repr() -> None:
    for request in both(api_key=KEY, headers={"Authorization": f"Bearer {KEY}"},
                        fallbacks=[{"model": "openai/gpt-4o", "api_key": KEY}]):
        assert KEY not in repr(request)


def test_a_bad_model_is_refused_for_an_embedding_too() -> None:
    with pytest.raises(InvalidRequestError, match="leading or trailing whitespace"):
        build_embedding_request({"model": " openai/text-embedding-3-small", "input": "hi"})
    request = build_embedding_request({"model": "openai/text-embedding-3-small", "input": "hi"})
    check_call_options(request)  # a good one passes


def test_the_operation_and_provider_params_are_class_constants() -> None:
    chat, embedding = both()
    assert (chat.operation, embedding.operation) == ("chat", "embeddings")
    assert "temperature" in ChatRequest.provider_params and "dimensions" in type(embedding).provider_params
    assert "operation" not in BaseRequest.model_fields and "provider_params" not in BaseRequest.model_fields
