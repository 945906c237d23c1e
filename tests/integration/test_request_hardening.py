"""Bad input never reaches a server: each value below is an InvalidRequestError at validation (or
when the deployment is made), before any connection is opened, and never retried.

Every test runs against a real loopback server (``StrictServer``) that counts TCP connections and
records requests, and asserts that it saw nothing. The last tests fuzz the whole parameter surface
end to end: any value for any parameter gives a valid request (which the strict server accepts) or a
typed local error (and the server saw nothing), never another exception.
"""

from __future__ import annotations

import asyncio
import math
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strict_server import StrictServer

import routerlib
from routerlib.exceptions import (
    ContextWindowExceededError,
    InvalidRequestError,
    MissingAPIKeyError,
    UnsupportedParamsError,
)

KEY = "sk-test-KEY-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def server() -> Iterator[StrictServer]:
    with StrictServer() as s:
        yield s


@pytest.fixture
def fresh(server: StrictServer) -> StrictServer:
    with server.lock:
        server.connections = 0
        server.requests.clear()
        server.invalid.clear()
    return server


def refused(server: StrictServer, model: str = "openai/gpt-4o-mini", environ: dict[str, str] | None = None,
            **params: Any) -> InvalidRequestError:
    """The InvalidRequestError a call with ``params`` raises, after checking the server saw nothing."""
    params.setdefault("messages", MESSAGES)
    params.setdefault("api_base", server.url)
    if "api_key" not in params and environ is None:
        params["api_key"] = KEY
    client = routerlib.Client(environ=environ or {})
    with pytest.raises(InvalidRequestError) as info:
        client.completion(model, **params)
    assert server.connections == 0 and server.requests == [], "nothing may be sent"
    assert info.value.attempts == (), "refused before any attempt, so never retried"
    text = "".join(traceback.format_exception(info.value))
    assert KEY not in text and "pa55w0rd" not in text
    return info.value


# -- headers (item 15): CR/LF, non-latin-1, bad names, framing headers, extra_headers=True

@pytest.mark.parametrize(("headers", "expected"), [
    ({"x-a": "b\r\nX-Injected: 1"}, "line break"),
    ({"x-a": "b\nc"}, "line break"),
    ({"x-a": "日本"}, "non-ASCII"),
    ({"x-a": "Müller"}, "non-ASCII"),
    ({"x-a": "a\x00b"}, "control character"),
    ({"x a": "b"}, "not a valid HTTP header name"),
    ({"x-a\r\nX-Injected": "1"}, "not a valid HTTP header name"),
    ({"\ud800": "1"}, "not a valid HTTP header name"),
    ({"": "1"}, "not a valid HTTP header name"),
    ({"Content-Length": "0"}, "routerlib writes it itself"),
    ({"Transfer-Encoding": "chunked"}, "routerlib writes it itself"),
    ({"X-A": "1", "x-a": "2"}, "given twice"),
    ({"x-a": 1}, "string"),
])
@pytest.mark.parametrize("name", ["headers", "extra_headers"])
def test_bad_headers_are_refused(fresh: StrictServer, name: str, headers: dict[Any, Any], expected: str) -> None:
    error = refused(fresh, **{name: headers})
    assert expected in str(error)


def test_header_values_are_never_echoed(fresh: StrictServer) -> None:
    error = refused(fresh, headers={"x-custom": KEY + "\n"})
    assert "x-custom" in str(error)


@pytest.mark.parametrize("value", [True, "Authorization: Bearer x", 5, ["a"]])
def test_extra_headers_must_be_a_dict(fresh: StrictServer, value: Any) -> None:
    error = refused(fresh, extra_headers=value)
    assert "extra_headers" in str(error) and "dict" in str(error)
    assert "Bearer" not in str(error), "the value is not echoed"


# -- api_base (item 15; issue 13 item 7)

@pytest.mark.parametrize(("api_base", "expected"), [
    ("localhost:8000", "did you mean 'http://localhost:8000'"),
    ("127.0.0.1:8000/v1", "has no scheme"),
    ("", "is empty"),
    ("ftp://127.0.0.1/v1", "scheme 'ftp' is not supported"),
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://[zz]:8000/v1", "does not appear to be an IPv4 or IPv6 address"),
    ("http://::1:8000/v1", "not a valid URL"),
    ("http://127.0.0.1:99999/v1", "Port out of range"),
    ("http://127.0.0.1:abc/v1", "Port could not be cast"),
    ("http://127.0.0.1:0/v1", "port 0"),
    ("http://127.0.0.1 :8000/v1", "whitespace"),
    ("http://127.0.0.1:8000/v 1", "whitespace"),
    ("http://127.0.0.1:8000/v1\n", "control character"),
    ("http://bücher.example/v1", "xn--"),
    ("http://exa mple/v1", "whitespace"),
    ("http:///v1", "has no host"),
    ("http://a_b!c/v1", "not a valid host name"),
    ("http://127.0.0.1:8000/v1?key=1", "query or a fragment"),
    ("http://127.0.0.1:8000/v1#x", "query or a fragment"),
    ("http://127.0.0.1:8000/v1/<x>", "percent-encode"),
])
def test_bad_api_base_is_refused_not_retried(fresh: StrictServer, api_base: str, expected: str) -> None:
    error = refused(fresh, api_base=api_base)
    assert expected in str(error)
    assert error.code == "invalid_parameter"


