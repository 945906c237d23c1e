"""routerlib._secrets: which values are credentials, hiding them in every form and in whole exception
chains, and the plaintext warning."""

from __future__ import annotations

import base64
import traceback
import warnings
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from routerlib import _secrets
from routerlib._secrets import (
    HIDDEN,
    RedactedError,
    Redactor,
    deployment_secrets,
    is_credential_header,
    redact_exception,
    redacted,
    strip_userinfo,
    warn_if_plaintext,
)
from routerlib.exceptions import APIError, PlaintextCredentialsWarning, StreamInterruptedError
from routerlib.providers.base import Deployment, ProviderSpec
from routerlib.providers.registry import builtin_specs

KEY = "sk-proj-A1b2C3d4+E5f6/G7h8=I9j0"


@pytest.mark.parametrize("name", ["Authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
                                  "Ocp-Apim-Subscription-Key", "X-Auth-Token", "Cookie", "x-amz-security-token",
                                  "X-Client-Secret", "x-password", "x-session-id", "helicone-auth"])
def test_credential_header_names(name: str) -> None:
    assert is_credential_header(name)


@pytest.mark.parametrize("name", ["content-type", "accept", "anthropic-version", "x-request-id", "openai-organization",
                                  "user-agent", "x-trace"])
def test_ordinary_header_names(name: str) -> None:
    assert not is_credential_header(name)


def test_redacted_hides_credential_fields_and_headers_but_not_token_counts() -> None:
    value = {"api_key": KEY, "max_tokens": 5, "input_cost_per_token": "1e-6", "azure_ad_token": KEY,
             "headers": {"X-Gateway-Token": KEY, "x-trace": "t"}, "litellm_params": {"api_key": KEY}}
    shown = redacted(value)
    assert KEY not in repr(shown)
    assert shown["max_tokens"] == 5 and shown["input_cost_per_token"] == "1e-6"
    assert shown["headers"] == {"X-Gateway-Token": HIDDEN, "x-trace": "t"}
    assert redacted([{"extra_headers": {"Cookie": KEY}}]) == [{"extra_headers": {"Cookie": HIDDEN}}]
    assert redacted({"Authorization": KEY}, headers=True) == {"Authorization": HIDDEN}


@pytest.mark.parametrize(("url", "stripped"), [
    ("http://u:p@h:1/v1", "http://h:1/v1"), ("https://user@h/v1", "https://h/v1"), ("http://h/v1", "http://h/v1"),
    ("http://h/a@b", "http://h/a@b"), ("http://u:p@h/a@b?x=@#@", "http://h/a@b?x=@#@"), ("no-scheme@x", "no-scheme@x"),
    ("http://a@b@h/", "http://h/"),
])
def test_strip_userinfo(url: str, stripped: str) -> None:
    assert strip_userinfo(url) == stripped


def _deployment(spec: ProviderSpec | None = None, **fields: Any) -> Deployment:
    return Deployment(spec=spec or builtin_specs()["openai"], **{"model": "m", "api_base": "https://x/v1", **fields})


def test_deployment_secrets_lists_every_credential_it_sends() -> None:
    basic = base64.b64encode(b"alice:wonder-land-pw").decode()
    spec = ProviderSpec(name="gw", adapter=builtin_specs()["openai"].adapter,
                        extra_headers={"x-portkey-api-key": "pk-row-credential", "x-trace": "visible-1"})
    dep = _deployment(spec, api_key=KEY, bearer_token="entra-token-0123456789",
                      headers={"Authorization": "Bearer gateway-token-0123", "Proxy-Authorization": f"Basic {basic}",
                               "x-other": "visible-2"})
    secrets = dep.secrets
    for value in (KEY, "entra-token-0123456789", "Bearer gateway-token-0123", "gateway-token-0123",
                  f"Basic {basic}", basic, "alice:wonder-land-pw", "wonder-land-pw", "pk-row-credential"):
        assert value in secrets
    assert "visible-1" not in secrets and "visible-2" not in secrets
    assert deployment_secrets(dep) == secrets, "cached, same answer"
    assert list(secrets) == sorted(secrets, key=len, reverse=True), "longest first"


