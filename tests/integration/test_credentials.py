"""No credential ever appears in an error, its chain, a repr or a record, whatever form a provider
echoes it in (items 9 and 10); a key sent over plain http to a non-loopback host is warned about
(item 23). Against a real loopback server that echoes what it received.
"""

from __future__ import annotations

import base64
import json
import pickle
import threading
import traceback
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest

import routerlib
from routerlib.exceptions import APIError, PlaintextCredentialsWarning, StreamInterruptedError

KEY = "sk-proj-Echo+Me/Key=0123456789abcdefXYZ"
TOKEN = "tok-custom-gateway-9876543210zyxwvu"
MESSAGES = [{"role": "user", "content": "hello"}]


class EchoServer:
    """Answers 401 quoting the credentials it got in many forms (``/echo``), or a stream whose second
    event is malformed and quotes the key (``/stream-echo``)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.requests.append(headers)
                if "/stream-echo/" in self.path:
                    self._stream(headers)
                    return
                secrets = [v for k, v in headers.items() if k in ("authorization", "x-gateway-token", "api-key")]
                bare = [s.removeprefix("Bearer ") for s in secrets]
                echoes = []
                for s in bare:
                    echoes += [s, quote(s, safe=""), base64.b64encode(("Bearer " + s).encode()).decode(),
                               base64.b64encode(f"x{s}".encode()).decode(), s[:20] + "...", "..." + s[-20:]]
                message = "Incorrect credentials: " + " | ".join(echoes)
                payload = json.dumps({"error": {"message": message, "code": "invalid_api_key",
                                                "received": headers, "echo": {s: [s] for s in bare}}}).encode()
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, headers: dict[str, str]) -> None:
                key = headers.get("authorization", "").removeprefix("Bearer ")
                first = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
                broken = {"id": "c", "choices": [{"index": "not-an-int", "delta": {"content": key}}], "key": key}
                data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in (first, broken))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def everything_shown(error: BaseException) -> str:
    """Every text a log, a traceback, a pickle or an error tracker could show of ``error``."""
    parts = ["".join(traceback.format_exception(error)), repr(error), repr(error.__dict__)]
    node: BaseException | None = error
    while node is not None:
        parts += [str(node), repr(node), repr(node.args), repr(getattr(node, "__dict__", {}))]
        node = node.__cause__ or node.__context__
    parts.append(repr(pickle.loads(pickle.dumps(error)).__dict__))
    return "\n".join(parts)


def assert_hidden(text: str, secret: str) -> None:
    forms = [secret, quote(secret, safe=""), base64.b64encode(("Bearer " + secret).encode()).decode()[8:-4],
             secret[:12], secret[-12:]]
    for form in forms:
        assert form not in text, f"{form!r} leaked"


def test_an_api_key_echoed_raw_url_encoded_base64_or_truncated_is_hidden(echo: EchoServer) -> None:
    # Before: only the raw key was replaced in the message and body; the URL-encoded, base64 and
    # truncated echoes stayed, in the message, the body and the attempts.
    client = routerlib.Client(environ={})
    with pytest.raises(APIError) as info:
        client.completion("openai/gpt-4o-mini", MESSAGES, api_base=echo.root + "/echo/v1", api_key=KEY,
                          num_retries=0)
    error = info.value
    assert error.status_code == 401 and "Incorrect credentials" in error.message
    assert_hidden(everything_shown(error), KEY)
    assert_hidden(repr(error.attempts), KEY)
    assert "<hidden>" in error.message


def test_a_stream_broken_by_a_chunk_that_quotes_the_key_hides_it_in_the_whole_chain(echo: EchoServer) -> None:
    # Before: the StreamInterruptedError's __cause__ (the parse error) and its pydantic ValidationError
    # (input_value) still held the key.
    client = routerlib.Client(environ={})
    stream = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=echo.root + "/stream-echo/v1",
                               api_key=KEY, stream=True, num_retries=0)
    with pytest.raises(StreamInterruptedError) as info:
        list(stream)
    error = info.value
    assert error.__cause__ is not None, "the cause is kept (redacted), not dropped"
    shown = everything_shown(error)
    assert_hidden(shown, KEY)
    assert "ValidationError" in shown, "the stand-in names the original exception type"


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {TOKEN}"}, {"X-Gateway-Token": TOKEN}])
def test_credentials_other_than_api_key_are_hidden_in_errors(echo: EchoServer, headers: dict[str, str]) -> None:
    client = routerlib.Client(environ={})
    client.register_provider(name="gw", api_base=echo.root + "/echo/v1", key_required=False)
    with pytest.raises(APIError) as info:
        client.completion("gw/m", MESSAGES, headers=headers, num_retries=0)
    assert_hidden(everything_shown(info.value), TOKEN)
    assert_hidden(repr(info.value.attempts), TOKEN)


def test_an_azure_entra_id_token_is_hidden_in_errors(echo: EchoServer) -> None:
    client = routerlib.Client(environ={})
    with pytest.raises(APIError) as info:
        client.completion("azure/dep", MESSAGES, api_base=echo.root + "/echo", azure_ad_token=TOKEN, num_retries=0)
    assert echo.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    assert_hidden(everything_shown(info.value), TOKEN)


# -- item 23: plaintext credentials

def test_a_key_over_plain_http_to_another_host_is_warned_once_per_host() -> None:
    client = routerlib.Client(environ={})
    with pytest.warns(PlaintextCredentialsWarning, match=r"plaintext over http:// to llm\.plain-a\.invalid"):
        client.completion("openai/gpt-4o-mini", MESSAGES, api_base="http://llm.plain-a.invalid:8000/v1",
                          api_key=KEY, mock_response="hi")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlaintextCredentialsWarning)
        client.completion("openai/gpt-4o-mini", MESSAGES, api_base="http://llm.plain-a.invalid:8000/v2",
                          api_key=KEY, mock_response="hi")  # same host: already warned


@pytest.mark.parametrize(("api_base", "params"), [
    ("http://127.0.0.1:9/v1", {"api_key": KEY}),
    ("http://127.8.9.10:9/v1", {"api_key": KEY}),
    ("http://localhost:9/v1", {"api_key": KEY}),
    ("http://[::1]:9/v1", {"api_key": KEY}),
    ("https://llm.plain-b.invalid/v1", {"api_key": KEY}),
    ("http://llm.plain-c.invalid/v1", {}),
])
def test_no_warning_for_loopback_https_or_no_credentials(api_base: str, params: dict[str, Any]) -> None:
    client = routerlib.Client(environ={})
    client.register_provider(name="open", api_base=api_base, key_required=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlaintextCredentialsWarning)
        client.completion("open/m", MESSAGES, mock_response="hi", **params)


def test_a_credential_header_over_plain_http_is_warned_too() -> None:
    client = routerlib.Client(environ={})
    client.register_provider(name="hdr", api_base="http://llm.plain-d.invalid/v1", key_required=False)
    with pytest.warns(PlaintextCredentialsWarning, match="plain-d"):
        client.completion("hdr/m", MESSAGES, mock_response="hi", headers={"X-Gateway-Token": TOKEN})
