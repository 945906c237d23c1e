"""routerlib.providers._errors: typed errors from real provider error bodies, one test per mapped case."""

from __future__ import annotations

import json
from typing import Any

from routerlib import exceptions as ex
from routerlib.providers._errors import build_error, classify, decode_error_body, unreadable_body


def error_for(status: int, body: Any, headers: dict[str, str] | None = None) -> ex.APIError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return build_error(status, headers or {}, raw, provider="openai", model="gpt-4o")


OPENAI_CONTEXT = {"error": {
    "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 8227 "
               "tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}


def test_openai_context_length_exceeded() -> None:
    error = error_for(400, OPENAI_CONTEXT, {"x-request-id": "req_abc"})
    assert type(error) is ex.ContextWindowExceededError
    assert error.status_code == 400
    assert error.code == "context_length_exceeded"
    assert error.message.startswith("This model's maximum context length is 8192 tokens")
    assert error.request_id == "req_abc"
    assert error.retryable is False
    assert error.provider == "openai" and error.model == "gpt-4o"
    assert error.body == OPENAI_CONTEXT


def test_openai_context_wording_without_code() -> None:
    body = {"error": {**OPENAI_CONTEXT["error"], "code": None}}
    assert type(error_for(400, body)) is ex.ContextWindowExceededError


def test_openai_rate_limit_exceeded() -> None:
    body = {"error": {"message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): "
                                 "Limit 30000, Used 29000, Requested 2000. Please try again in 2s.",
                      "type": "tokens", "param": None, "code": "rate_limit_exceeded"}}
    error = error_for(429, body, {"retry-after-ms": "2000", "retry-after": "2", "x-request-id": "req_rl"})
    assert type(error) is ex.RateLimitError
    assert error.retryable is True
    assert error.retry_after == 2.0
    assert error.code == "rate_limit_exceeded"
    assert error.request_id == "req_rl"


def test_openai_insufficient_quota() -> None:
    body = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                      "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    error = error_for(429, body)
    assert type(error) is ex.RateLimitError
    assert error.code == "insufficient_quota"
    assert "quota" in error.message
    assert error.retryable is False  # billing: waiting does not help; the policy falls back instead


def test_openai_content_policy_violation() -> None:
    body = {"error": {"message": "Your request was rejected as a result of our safety system. Your prompt may "
                                 "contain text that is not allowed by our safety system.",
                      "type": "invalid_request_error", "param": None, "code": "content_policy_violation"}}
    error = error_for(400, body)
    assert type(error) is ex.ContentPolicyViolationError
    assert error.retryable is False


def test_azure_content_filter() -> None:
    body = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                                 "management policy.", "type": None, "param": "prompt", "code": "content_filter",
                      "status": 400}}
    assert type(error_for(400, body, {"apim-request-id": "azure-1"})) is ex.ContentPolicyViolationError
    assert error_for(400, body, {"apim-request-id": "azure-1"}).request_id == "azure-1"


def test_openai_invalid_api_key() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-abc***xyz. You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.",
                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    error = error_for(401, body)
    assert type(error) is ex.AuthenticationError
    assert error.retryable is False


def test_openai_model_not_found() -> None:
    body = {"error": {"message": "The model `gpt-5-ultra` does not exist or you do not have access to it.",
                      "type": "invalid_request_error", "param": None, "code": "model_not_found"}}
    assert type(error_for(404, body)) is ex.NotFoundError


def test_openai_server_error() -> None:
    body = {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                      "type": "server_error", "param": None, "code": None}}
    error = error_for(500, body)
    assert type(error) is ex.InternalServerError
    assert error.retryable is True
    assert error.code == "server_error"


def test_anthropic_overloaded_529() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    error = error_for(529, body, {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
    assert type(error) is ex.ServiceUnavailableError
    assert error.retryable is True
    assert error.code == "overloaded_error"
    assert error.message == "Overloaded"
    assert error.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"


def test_anthropic_overloaded_behind_a_gateway_500() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert type(error_for(500, body)) is ex.ServiceUnavailableError


def test_anthropic_prompt_is_too_long() -> None:
    body = {"type": "error", "error": {"type": "invalid_request_error",
                                       "message": "prompt is too long: 208310 tokens > 200000 maximum"}}
    error = error_for(400, body)
    assert type(error) is ex.ContextWindowExceededError
    assert error.code == "invalid_request_error"
    assert "208310 tokens" in error.message


def test_anthropic_rate_limit() -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error",
                                       "message": "Number of request tokens has exceeded your per-minute rate limit"}}
    error = error_for(429, body, {"retry-after": "12"})
    assert type(error) is ex.RateLimitError
    assert error.retry_after == 12.0


