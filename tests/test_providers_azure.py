"""Azure OpenAI: deployment URL, api-version, api-key vs Entra ID token, content filter errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_helpers import as_chat, as_stream

import routerlib
from routerlib.exceptions import (
    BadRequestError,
    ContentPolicyViolationError,
    InvalidRequestError,
    MissingAPIKeyError,
)
from routerlib.providers.azure import DEFAULT_API_VERSION
from routerlib.transport import HTTPRequest, HTTPResponse, MockTransport

BASE = "https://my-resource.openai.azure.com"
pytestmark = pytest.mark.filterwarnings("ignore:cost of this model is unknown")
MESSAGES = [{"role": "user", "content": "Hi"}]
AZURE_ENV = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT", "AZURE_API_VERSION", "OPENAI_API_VERSION",
             "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_AD_TOKEN")

# The documented shape of a prompt blocked by Azure's content filter (learn.microsoft.com,
# "Content filtering": HTTP 400, code content_filter, innererror ResponsibleAIPolicyViolation).
CONTENT_FILTER_400 = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                   "policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": True, "severity": "medium"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        },
    }
}

CHAT_WITH_FILTER_RESULTS = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
        "hate": {"filtered": False, "severity": "safe"}}}],
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello"},
                 "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


def _client(status: int = 200, body: Any = None,
            environ: dict[str, str] | None = None) -> tuple[routerlib.Client, MockTransport]:
    payload = json.dumps(CHAT_WITH_FILTER_RESULTS if body is None else body).encode()

    def handler(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(status, {"content-type": "application/json", "apim-request-id": "req-9"}, payload)

    transport = MockTransport(handler)
    return routerlib.Client(transport=transport, environ=environ or {}), transport


def _only(transport: MockTransport) -> HTTPRequest:
    assert len(transport.requests) == 1
    return transport.requests[0]


def test_url_is_the_deployment_url_with_the_default_api_version() -> None:
    client, transport = _client()
    client.completion("azure/prod-gpt4o", MESSAGES, api_base=BASE, api_key="k")
    assert _only(transport).url == (f"{BASE}/openai/deployments/prod-gpt4o/chat/completions"
                                    f"?api-version={DEFAULT_API_VERSION}")


def test_text_completion_calls_use_the_completions_path() -> None:
    body = {"id": "c", "object": "text_completion", "created": 1, "model": "gpt-35-turbo-instruct",
            "choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]}
    client, transport = _client(body=body)
    client.text_completion("azure/instruct", "Say ok", api_base=BASE + "/", api_key="k")
    assert _only(transport).url.startswith(f"{BASE}/openai/deployments/instruct/completions?api-version=")
    assert json.loads(transport.requests[0].body)["prompt"] == "Say ok"


def test_api_version_from_the_call_then_the_environment() -> None:
    client, transport = _client(environ={"AZURE_API_VERSION": "2024-06-01"})
    client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k", api_version="2025-04-01-preview")
    client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k")
    client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k", api_version="2024-12-01-preview")
    versions = [r.url.split("api-version=")[1] for r in transport.requests]
    assert versions == ["2025-04-01-preview", "2024-06-01", "2024-12-01-preview"]


def test_endpoint_from_the_environment_and_a_trailing_openai_segment() -> None:
    client, transport = _client(environ={"AZURE_API_BASE": BASE + "/openai/"})
    client.completion("azure/d", MESSAGES, api_key="k")
    assert _only(transport).url.startswith(f"{BASE}/openai/deployments/d/chat/completions?")


def test_missing_endpoint_is_a_clear_error_before_sending() -> None:
    client, transport = _client()
    with pytest.raises(InvalidRequestError, match="AZURE_API_BASE"):
        client.completion("azure/d", MESSAGES, api_key="k")
    assert transport.requests == []


def test_deployment_id_overrides_the_deployment_name() -> None:
    client, transport = _client()
    client.completion("azure/gpt-4o", MESSAGES, api_base=BASE, api_key="k", deployment_id="eu-gpt4o-prod")
    assert "/openai/deployments/eu-gpt4o-prod/chat/completions" in _only(transport).url


def test_api_key_goes_in_the_api_key_header() -> None:
    client, transport = _client(environ={"AZURE_API_KEY": "env-key"})
    client.completion("azure/d", MESSAGES, api_base=BASE)
    client.completion("azure/d", MESSAGES, api_base=BASE, api_key="call-key")
    first, second = (r.headers for r in transport.requests)
    assert first["api-key"] == "env-key" and "authorization" not in first
    assert second["api-key"] == "call-key"


def test_entra_id_token_from_the_environment_when_no_key() -> None:
    client, transport = _client(environ={"AZURE_AD_TOKEN": "eyJ0eXAi.token"})
    client.completion("azure/d", MESSAGES, api_base=BASE)
    headers = _only(transport).headers
    assert headers["authorization"] == "Bearer eyJ0eXAi.token" and "api-key" not in headers


def test_per_call_entra_id_token_through_headers() -> None:
    client, transport = _client()
    client.completion("azure/d", MESSAGES, api_base=BASE, headers={"Authorization": "Bearer per-call"})
    headers = _only(transport).headers
    assert headers["Authorization"] == "Bearer per-call" and "api-key" not in headers


def test_a_key_wins_over_an_environment_token() -> None:
    client, transport = _client(environ={"AZURE_AD_TOKEN": "tok"})
    client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k")
    headers = _only(transport).headers
    assert headers["api-key"] == "k" and "authorization" not in headers


def test_no_credentials_fails_before_sending() -> None:
    client, transport = _client()
    with pytest.raises(MissingAPIKeyError, match=r"AZURE_API_KEY.*AZURE_AD_TOKEN"):
        client.completion("azure/d", MESSAGES, api_base=BASE)
    assert transport.requests == []


def test_content_filter_error_is_a_content_policy_violation() -> None:
    client, _ = _client(status=400, body=CONTENT_FILTER_400)
    with pytest.raises(ContentPolicyViolationError) as info:
        client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k")
    error = info.value
    assert isinstance(error, BadRequestError) and not error.retryable
    assert error.status_code == 400 and error.code == "content_filter"
    assert error.request_id == "req-9"
    assert error.body["error"]["innererror"]["content_filter_result"]["hate"]["filtered"] is True


def test_inner_error_alone_still_means_content_policy() -> None:
    body = {"error": {"message": "The prompt was blocked.", "code": "BadRequest",
                      "innererror": {"code": "ResponsibleAIPolicyViolation"}}}
    client, _ = _client(status=400, body=body)
    with pytest.raises(ContentPolicyViolationError, match="blocked"):
        client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k")


def test_filter_results_are_kept_as_extras() -> None:
    client, _ = _client()
    response = as_chat(client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k"))
    assert response.choices[0].message.content == "Hello"
    dumped = response.model_dump()
    assert dumped["prompt_filter_results"][0]["prompt_index"] == 0
    assert dumped["choices"][0]["content_filter_results"]["hate"]["severity"] == "safe"


def test_azure_stream_with_a_leading_filter_results_chunk() -> None:
    events = [
        {"id": "", "object": "", "created": 0, "model": "", "choices": [],
         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
         "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    ]
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"

    def handler(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200, {"content-type": "text/event-stream"}, body)

    client = routerlib.Client(transport=MockTransport(handler), environ={})
    stream = as_stream(client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello"
    assert stream.response is not None and stream.response.choices[0].finish_reason == "stop"


def test_old_api_versions_do_not_get_stream_options() -> None:
    body = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,' \
           b'"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    transport = MockTransport(lambda r: HTTPResponse(200, {"content-type": "text/event-stream"}, body))
    client = routerlib.Client(transport=transport, environ={})
    for version in ("2024-02-01", "2024-10-21"):
        list(as_stream(client.completion("azure/d", MESSAGES, api_base=BASE, api_key="k", api_version=version,
                                         stream=True)))
    old, new = (json.loads(r.body) for r in transport.requests)
    assert "stream_options" not in old and new["stream_options"] == {"include_usage": True}


def test_entra_id_token_per_call_and_per_entry() -> None:
    client, transport = _client()
    client.completion("azure/d", MESSAGES, api_base=BASE, azure_ad_token="call-token")
    client.completion("azure/d", MESSAGES, api_base=BASE,
                      model_list=[{"model": "azure/d", "api_base": BASE, "azure_ad_token": "entry-token"}])
    first, second = (r.headers for r in transport.requests)
    assert first["authorization"] == "Bearer call-token" and "api-key" not in first
    assert second["authorization"] == "Bearer entry-token"


def test_entra_id_token_never_shows_in_reprs() -> None:
    from routerlib._request import build_request

    request = build_request({"model": "azure/d", "messages": MESSAGES, "azure_ad_token": "tok-SECRET"})
    assert "tok-SECRET" not in repr(request)


def test_embeddings_go_to_the_deployments_embeddings_path() -> None:
    body = {"object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    client, transport = _client(body=body)
    response = client.embedding("azure/embedder", "hi", api_base=BASE, api_key="k", dimensions=8)
    sent = _only(transport)
    assert sent.url == f"{BASE}/openai/deployments/embedder/embeddings?api-version={DEFAULT_API_VERSION}"
    assert sent.headers["api-key"] == "k" and json.loads(sent.body) == {"model": "embedder", "input": "hi",
                                                                       "dimensions": 8}
    assert response.provider == "azure" and response.data[0].embedding == [0.5]


def test_embedding_content_filter_errors_stay_typed() -> None:
    body = {"error": {"code": "content_filter", "message": "filtered",
                      "innererror": {"code": "ResponsibleAIPolicyViolation"}}}
    client, _ = _client(status=400, body=body)
    with pytest.raises(ContentPolicyViolationError):
        client.embedding("azure/embedder", "hi", api_base=BASE, api_key="k")