def test_api_base_with_userinfo_is_refused_without_echoing_the_password(fresh: StrictServer) -> None:
    port = fresh.url.split(":")[2].split("/")[0]
    error = refused(fresh, api_base=f"http://admin:pa55w0rd@127.0.0.1:{port}/v1")
    assert "user:password@" in str(error) and "never sends" in str(error)
    assert f"http://127.0.0.1:{port}/v1" in str(error)


def test_bad_api_base_in_a_fallback_or_model_list_entry(fresh: StrictServer) -> None:
    error = refused(fresh, fallbacks=[{"model": "openai/gpt-4o", "api_base": "localhost:9"}])
    assert "fallbacks[0]: api_base='localhost:9'" in str(error)
    entry = {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "api_base": "http://[::1"}}
    error = refused(fresh, model="m", model_list=[entry])
    assert "model_list[0]: litellm_params.api_base" in str(error)


def test_bad_api_base_from_the_environment_is_refused_when_the_deployment_is_made(fresh: StrictServer) -> None:
    environ = {"AZURE_API_KEY": KEY, "AZURE_API_BASE": "my-resource.openai.azure.com"}
    error = refused(fresh, model="azure/my-deployment", environ=environ, api_base=None)
    assert "azure api_base='my-resource.openai.azure.com': has no scheme" in str(error)


# -- timeout and deadline

@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, 0.0, -1, 1e300, "5", True])
@pytest.mark.parametrize("name", ["timeout", "deadline"])
def test_bad_timeouts_are_refused(fresh: StrictServer, name: str, value: Any) -> None:
    error = refused(fresh, **{name: value})
    assert f"{name}=" in str(error)


@pytest.mark.parametrize("value", [math.inf, math.nan, -1, "5"])
def test_bad_timeout_in_an_entry_is_refused(fresh: StrictServer, value: Any) -> None:
    error = refused(fresh, fallbacks=[{"model": "openai/gpt-4o", "timeout": value}])
    assert "fallbacks[0]: timeout=" in str(error)


# -- JSON-bound values: unserialisable, circular, NaN, lone surrogates

def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(("params", "expected"), [
    ({"extra_body": {"x": object()}}, "extra_body: cannot be sent as JSON"),
    ({"extra_body": {"x": _circular()}}, "extra_body: contains itself"),
    ({"extra_body": {"x": math.nan}}, "extra_body: contains NaN or infinity"),
    ({"extra_body": {"x": [1, {"y": math.inf}]}}, "extra_body: contains NaN or infinity"),
    ({"extra_body": {"x": b"\xff"}}, "extra_body: cannot be sent as JSON"),
    ({"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "a\ud800b"}]},
     "messages[1]: contains a lone surrogate"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "\udfff"}]}]}, "messages[0]: contains a lone"),
    ({"messages": [{"role": "user", "content": "x", "name": "\ud800"}]}, "messages[0]: contains a lone"),
    ({"messages": [{"role": "user", "content": "x", "extra": _circular()}]}, "messages[0]: contains itself"),
    ({"messages": [{"role": "user", "content": "x", "extra": object()}]}, "messages[0]: cannot be sent"),
    ({"tools": [{"type": "function", "function": {"name": "f", "description": "\ud83d"}}]}, "tools: contains a lone"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"x": object()}}}]}, "tools: cannot"),
    ({"stop": ["\ud800"]}, "stop: contains a lone surrogate"),
    ({"user": "\ud800"}, "user: contains a lone surrogate"),
    ({"metadata": {"tags": ["ok"], "loop": _circular()}}, "metadata: contains itself"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"d": math.nan}}}},
     "response_format: contains NaN"),
    ({"logit_bias": {"1": math.inf}}, "logit_bias="),
    ({"repetition_penalty": math.inf}, "repetition_penalty="),
    ({"input_cost_per_token": "NaN"}, "input_cost_per_token="),
])
def test_values_that_cannot_be_sent_as_json_are_refused(fresh: StrictServer, params: dict[str, Any],
                                                        expected: str) -> None:
    assert expected in str(refused(fresh, **params))