def test_gemini_resource_exhausted() -> None:
    body = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED"}}
    error = error_for(429, body)
    assert type(error) is ex.RateLimitError
    assert error.code == "RESOURCE_EXHAUSTED"
    assert error.retryable is True


def test_gemini_input_token_count_exceeds() -> None:
    body = {"error": {"code": 400, "message": "The input token count (1200000) exceeds the maximum number of "
                                              "tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}
    assert type(error_for(400, body)) is ex.ContextWindowExceededError


def test_gemini_streaming_error_list() -> None:
    body = [{"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                       "status": "UNAVAILABLE"}}]
    error = error_for(503, body)
    assert type(error) is ex.ServiceUnavailableError
    assert error.message == "The model is overloaded. Please try again later."
    assert error.code == "UNAVAILABLE"


def test_fastapi_detail_list() -> None:
    body = {"detail": [{"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": {}},
                       {"type": "float_type", "loc": ["body", "temperature"], "msg": "Input should be a valid number"}]}
    error = error_for(422, body)
    assert type(error) is ex.UnprocessableEntityError
    assert error.message == "messages: Field required; temperature: Input should be a valid number"
    assert error.code == "validation_error"


def test_fastapi_detail_string() -> None:
    error = error_for(404, {"detail": "Not Found"})
    assert type(error) is ex.NotFoundError
    assert error.message == "Not Found"


def test_vllm_context_error_as_flat_message() -> None:
    body = {"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you "
                                          "requested 5000 tokens.", "type": "BadRequestError", "code": 400}
    error = error_for(400, body)
    assert type(error) is ex.ContextWindowExceededError
    assert error.code == "BadRequestError"


def test_plain_text_502_from_a_proxy() -> None:
    html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n</html>\r\n"
    error = error_for(502, html)
    assert type(error) is ex.InternalServerError
    assert error.retryable is True
    assert "502 Bad Gateway" in error.message
    assert error.code is None
    assert error.body is None


def test_plain_text_413_is_a_bad_request() -> None:
    assert type(error_for(413, b"Request Entity Too Large")) is ex.BadRequestError


def test_empty_body() -> None:
    error = error_for(503, b"", {"retry-after": "1"})
    assert type(error) is ex.ServiceUnavailableError
    assert error.message == "no error body"
    assert error.retry_after == 1.0
    assert str(error) == "[openai/gpt-4o] 503 no error body"


def test_whitespace_body_is_empty() -> None:
    assert decode_error_body(b"  \n") == ("no error body", None, None)


def test_error_as_a_string() -> None:
    error = error_for(401, {"error": "Unauthorized"})
    assert type(error) is ex.AuthenticationError
    assert error.message == "Unauthorized"


def test_non_object_json() -> None:
    assert decode_error_body(b"42")[0] == "42"
    assert type(error_for(500, b"null")) is ex.InternalServerError


def test_long_text_body_is_cut() -> None:
    message, code, parsed = decode_error_body(b"x" * 5000)
    assert len(message) == 500
    assert code is None and parsed is None


def test_classify_code_wins_over_status() -> None:
    assert classify(413, "context_length_exceeded", "") is ex.ContextWindowExceededError
    assert classify(422, None, "input is too long for requested model") is ex.ContextWindowExceededError
    assert classify(403, "insufficient_quota", "") is ex.RateLimitError
    # a rate-limit code on a 5xx keeps the 5xx class (it is the status that is retried)
    assert classify(503, "rate_limit_exceeded", "") is ex.ServiceUnavailableError
    assert classify(400, None, "something else entirely") is ex.BadRequestError


def test_unreadable_body_is_retryable_and_typed() -> None:
    error = unreadable_body("bad", b"<html>" + b"y" * 1000, provider="openai", model="gpt-4o",
                            headers={"x-request-id": "req_9"})
    assert isinstance(error, ex.APIResponseValidationError)
    assert error.retryable is True
    assert error.request_id == "req_9"
    assert len(error.message) < 300


def test_anthropic_spend_limit_is_a_rate_limit_that_is_not_retried() -> None:
    body = {"type": "error", "error": {"type": "rate_limit_error",
                                       "message": "You have reached your specified workspace API usage limits.",
                                       "details": {"error_code": "enforced_spend_limit_reached"}}}
    error = error_for(429, body)
    assert type(error) is ex.RateLimitError
    assert error.retryable is False
    ordinary = error_for(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    assert ordinary.retryable is True
