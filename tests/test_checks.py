"""routerlib._checks: values that go into a URL, a header or a body are refused before anything is sent.

The header and URL rules are also checked against the standard library's own (http.client is the
sync transport): whatever passes here, http.client accepts.
"""

from __future__ import annotations

import http.client
import math
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routerlib import _checks
from routerlib._checks import (
    credential_problem,
    entry_problem,
    header_problem,
    model_problem,
    segment_problem,
    timeout_problem,
    url_problem,
)
from routerlib.exceptions import InvalidRequestError
from routerlib.providers.base import Deployment, ProviderSpec
from routerlib.providers.registry import builtin_specs

KEY = "sk-test-checks-0123456789"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/v1", "https://api.openai.com/v1", "http://[::1]:8000/v1", "http://my_vllm:8000",
    "https://gateway.example.com/openai/v1/", "http://h/v1/%20x", "http://LOCALHOST:1/", "https://x.example./v1",
    "http://10.0.0.5:65535/v1", "https://xn--bcher-kva.example/v1",
])
def test_good_urls(url: str) -> None:
    assert url_problem(url) is None
    assert url in _checks.GOOD_URLS, "a good URL is not parsed again"


@pytest.mark.parametrize(("url", "reason"), [
    ("", "is empty"), ("localhost:8000", "has no scheme"), ("ftp://h/v1", "scheme 'ftp'"),
    ("http://[::1", "Invalid IPv6"), ("http://h:70000", "Port out of range"), ("http://h:0/", "port 0"),
    ("http://h/v 1", "whitespace"), ("http://h/\x7f", "control"), ("http://hé/", "non-ASCII"),
    ("http://u:p@h/", "user:password@"), ("http://@h/", "user:password@"), ("http:///v1", "has no host"),
    ("http://h/v1?a=1", "query"), ("http://h/v1?", "query"), ("http://h/v1#", "fragment"),
    ("http://h/{x}", "percent-encode"), ("http://-h-/", "not a valid host name"), (5, "must be a string"),
])
def test_bad_urls(url: Any, reason: str) -> None:
    problem = url_problem(url)
    assert problem is not None and reason in problem


def test_a_url_problem_never_shows_userinfo() -> None:
    assert _checks.shown_url("http://admin:s3cret-pass@h:1/v1") == "'http://h:1/v1'"


@given(st.text(max_size=40).map(lambda t: "http://" + t))
def test_an_accepted_url_is_one_http_client_can_send(url: str) -> None:
    if url_problem(url) is None:
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname
        path = parts.path or "/"
        assert path.isascii() and not http.client._contains_disallowed_url_pchar_re.search(path)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("headers", "reason"), [
    ({"x-a": "b\r\nc"}, "line break"), ({"x-a": "é日"}, "non-ASCII"), ({"x-a": "Müller"}, "non-ASCII"),
    ({"x-a": "\x00"}, "control"),
    ({"x a": "1"}, "not a valid HTTP header name"), ({"": "1"}, "not a valid"), ({1: "1"}, "not a valid"),
    ({"Connection": "close"}, "writes it itself"), ({"TE": "x"}, "writes it itself"),
    ({"A": "1", "a": "2"}, "twice"), ({"x": None}, "must be a string"), ([("a", "b")], "must be a dict"),
])
def test_bad_headers(headers: Any, reason: str) -> None:
    problem = header_problem(headers)
    assert problem is not None and reason in problem


def test_good_headers_including_tabs_and_host() -> None:
    assert header_problem({"X-Trace": "a\tb", "x-name": "Mueller", "Host": "llm.internal",
                           "Authorization": "Bearer x"}) is None