def test_a_lone_surrogate_in_a_text_completion_prompt_is_refused(fresh: StrictServer) -> None:
    client = routerlib.Client(environ={})
    with pytest.raises(InvalidRequestError, match="prompt: contains a lone surrogate"):
        client.text_completion("text-completion-openai/gpt-3.5-turbo-instruct", "a\ud800", api_base=fresh.url,
                               api_key=KEY)
    assert fresh.connections == 0


def test_a_lone_surrogate_on_a_raw_prompt_provider_template_is_refused(fresh: StrictServer) -> None:
    error = refused(fresh, model="text-completion-openai/my-base-model", bos_token="\ud800")
    assert "bos_token: contains a lone surrogate" in str(error)


# -- model names (issue 13 item 7)

@pytest.mark.parametrize(("model", "expected"), [
    ("openai/", "names no model after the provider"),
    (" gpt-4o-mini ", "did you mean 'gpt-4o-mini'"),
    ("openai/gpt-4o-mini\n", "line break"),
    ("gpt-4o-mini ", "leading or trailing whitespace"),
    ("   ", "is empty"),
    ("openai/gpt\x00", "control character"),
])
def test_bad_model_names_are_refused(fresh: StrictServer, model: str, expected: str) -> None:
    assert expected in str(refused(fresh, model=model))


def test_a_fallback_with_an_empty_model_name_is_refused(fresh: StrictServer) -> None:
    assert "fallbacks[0]: names no model" in str(refused(fresh, fallbacks=["anthropic/"]))


# -- credentials with line breaks (items 10 and 15)

@pytest.mark.parametrize("key", [KEY + "\n", KEY + "\r\n", " " + KEY, KEY + "\t", "sk-tést-0123456789"])
def test_a_key_with_a_line_break_or_space_is_refused_without_echoing_it(fresh: StrictServer, key: str) -> None:
    error = refused(fresh, api_key=key)
    assert "api_key=<hidden>" in str(error)
    assert key.strip() not in str(error) and key.strip() not in repr(error.__dict__)


def test_an_environment_key_with_a_trailing_newline_is_refused_without_echoing_it(fresh: StrictServer) -> None:
    # Before: http.client raised an untyped ValueError whose message held the whole header, key included.
    error = refused(fresh, environ={"OPENAI_API_KEY": KEY + "\n"})
    assert "the openai api_key contains a line break" in str(error)


@pytest.mark.parametrize("token", [KEY + "\n", "ey J0eXAi"])
def test_a_bad_azure_ad_token_is_refused(fresh: StrictServer, token: str) -> None:
    error = refused(fresh, model="azure/dep", azure_ad_token=token, api_key=None)
    assert "azure_ad_token=<hidden>" in str(error)
    error = refused(fresh, model="azure/dep", environ={"AZURE_AD_TOKEN": token})
    assert "bearer token contains" in str(error)


def test_a_fallback_key_with_a_newline_is_refused(fresh: StrictServer) -> None:
    error = refused(fresh, fallbacks=[{"model": "openai/gpt-4o", "api_key": KEY + "\n"}])
    assert "fallbacks[0]: api_key: contains a line break" in str(error)


# -- model ids in URL paths (item 12)

@pytest.mark.parametrize("model", [
    "gemini/../../admin", "gemini/x:generateContent?alt=sse#", "gemini/..", "gemini/a/b", "gemini/a%2Fb",
    "gemini/a b", "gemini/models/../x", "gemini/x#frag",
])
def test_gemini_model_ids_that_would_change_the_url_are_refused(fresh: StrictServer, model: str) -> None:
    error = refused(fresh, model=model, api_base=fresh.root + "/v1beta")
    assert "goes into the URL path" in str(error)


@pytest.mark.parametrize("model", ["azure/..", "azure/.", "azure/a/b", "azure/a?b", "azure/x:y"])
def test_azure_deployment_ids_that_would_change_the_url_are_refused(fresh: StrictServer, model: str) -> None:
    assert "goes into the URL path" in str(refused(fresh, model=model, api_base=fresh.root))


def test_azure_deployment_id_parameter_is_checked_too(fresh: StrictServer) -> None:
    error = refused(fresh, model="azure/dep", api_base=fresh.root, deployment_id="../../admin")
    assert "deployment_id=" in str(error) and "goes into the URL path" in str(error)


def test_a_non_ascii_gemini_model_id_is_percent_encoded_not_an_untyped_error(fresh: StrictServer) -> None:
    # Before: UnicodeEncodeError from http.client on sync.
    client = routerlib.Client(environ={})
    response = client.completion("gemini/gémini-ünicode", MESSAGES, api_base=fresh.root + "/v1beta", api_key=KEY)
    assert response.choices[0].message.content == "Hi!"
    assert fresh.requests[-1]["path"] == "/v1beta/models/g%C3%A9mini-%C3%BCnicode:generateContent"


