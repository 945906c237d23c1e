"""routerlib.types: OpenAI-shaped dumps without routerlib's own fields; Cost arithmetic; Attempt labels."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from core_helpers import chat_body

from routerlib.types import (
    Attempt,
    ChatCompletionChunk,
    Cost,
    ModelResponse,
    TextCompletion,
    Usage,
)

OPENAI_BODY = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_1",
    "service_tier": "default",
    "choices": [{
        "index": 0,
        "message": {
            "role": "assistant", "content": None, "refusal": None, "annotations": [],
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}],
        },
        "finish_reason": "tool_calls",
        "logprobs": {"content": [{"token": "x", "logprob": -0.1, "bytes": [120], "top_logprobs": []}]},
    }],
    "usage": {
        "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 0, "accepted_prediction_tokens": 0},
    },
}


def test_model_dump_is_the_openai_json() -> None:
    response = ModelResponse.model_validate(OPENAI_BODY)
    response.provider = "openai"
    response.cost = Cost(total=Decimal("0.001"))
    response.attempts = (Attempt(model="gpt-4o", provider="openai", outcome="ok"),)
    response.dropped_params = ("repetition_penalty",)
    dumped = response.model_dump()
    for name in ("provider", "cost", "attempts", "dropped_params"):
        assert name not in dumped
    assert "estimated" not in dumped["usage"]
    # Every field the provider sent comes back, unknown ones (service_tier, annotations) included.
    assert dumped["service_tier"] == "default"
    assert dumped["choices"][0]["message"]["annotations"] == []
    assert dumped["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{\"city\": \"Paris\"}"
    assert dumped["choices"][0]["logprobs"] == OPENAI_BODY["choices"][0]["logprobs"]  # type: ignore[index]
    assert dumped["usage"]["prompt_tokens_details"]["cached_tokens"] == 64
    assert dumped["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5
    assert dumped["usage"]["completion_tokens_details"]["accepted_prediction_tokens"] == 0
    assert json.loads(response.model_dump_json())["id"] == "chatcmpl-abc"
    assert "provider" not in response.model_dump_json()


def test_attribute_access() -> None:
    response = ModelResponse.model_validate(OPENAI_BODY)
    assert response.choices[0].message.tool_calls is not None
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert response.usage is not None
    assert response.usage.cached_tokens == 64
    assert response.usage.reasoning_tokens == 5
    assert response.usage.cache_creation_tokens == 0
    assert response.system_fingerprint == "fp_1"


def test_dump_has_the_documented_openai_fields() -> None:
    dumped = ModelResponse.model_validate(chat_body("hi")).model_dump()
    assert set(dumped) >= {"id", "object", "created", "model", "choices", "usage", "system_fingerprint"}
    assert set(dumped["choices"][0]) >= {"index", "message", "finish_reason", "logprobs"}
    assert set(dumped["choices"][0]["message"]) >= {"role", "content", "tool_calls", "refusal"}
    assert dumped["object"] == "chat.completion"


def test_usage_estimated_is_not_dumped_but_kept() -> None:
    usage = Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3, estimated=True)
    assert usage.estimated is True
    assert usage.model_dump() == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                                  "prompt_tokens_details": None, "completion_tokens_details": None}


def test_usage_without_details() -> None:
    usage = Usage(prompt_tokens=1)
    assert usage.cached_tokens == 0 and usage.reasoning_tokens == 0 and usage.cache_creation_tokens == 0


def test_chunk_and_text_completion_shapes() -> None:
    chunk = ChatCompletionChunk.model_validate({"id": "c", "choices": [{"index": 1, "delta": {"content": "x"}}],
                                                "x_extra": 1})
    assert chunk.object == "chat.completion.chunk"
    assert chunk.choices[0].delta.content == "x"
    assert chunk.model_dump()["x_extra"] == 1
    text = TextCompletion.model_validate({"id": "cmpl", "choices": [{"text": "hi", "index": 0}]})
    assert text.object == "text_completion"
    text.provider = "openai"
    assert "provider" not in text.model_dump()


def test_responses_are_separate_objects() -> None:
    a = ChatCompletionChunk()
    b = ChatCompletionChunk()
    a.choices.append(ChatCompletionChunk.model_validate({"choices": [{"delta": {}}]}).choices[0])
    assert b.choices == []


# -- Cost

def test_cost_add_sums_every_bucket() -> None:
    a = Cost(total=Decimal("0.003"), input=Decimal("0.001"), output=Decimal("0.002"), source="model_map",
             priced_as="gpt-4o")
    b = Cost(total=Decimal("0.0005"), input=Decimal("0.0002"), cached_input=Decimal("0.0001"),
             output=Decimal("0.0002"), reasoning=Decimal("0.0001"), time=Decimal("0"), source="model_map",
             estimated=True, priced_as="gpt-4o-mini")
    total = a + b
    assert total.total == Decimal("0.0035")
    assert total.input == Decimal("0.0012")
    assert total.cached_input == Decimal("0.0001")
    assert total.output == Decimal("0.0022")
    assert total.reasoning == Decimal("0.0001")
    assert total.estimated is True
    assert total.source == "model_map"
    assert isinstance(total.total, Decimal)


def test_cost_add_unknown_stays_unknown() -> None:
    known = Cost(total=Decimal("1"), input=Decimal("1"))
    unknown = Cost(total=None)
    assert (known + unknown).total is None
    assert (unknown + known).total is None
    assert (known + unknown).input == Decimal("1")


def test_cost_is_frozen_and_exact() -> None:
    cost = Cost(total=Decimal("0.1"))
    with pytest.raises(Exception, match="frozen"):
        cost.total = Decimal("0")  # type: ignore[misc]
    assert sum((Cost(total=Decimal("0.1")) for _ in range(3)), Cost(total=Decimal(0))).total == Decimal("0.3")


# -- Attempt

def test_attempt_summary() -> None:
    assert Attempt(model="gpt-4o", provider="openai", outcome="ok").summary() == "openai/gpt-4o ok"
    assert Attempt(model="gpt-4o", provider="openai", outcome="error", status_code=429,
                   error="RateLimitError").summary() == "openai/gpt-4o 429"
    assert Attempt(model="gpt-4o", provider="openai", outcome="error",
                   error="APITimeoutError").summary() == "openai/gpt-4o APITimeoutError"
    assert Attempt(model="gpt-4o", provider="openai", outcome="skipped",
                   message="9000 prompt tokens > 8192").summary() == "openai/gpt-4o skipped (9000 prompt tokens > 8192)"


def test_attempt_summary_tells_configured_deployments_apart() -> None:
    def summary(ident: str) -> str:
        return Attempt(model="gpt-4o", provider="openai", outcome="error", status_code=503, error="x",
                       deployment_id=ident).summary()

    assert summary("eu-2") == "openai/gpt-4o[eu-2] 503"
    assert summary("openai/gpt-4o@https://api.openai.com/v1") == "openai/gpt-4o 503"  # the made-up id adds nothing


def test_attempt_rejects_unknown_fields() -> None:
    with pytest.raises(Exception, match="api_key"):
        Attempt(model="m", provider="p", outcome="ok", api_key="sk-x")  # type: ignore[call-arg]


# -- read like LiteLLM's objects ---------------------------------------------------------------

def test_dict_style_access_like_litellm() -> None:
    r = ModelResponse.model_validate(OPENAI_BODY)
    assert r["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert r["usage"]["prompt_tokens_details"]["cached_tokens"] == 64
    assert r["service_tier"] == "default"  # a field the provider added (kept as an extra)
    assert r.get("model") == "gpt-4o-2024-08-06" and r.get("nope") is None and r.get("nope", 3) == 3
    assert "choices" in r and "service_tier" in r and "nope" not in r and 3 not in r
    with pytest.raises(KeyError):
        r["nope"]
    with pytest.raises(KeyError):
        r["model_dump"]  # methods are not items


def test_json_and_to_dict_are_plain_dicts() -> None:
    r = ModelResponse.model_validate(OPENAI_BODY)
    assert r.json() == r.model_dump() == r.to_dict()
    assert isinstance(r.json(), dict)
    assert json.loads(r.to_json()) == r.model_dump(mode="json")
    assert "refusal" not in r.choices[0].message.to_dict(exclude_none=True)
    assert json.dumps(r.to_dict(mode="json"))


def test_hidden_params_give_the_cost_as_a_float() -> None:
    r = ModelResponse.model_validate(OPENAI_BODY)
    assert r._hidden_params["response_cost"] is None  # no cost known
    r.cost = Cost(total=Decimal("0.000123"), source="model_map")
    r.provider = "openai"
    r.attempts = (Attempt(model="gpt-4o", provider="openai", api_base="http://x/v1", outcome="ok",
                          deployment_id="eu-1"),)
    hidden = r._hidden_params
    assert hidden["response_cost"] == 0.000123 and isinstance(hidden["response_cost"], float)
    assert hidden["custom_llm_provider"] == "openai" and hidden["api_base"] == "http://x/v1"
    assert hidden["model_id"] == "eu-1"  # LiteLLM's Router names the deployment that answered there
    assert json.dumps(hidden)
    assert "_hidden_params" not in r.model_dump()


def test_an_embedding_response_is_openais_shape_and_reads_like_litellms() -> None:
    from routerlib.types import EmbeddingResponse

    body = {"object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                     {"object": "embedding", "index": 1, "embedding": "AAAAAA=="}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}}
    response = EmbeddingResponse.model_validate(body)
    response.cost = Cost(total=Decimal("0.00000008"), input=Decimal("0.00000008"), source="model_map")
    response.provider = "openai"
    assert response.data[0].embedding == response["data"][0]["embedding"] == [0.1, 0.2]
    assert response.data[1].get("embedding") == "AAAAAA=="  # encoding_format="base64"
    assert response.model_dump(exclude_none=True) == {**body, "usage": {**body["usage"], "completion_tokens": 0}}
    assert response._hidden_params["response_cost"] == 8e-08
    assert response._hidden_params["custom_llm_provider"] == "openai"
    json.dumps(response.to_dict())
