"""The OpenAI-compatible provider rows: valid data, parameters refused/dropped/renamed, quirks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from provider_helpers import as_chat, as_stream

import routerlib
from routerlib._request import PROVIDER_PARAMS, build_request
from routerlib.exceptions import InvalidRequestError, UnprocessableEntityError, UnsupportedParamsError
from routerlib.providers import _rows, select_params
from routerlib.providers._quirks import QUIRK_OPTIONS, QuirksAdapter
from routerlib.providers.registry import builtin_specs, spec_from_row
from routerlib.transport import HTTPRequest, HTTPResponse, MockTransport

REQUIRED = {"openai", "openrouter", "together_ai", "groq", "deepseek", "mistral", "fireworks_ai", "xai",
            "perplexity", "deepinfra", "hosted_vllm", "ollama", "lm_studio",
            "wiserouter", "wrift", "openroute", "routeway", "wrouter"}
AUTH_STYLES = {"bearer", "x-api-key", "api-key", "bearer+x-api-key", "query"}
ROW_KEYS = {"name", "api_base", "api_key_env", "api_base_env", "key_required", "unsupported", "renamed",
            "extra_headers", "auth", "price_prefix", "quirks", "options", "adapter"}
pytestmark = pytest.mark.filterwarnings("ignore:cost of this model is unknown")
MESSAGES = [{"role": "user", "content": "Hi"}]
ROWS = {row["name"]: row for row in _rows.ROWS}
SPECS = {name: spec_from_row(row) for name, row in ROWS.items()}


def _model_map_providers() -> set[str]:
    from importlib import resources

    from routerlib.cost._fields import normalise_provider

    data = json.loads(resources.files("routerlib.cost").joinpath("model_map.json").read_text())
    return {normalise_provider(row["litellm_provider"]) for row in data.values()
            if isinstance(row, dict) and row.get("litellm_provider")}


# -- the rows as data --------------------------------------------------------------------------


def test_every_required_provider_has_a_row() -> None:
    assert ROWS.keys() >= REQUIRED
    assert len(ROWS) == len(_rows.ROWS), "duplicate row names"


def test_rows_are_registered_as_builtins() -> None:
    builtins = builtin_specs()
    for name in ROWS:
        assert builtins[name].name == name


@pytest.mark.parametrize("name", sorted(ROWS))
def test_row_fields_are_valid(name: str) -> None:
    row = ROWS[name]
    assert set(row) <= ROW_KEYS, set(row) - ROW_KEYS
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
    base = row.get("api_base")
    if name == "hosted_vllm":
        assert base is None
    else:
        assert base is not None
        assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]+(/[\w./-]*)?|http://localhost:\d+/v1", base), base
        assert not base.endswith("/")
    envs = row.get("api_key_env", ())
    assert envs, "every row names its key variable(s)"
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*_(API_KEY|TOKEN)", env) for env in envs), envs
    assert row.get("auth", "bearer") in AUTH_STYLES
    assert row.get("price_prefix"), "price_prefix is explicit on every row"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_unsupported_and_renamed_name_real_params(name: str) -> None:
    spec = SPECS[name]
    assert spec.unsupported <= set(PROVIDER_PARAMS), spec.unsupported - set(PROVIDER_PARAMS)
    assert set(spec.renamed) <= set(PROVIDER_PARAMS)
    assert not set(spec.renamed) & spec.unsupported, "a refused param is not also renamed"
    assert len(set(spec.renamed.values())) == len(spec.renamed), "two params renamed to one name"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_quirk_has_a_reason(name: str) -> None:
    spec = SPECS[name]
    for quirk, reason in spec.quirks.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", quirk), quirk
        assert isinstance(reason, str) and len(reason) > 30, (quirk, reason)
    if not spec.key_required or name == "hosted_vllm":
        assert any(k in spec.quirks for k in ("no_key", "key_optional", "no_auth_in_docs")), \
            "an optional key is explained"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_options_are_known_quirks_on_the_quirks_adapter(name: str) -> None:
    spec = SPECS[name]
    assert set(spec.options) <= QUIRK_OPTIONS
    if spec.options:
        assert isinstance(spec.adapter, QuirksAdapter)


def test_price_prefixes_match_the_model_map_where_it_has_the_provider() -> None:
    known = _model_map_providers()
    for name in ("openai", "together_ai", "groq", "deepseek", "mistral", "fireworks_ai", "xai",
                 "perplexity", "deepinfra", "ollama"):
        assert SPECS[name].price_prefix in known, name


def test_router_preference_and_repetition_penalty_go_where_documented() -> None:
    takes_router_preference = {n for n, s in SPECS.items() if "router_preference" not in s.unsupported}
    assert takes_router_preference == {"wiserouter"}
    for name in ("wiserouter", "hosted_vllm", "together_ai", "fireworks_ai", "deepinfra", "lm_studio"):
        assert "repetition_penalty" not in SPECS[name].unsupported, name
    for name in ("openai", "groq", "mistral", "xai", "perplexity", "ollama"):
        assert "repetition_penalty" in SPECS[name].unsupported, name


# -- select_params: refused, dropped, renamed -------------------------------------------------

_VALUES: dict[str, Any] = {
    "temperature": 0.5, "top_p": 0.5, "n": 2, "stream_options": {"include_usage": True}, "stop": "x",
    "max_completion_tokens": 10, "max_tokens": 10, "modalities": ["text"], "prediction": {"type": "content"},
    "audio": {"voice": "alloy"}, "presence_penalty": 0.1, "frequency_penalty": 0.1, "logit_bias": {"1": 1.0},
    "user": "u", "reasoning_effort": "low", "verbosity": "low", "response_format": {"type": "json_object"},
    "seed": 1, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto",
    "parallel_tool_calls": True, "logprobs": True, "top_logprobs": 2, "web_search_options": {},
    "safety_identifier": "s", "service_tier": "auto", "repetition_penalty": 1.1, "router_preference": "efficient",
}
_CASES = [(name, param) for name in sorted(SPECS) for param in sorted(SPECS[name].unsupported)]


def _request(param: str, **extra: Any) -> Any:
    values = {param: _VALUES[param]}
    if param == "top_logprobs":
        values["logprobs"] = True
    return build_request({"model": "m", "messages": MESSAGES, **values, **extra})


@pytest.mark.parametrize(("name", "param"), _CASES)
def test_unsupported_param_is_refused_naming_it(name: str, param: str) -> None:
    with pytest.raises(UnsupportedParamsError, match=param) as info:
        select_params(_request(param), SPECS[name])
    assert "drop_params=True" in str(info.value)


@pytest.mark.parametrize(("name", "param"), _CASES)
def test_unsupported_param_is_dropped_with_drop_params(name: str, param: str) -> None:
    params, dropped = select_params(_request(param, drop_params=True), SPECS[name])
    assert param in dropped
    assert param not in params and SPECS[name].renamed.get(param, param) not in params


@pytest.mark.parametrize(("name", "param", "wire"), [
    ("mistral", "seed", "random_seed"), ("mistral", "max_completion_tokens", "max_tokens"),
    ("lm_studio", "repetition_penalty", "repeat_penalty"), ("wrift", "max_tokens", "max_completion_tokens"),
    ("perplexity", "max_completion_tokens", "max_tokens"), ("deepseek", "max_completion_tokens", "max_tokens"),
])
def test_renamed_params_are_sent_under_the_provider_name(name: str, param: str, wire: str) -> None:
    params, dropped = select_params(_request(param), SPECS[name])
    assert params == {wire: _VALUES[param]} and dropped == ()


def test_supported_params_pass_unchanged() -> None:
    request = build_request({"model": "m", "messages": MESSAGES, "temperature": 0.2, "router_preference": "powerful",
                             "repetition_penalty": 1.1, "max_tokens": 400})
    params, _ = select_params(request, SPECS["wiserouter"])
    assert params == {"temperature": 0.2, "max_tokens": 400, "repetition_penalty": 1.1,
                      "router_preference": "powerful"}


# -- quirks through a client (in-memory transport) --------------------------------------------


def _chat_body(model: str = "redacted", content: str = "ok") -> bytes:
    return json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()


def _client(status: int = 200, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[routerlib.Client, MockTransport]:
    def handler(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(status, headers or {"content-type": "application/json"},
                            _chat_body() if body is None else body)

    transport = MockTransport(handler)
    return routerlib.Client(transport=transport, environ={}), transport


def _sent(transport: MockTransport) -> dict[str, Any]:
    assert len(transport.requests) == 1
    return dict(json.loads(transport.requests[0].body))


def test_wiserouter_sends_a_default_max_tokens_when_none_given() -> None:
    client, transport = _client()
    client.completion("wiserouter/auto", MESSAGES, api_key="k")
    assert _sent(transport)["max_tokens"] == 4096


@pytest.mark.parametrize("given", [{"max_tokens": 33}, {"max_completion_tokens": 44}])
def test_wiserouter_keeps_the_callers_limit(given: dict[str, Any]) -> None:
    client, transport = _client()
    client.completion("wiserouter/auto", MESSAGES, api_key="k", **given)
    body = _sent(transport)
    assert {k: body[k] for k in ("max_tokens", "max_completion_tokens") if k in body} == given


def test_wiserouter_reports_the_requested_model_not_redacted() -> None:
    client, _ = _client(body=_chat_body(model="redacted"))
    response = as_chat(client.completion("wiserouter/auto", MESSAGES, api_key="k"))
    assert response.model == "auto"


def test_wiserouter_stream_chunks_report_the_requested_model() -> None:
    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "redacted",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
              {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "redacted",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    client, _ = _client(body=body, headers={"content-type": "text/event-stream"})
    stream = as_stream(client.completion("wiserouter/auto", MESSAGES, api_key="k", stream=True))
    assert {chunk.model for chunk in stream} == {"auto"}
    assert stream.response is not None and stream.response.model == "auto"


@pytest.mark.parametrize("model", ["gpt-4o", "meta", "meta/", "a/b/c", "meta/llama 3", "meta/llama:"])
def test_wrift_refuses_malformed_model_ids_before_sending(model: str) -> None:
    client, transport = _client()
    # A trailing '/' is refused at validation for every provider ("names no model"), before the row's check.
    with pytest.raises(InvalidRequestError, match=r"owner/name or owner/name:version|names no model"):
        client.completion(f"wrift/{model}", MESSAGES, api_key="k")
    assert transport.requests == []


@pytest.mark.parametrize("model", ["meta/llama-3-8b", "meta/llama-3-8b:5a6809ca", "acme.ai/model_v2.1:3"])
def test_wrift_sends_well_formed_model_ids(model: str) -> None:
    client, transport = _client(body=_chat_body(model=model))
    client.completion(f"wrift/{model}", MESSAGES, api_key="k")
    assert _sent(transport)["model"] == model


def test_wrift_validation_errors_become_422_with_a_readable_message() -> None:
    detail = {"detail": [{"loc": ["body", "messages", 0, "content"], "msg": "field required",
                          "type": "value_error.missing"}]}
    client, _ = _client(status=422, body=json.dumps(detail).encode())
    with pytest.raises(UnprocessableEntityError) as info:
        client.completion("wrift/meta/llama-3-8b", MESSAGES, api_key="k", num_retries=0)
    assert info.value.status_code == 422
    assert "messages.0.content: field required" in info.value.message


def test_routeway_sends_the_key_as_bearer_and_x_api_key() -> None:
    client, transport = _client()
    client.completion("routeway/gpt-4o-mini", MESSAGES, api_key="rk-1")
    headers = transport.requests[0].headers
    assert headers["authorization"] == "Bearer rk-1" and headers["x-api-key"] == "rk-1"


def test_routeway_reads_the_mixed_case_variable_of_its_docs() -> None:
    def handler(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200, {}, _chat_body())

    transport = MockTransport(handler)
    client = routerlib.Client(transport=transport, environ={"Routeway_API_KEY": "from-env"})
    client.completion("routeway/gpt-4o-mini", MESSAGES)
    assert transport.requests[0].headers["x-api-key"] == "from-env"


def test_groq_n_must_be_one() -> None:
    client, transport = _client()
    with pytest.raises(UnsupportedParamsError, match="n only as 1"):
        client.completion("groq/llama-3.3-70b-versatile", MESSAGES, api_key="k", n=2)
    client.completion("groq/llama-3.3-70b-versatile", MESSAGES, api_key="k", n=2, drop_params=True)
    client.completion("groq/llama-3.3-70b-versatile", MESSAGES, api_key="k", n=1)
    assert "n" not in json.loads(transport.requests[0].body)
    assert json.loads(transport.requests[1].body)["n"] == 1


def test_groq_refuses_message_names_or_removes_them_with_drop_params() -> None:
    named = [{"role": "user", "content": "Hi", "name": "ann"}]
    client, transport = _client()
    with pytest.raises(UnsupportedParamsError, match=r"messages\[0\]\.name"):
        client.completion("groq/llama-3.3-70b-versatile", named, api_key="k")
    client.completion("groq/llama-3.3-70b-versatile", named, api_key="k", drop_params=True)
    assert _sent(transport)["messages"] == [{"role": "user", "content": "Hi"}]


def test_wrouter_reasoning_effort_values() -> None:
    client, transport = _client()
    with pytest.raises(UnsupportedParamsError, match="reasoning_effort"):
        client.completion("wrouter/o3-mini", MESSAGES, api_key="k", reasoning_effort="minimal")
    client.completion("wrouter/o3-mini", MESSAGES, api_key="k", reasoning_effort="high")
    assert _sent(transport)["reasoning_effort"] == "high"
    dropped = as_chat(client.completion("wrouter/o3-mini", MESSAGES, api_key="k", reasoning_effort="minimal",
                                        drop_params=True))
    assert "reasoning_effort" not in json.loads(transport.requests[-1].body)
    assert dropped.dropped_params == ("reasoning_effort",)


def test_hosted_vllm_needs_an_api_base_but_no_key() -> None:
    client, transport = _client()
    with pytest.raises(InvalidRequestError, match="pass api_base"):
        client.completion("hosted_vllm/meta-llama/Llama-3-8B", MESSAGES)
    client.completion("hosted_vllm/meta-llama/Llama-3-8B", MESSAGES, api_base="http://gpu:8000/v1")
    sent = transport.requests[0]
    assert sent.url == "http://gpu:8000/v1/chat/completions" and "authorization" not in sent.headers


@pytest.mark.parametrize(("name", "url"), [("ollama", "http://localhost:11434/v1/chat/completions"),
                                           ("lm_studio", "http://localhost:1234/v1/chat/completions")])
def test_local_servers_need_no_key(name: str, url: str) -> None:
    client, transport = _client()
    client.completion(f"{name}/llama3", MESSAGES)
    assert transport.requests[0].url == url


def test_quirks_adapter_default_max_tokens_uses_the_renamed_name() -> None:
    spec = spec_from_row({"name": "acme", "api_base": "https://acme.test/v1", "renamed":
                          {"max_tokens": "max_new_tokens"}, "options": {"default_max_tokens": 99}},
                         adapter=QuirksAdapter())
    client, transport = _client()
    client.register_provider(spec)
    client.completion("acme/m", MESSAGES, api_key="k")
    assert _sent(transport)["max_new_tokens"] == 99


@pytest.mark.parametrize(("environ", "expected"), [
    ({"OPENAI_BASE_URL": "http://gateway:8080/v1"}, "http://gateway:8080/v1/chat/completions"),
    ({"OPENAI_API_BASE": "http://legacy:8080/v1"}, "http://legacy:8080/v1/chat/completions"),
    ({"OPENAI_BASE_URL": "http://gateway:8080/v1", "OPENAI_API_BASE": "http://legacy:8080/v1"},
     "http://gateway:8080/v1/chat/completions"),  # the SDK's name first
    ({"OPENAI_BASE_URL": ""}, "https://api.openai.com/v1/chat/completions"),  # empty means unset
    ({}, "https://api.openai.com/v1/chat/completions"),
])
def test_openai_base_url_comes_from_the_environment_as_the_sdk_reads_it(environ: dict[str, str],
                                                                         expected: str) -> None:
    """Regression: OPENAI_BASE_URL was not read, so the prompt and the key went to api.openai.com."""
    transport = MockTransport(lambda request: HTTPResponse(200, {"content-type": "application/json"}, _chat_body()))
    client = routerlib.Client(transport=transport, environ={"OPENAI_API_KEY": "k", **environ})
    client.completion("openai/gpt-4o-mini", MESSAGES)
    assert transport.requests[0].url == expected
    client.completion("openai/gpt-4o-mini", MESSAGES, api_base="http://mine/v1")  # the call's own wins
    assert transport.requests[1].url == "http://mine/v1/chat/completions"