def test_a_plain_gemini_model_id_is_sent_as_is(fresh: StrictServer) -> None:
    routerlib.Client(environ={}).completion("gemini/gemini-2.5-flash", MESSAGES, api_base=fresh.root + "/v1beta",
                                            api_key=KEY, stream=False)
    assert fresh.requests[-1]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"


# -- async: the same checks, the same errors

def test_async_calls_refuse_the_same_values(fresh: StrictServer) -> None:
    client = routerlib.Client(environ={})

    async def call(**params: Any) -> None:
        await client.acompletion("openai/gpt-4o-mini", MESSAGES, **{"api_base": fresh.url, "api_key": KEY, **params})

    for params in ({"api_base": "localhost:8000"}, {"headers": {"x": "a\r\nb"}}, {"timeout": math.inf},
                   {"extra_body": {"x": object()}}, {"api_key": KEY + "\n"}):
        with pytest.raises(InvalidRequestError):
            asyncio.run(call(**params))
    assert fresh.connections == 0


# -- the whole surface, fuzzed end to end

_circ: list[Any] = []
_circ.append(_circ)
_ATOMS = [None, True, False, 0, -1, 1, 2**70, 0.5, math.nan, math.inf, "", " ", "x", "\n", "a\r\nb", "\ud800", "é",
          "日本", "a\x00b", [], [1], {}, {"a": 1}, {"a": object()}, _circ, b"\xff", object(), ("t",), {"type": "text"}]
_text = st.one_of(st.sampled_from(["", " ", "x", "\n", "\ud800", "é", "a:b", "..", "/", "?", "#"]), st.text(max_size=6))
_any = st.recursive(st.one_of(st.sampled_from(_ATOMS), _text, st.integers(), st.floats()),
                    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(_text, c, max_size=3)), max_leaves=5)
_part = st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["text", "image_url", "input_audio", "file"]), _any)},
                              optional={"text": _any, "image_url": _any, "input_audio": _any, "file": _any})
_message = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["system", "user", "assistant", "tool", "developer", "function"]), _any)},
    optional={"content": st.one_of(_text, _any, st.lists(_part, max_size=2)), "tool_call_id": _any, "name": _any,
              "tool_calls": _any})
_SHAPED = {
    "messages": st.lists(_message, min_size=1, max_size=2),
    "headers": st.dictionaries(_text, st.one_of(_text, _any), max_size=2),
    "extra_headers": st.one_of(_any, st.dictionaries(_text, _text, max_size=2)),
    "tools": st.lists(st.one_of(_any, st.fixed_dictionaries({
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": _text}, optional={"parameters": _any})})), max_size=2),
}
#: Everything a caller may pass, except what would leave the loopback server (api_base, fallbacks, model_list
#: point elsewhere), wait on the clock (timeout, deadline, retries) or skip the network (mock_response): those
#: are fuzzed without I/O in tests/test_request.py.
_FUZZED = sorted(set(routerlib._request.ACCEPTED) - {
    "model", "api_base", "base_url", "fallbacks", "model_list", "timeout", "deadline", "num_retries", "max_retries",
    "mock_response", "policy", "api_key", "context_window_fallback_dict", "stream"})
_MODELS = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
           "text-completion-openai/gpt-3.5-turbo-instruct"]
_LOCAL = (InvalidRequestError, UnsupportedParamsError, ContextWindowExceededError, MissingAPIKeyError)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(model=st.sampled_from(_MODELS), stream=st.booleans(),
       params=st.dictionaries(st.sampled_from(_FUZZED), _any, max_size=4).flatmap(
           lambda d: st.fixed_dictionaries({k: _SHAPED.get(k, st.just(v)) for k, v in d.items()})))
def test_fuzz_any_value_is_a_valid_request_or_a_typed_local_error(server: StrictServer, model: str, stream: bool,
                                                                 params: dict[str, Any]) -> None:
    base = server.root + ("/v1beta" if model.startswith("gemini/") else "" if model.startswith("anthropic/")
                          else "/v1")
    client = routerlib.Client(environ={})
    with server.lock:
        seen = len(server.requests)
    call: dict[str, Any] = {"messages": MESSAGES, **params, "api_base": base, "api_key": KEY, "num_retries": 0,
                            "timeout": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = client.completion(model, stream=stream, **call)
            if stream:
                list(result)
        except _LOCAL as error:
            event(f"refused: {type(error).__name__}")
            assert len(server.requests) == seen, "a request refused locally must not reach the server"
            return
    event("sent")
    assert server.invalid == [], "every request sent must be valid JSON"
    assert len(server.requests) == seen + 1
    sent = server.requests[-1]
    for name, value in sent["headers"].items():
        assert "\r" not in value and "\n" not in value and name.isascii()