def test_each_cookie_value_is_a_secret_of_its_own() -> None:
    dep = _deployment(api_key=KEY, headers={"Cookie": "session=sess-value-0123456789; theme=dark"})
    assert "session=sess-value-0123456789; theme=dark" in dep.secrets and "sess-value-0123456789" in dep.secrets
    assert "Cookie" not in str(dep.secrets)
    assert "sess-value-0123456789" not in Redactor(dep.secrets).text("echoed: sess-value-0123456789")

    from routerlib.cache.credentials import shows_credential  # the cache's echo check reads the same list

    assert shows_credential(b'{"cookies":{"session":"sess-value-0123456789"}}', dep.secrets)


def test_deployment_repr_and_id_show_no_credential() -> None:
    spec = ProviderSpec(name="gw", adapter=builtin_specs()["openai"].adapter, extra_headers={"api-key": "row-secret-1"})
    dep = _deployment(spec, api_key=KEY, bearer_token="entra-token-0123456789",
                      headers={"Authorization": "Bearer gateway-token-0123", "x-trace": "visible"})
    for text in (repr(dep), str(dep), repr(spec), dep.id):
        assert KEY not in text and "entra-token" not in text and "gateway-token" not in text
        assert "row-secret-1" not in text
    assert "visible" in repr(dep) and "https://x/v1" in repr(dep)


# -- Redactor

def test_every_form_of_a_secret_is_hidden() -> None:
    r = Redactor([KEY])
    text = " | ".join([KEY, quote(KEY, safe=""), quote_plus(KEY), base64.b64encode(KEY.encode()).decode(),
                       base64.urlsafe_b64encode(KEY.encode()).decode(), KEY[:14] + "...", "..." + KEY[-14:]])
    hidden = r.text(text)
    for form in (KEY, quote(KEY, safe=""), KEY[:10], KEY[-10:], base64.b64encode(KEY.encode()).decode()[:12]):
        assert form not in hidden
    assert hidden.count(" | ") == 6, "the text around the secrets is kept"


def test_a_percent_encoded_secret_is_found_in_either_case() -> None:
    key = "sk-live+SECRET/0123456789"
    lower = quote(key, safe="").replace("%2B", "%2b").replace("%2F", "%2f")  # %2b is %2B to every server
    assert key not in Redactor([key]).text(f"echo: {lower}") and HIDDEN in Redactor([key]).text(f"echo: {lower}")
    assert "SECRET" not in Redactor([key]).text(f"echo: {lower}")


@given(st.binary(max_size=7), st.binary(max_size=7), st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))
def test_a_secret_inside_a_base64_blob_is_found_at_any_alignment(prefix: bytes, suffix: bytes, encode: Any) -> None:
    blob = encode(prefix + KEY.encode() + suffix).decode()
    hidden = Redactor([KEY]).text(blob)
    assert HIDDEN in hidden
    assert len(hidden) < len(blob) - len(KEY), "the part that encodes the key is gone"


def test_short_secrets_are_not_hidden_and_none_is_ignored() -> None:
    r = Redactor(["abc", None, ""])
    assert not r and r.text("abc abc") == "abc abc"


def test_values_are_redacted_in_keys_and_nested_containers() -> None:
    value = {KEY: [KEY, {"x": (1, KEY)}], "n": 5, "f": 1.5, "b": KEY.encode(), "none": None}
    shown = Redactor([KEY]).value(value)
    assert KEY not in repr(shown)
    assert shown["n"] == 5 and shown["f"] == 1.5 and shown["none"] is None


def test_an_unknown_object_showing_a_secret_is_dropped() -> None:
    class Holder:
        def __repr__(self) -> str:
            return f"Holder({KEY})"

    assert Redactor([KEY]).value([Holder()]) == [HIDDEN]