def test_header_problems_never_quote_the_value() -> None:
    problem = header_problem({"x-custom": KEY + "\n"})
    assert problem is not None and KEY not in problem


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
def test_accepted_headers_are_ones_http_client_sends(headers: dict[str, str]) -> None:
    if header_problem(headers) is None:
        for name, value in headers.items():
            assert http.client._is_legal_header_name(name.encode("ascii"))  # type: ignore[attr-defined]
            assert not http.client._is_illegal_header_value(value.encode("latin-1"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [KEY + "\n", "\n" + KEY, KEY + " ", "sk é", "a\x00b", KEY + "\r"])
def test_bad_credentials_are_refused_without_echo(value: str) -> None:
    problem = credential_problem(value)
    assert problem is not None and "line break" in problem and KEY not in problem


def test_good_credentials() -> None:
    for value in (KEY, "AIza-" + "x" * 30, "eyJ0eXAi.eyJhdWQ.sig-_", "k"):
        assert credential_problem(value) is None
    assert credential_problem(123) == "must be a string, got int"


@pytest.mark.parametrize(("model", "reason"), [
    ("openai/", "names no model"), (" m", "whitespace"), ("m ", "whitespace"), ("m\n", "line break"),
    ("", "is empty"), ("  ", "is empty"), ("a\ud800", "invalid character"), (None, "must be a string"),
])
def test_bad_model_names(model: Any, reason: str) -> None:
    problem = model_problem(model)
    assert problem is not None and reason in problem


def test_model_names_are_not_stripped_but_inner_spaces_and_paths_are_allowed() -> None:
    assert "did you mean 'gpt-4o'" in (model_problem(" gpt-4o ") or "")
    for model in ("openai/my model", "/mnt/models/llama-3", "a/b/c", "x:y"):
        assert model_problem(model) is None


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a\\b", "a?b", "a#b", "a%2F", "a:b", "a b", "a\tb", "\x00"])
def test_bad_path_segments(value: str) -> None:
    assert segment_problem(value) is not None


def test_good_path_segments() -> None:
    for value in ("gemini-2.5-flash", "my_deployment.v2", "gémini", "...", ".x"):
        assert segment_problem(value) is None


@pytest.mark.parametrize("value", [math.inf, math.nan, 0, -1, 8 * 86400, True, "5", None])
def test_bad_timeouts(value: Any) -> None:
    assert timeout_problem(value) is not None


def test_good_timeouts() -> None:
    assert timeout_problem(0.001) is None and timeout_problem(7 * 86400) is None


@pytest.mark.parametrize(("entry", "reason"), [
    ({"model": "openai/"}, "model='openai/': names no model"),
    ({"model": "m", "api_key": KEY + "\n"}, "api_key: contains a line break"),
    ({"model": "m", "azure_ad_token": 5}, "azure_ad_token: must be a string"),
    ({"model": "m", "api_base": "http://u:pw@h/v1"}, "api_base='http://h/v1': contains user:password@"),
    ({"model": "m", "base_url": ""}, "base_url='': is empty"),
    ({"model": "m", "headers": {"a": "\n"}}, "headers: header 'a'"),
    ({"model": "m", "extra_headers": True}, "extra_headers: must be a dict"),
    ({"model": "m", "timeout": math.inf}, "timeout=inf"),
    ({"model": "m", "api_version": "2024 10"}, "api_version="),
    ({"model": "m", "input_cost_per_token": "abc"}, "input_cost_per_token='abc': must be a finite number >= 0"),
    ({"model": "m", "output_cost_per_token": -1}, "output_cost_per_token=-1"),
    ({"model_name": "m", "litellm_params": {"model": "m", "api_base": "h:1"}}, "litellm_params.api_base"),
    ("not a dict", "must be a dict"),
])
def test_entry_problems(entry: Any, reason: str) -> None:
    problem = entry_problem(entry)
    assert problem is not None and reason in problem
    assert KEY not in problem and "pw" not in problem


def test_a_good_entry() -> None:
    entry = {"model": "openai/gpt-4o", "api_base": "https://x/v1", "api_key": KEY, "timeout": 30,
             "input_cost_per_token": "0.000001", "headers": {"x-a": "1"}}
    assert entry_problem(entry) is None


# -- check_deployment: what the environment, a provider row or an entry adds

def deployment(**fields: Any) -> Deployment:
    spec = fields.pop("spec", builtin_specs()["openai"])
    return Deployment(spec=spec, **{"model": "gpt-4o-mini", "api_base": "https://api.example.com/v1", **fields})


@pytest.mark.parametrize(("fields", "reason"), [
    ({"api_base": "api.example.com/v1"}, "openai api_base='api.example.com/v1': has no scheme"),
    ({"api_base": "https://u:p4ss@x/v1"}, "contains user:password@"),
    ({"model": ""}, "names no model"),
    ({"api_key": KEY + "\n"}, "the openai api_key contains a line break"),
    ({"bearer_token": "a b"}, "the openai bearer token contains"),
    ({"headers": {"x": "\r\n"}}, "openai headers: header 'x'"),
])
def test_a_deployment_that_cannot_be_sent_is_refused(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        deployment(**fields)
    assert reason in str(info.value)
    assert KEY not in str(info.value) and "p4ss" not in str(info.value)


def test_a_model_in_the_url_must_be_one_safe_segment() -> None:
    gemini = builtin_specs()["gemini"]
    for model in ("../admin", "x:generateContent?alt=sse#", "models/../x", "a/b"):
        with pytest.raises(InvalidRequestError, match="goes into the URL path"):
            deployment(spec=gemini, model=model)
    assert deployment(spec=gemini, model="models/gemini-2.5-flash").model == "models/gemini-2.5-flash"
    assert deployment(spec=builtin_specs()["openai"], model="a/b:c").model == "a/b:c", "OpenAI sends it in the body"


def test_the_litellm_bridge_is_not_checked_as_a_url() -> None:
    spec = ProviderSpec(name="bridge", adapter=builtin_specs()["openai"].adapter, options={"in_process": True})
    assert deployment(spec=spec, api_base="litellm:provider-default").api_base == "litellm:provider-default"


@pytest.mark.parametrize(("entry", "reason"), [
    ({1: "x", "model": "m"}, "keys must be strings"),
    ({"model_name": "m", "litellm_params": 5}, "litellm_params: must be a dict"),
    ({"model_name": "m", "litellm_params": {1: "m"}}, "litellm_params: must be a dict with string keys"),
    ({"model_name": "m", "litellm_params": {"model": "m", "api_key": "a b"}}, "litellm_params.api_key: contains"),
])
def test_entry_shapes_planning_reads(entry: Any, reason: str) -> None:
    problem = entry_problem(entry)
    assert problem is not None and reason in problem