# -- whole chains

class Model(BaseModel):
    n: int


def _validation_error() -> Exception:
    try:
        Model.model_validate({"n": KEY})
    except Exception as exc:
        return exc
    raise AssertionError


def test_a_chain_is_redacted_to_its_end() -> None:
    inner = ValueError(f"bad header value b'Bearer {KEY}\\n'")
    middle = APIError(f"the provider quoted {quote(KEY, safe='')}", body={"echo": KEY})
    middle.__cause__ = inner
    outer = StreamInterruptedError(f"the stream broke off: {KEY[:20]}", partial_text="x")
    outer.__cause__ = middle
    outer.__context__ = _validation_error()
    outer.add_note(f"while talking with key {KEY}")
    redact_exception(outer, [KEY])
    text = "".join(traceback.format_exception(outer))
    assert KEY not in text and KEY[:12] not in text and quote(KEY, safe="") not in text
    assert outer.__cause__ is middle, "routerlib errors are redacted in place"
    assert isinstance(middle.__cause__, RedactedError) and middle.__cause__.original_type == "builtins.ValueError"
    assert "bad header value" in str(middle.__cause__)
    assert isinstance(outer.__context__, RedactedError) and "validation error" in str(outer.__context__)
    assert KEY not in repr(middle.body)


def test_a_validation_error_loses_its_input_even_without_secrets() -> None:
    error = APIError("unreadable")
    error.__cause__ = _validation_error()
    redact_exception(error, [])
    assert isinstance(error.__cause__, RedactedError)
    assert "input" not in str(error.__cause__) and "n: Input should be a valid integer" in str(error.__cause__)


def test_an_exception_without_secrets_is_kept() -> None:
    error = APIError("x")
    cause = OSError("connection reset")
    error.__cause__ = cause
    redact_exception(error, [KEY])
    assert error.__cause__ is cause


def test_cycles_and_broken_str_do_not_hang_or_leak() -> None:
    class BrokenError(Exception):
        def __str__(self) -> str:
            raise RuntimeError

    a, b = APIError(f"a {KEY}"), APIError("b")
    a.__context__, b.__context__ = b, a
    b.__cause__ = BrokenError()
    redact_exception(a, [KEY])
    assert KEY not in a.message and isinstance(b.__cause__, RedactedError)


def test_api_error_redact_takes_several_secrets() -> None:
    error = APIError(f"{KEY} and token-0123456789abc", body=[f"x{KEY}y"])
    error.redact(KEY, None, "token-0123456789abc")
    assert error.message == f"{HIDDEN} and {HIDDEN}" and error.args == (error.message,)
    assert error.body == [f"x{HIDDEN}y"]


# -- plaintext warning

def test_warn_if_plaintext_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_secrets, "_CHECKED_URLS", {})
    monkeypatch.setattr(_secrets, "_WARNED_HOSTS", set())
    with pytest.warns(PlaintextCredentialsWarning, match="to vllm.lan"):
        warn_if_plaintext("http://u:p4ss@vllm.lan:8000/v1", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_plaintext("http://vllm.lan:8001/v1", True)  # same host
        for url in ("http://127.0.0.1/v1", "http://[::1]/v1", "http://localhost/v1", "http://a.localhost/",
                    "http://[::ffff:127.0.0.1]/v1", "https://vllm.other/v1", "HTTPS://vllm.other/v1"):
            warn_if_plaintext(url, True)
        warn_if_plaintext("http://vllm.other/v1", False)
        warn_if_plaintext("http://[bad/v1", True)


def test_the_warning_never_shows_userinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_secrets, "_CHECKED_URLS", {})
    monkeypatch.setattr(_secrets, "_WARNED_HOSTS", set())
    with pytest.warns(PlaintextCredentialsWarning) as record:
        warn_if_plaintext("http://u:p4ss-word@vllm.lan:8000/v1", True)
    assert "p4ss-word" not in str(record[0].message)
