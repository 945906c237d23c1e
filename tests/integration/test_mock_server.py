"""Exact wire checks against routerlib.testing.MockServer, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import routerlib
from routerlib import exceptions as ex
from routerlib.testing import MockServer, mock_sse_response

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}]
MODEL = "openai/gpt-4o-mini"
KEY = "sk-mockserver-SECRET-1"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(reply="Hi there, friend") as running:
        yield running


@pytest.fixture
def mock(server: MockServer) -> MockServer:
    server.requests.clear()
    return server


@pytest.fixture
def client() -> Iterator[routerlib.Client]:
    with routerlib.Client(environ={}, sleep=lambda s: None) as c:
        yield c


def headers_of(entry: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in entry["headers"].items()}


def test_headers_and_body_on_the_wire(mock: MockServer, client: routerlib.Client) -> None:
    response = client.completion(MODEL, MESSAGES, api_base=mock.url, api_key=KEY, temperature=0.5, top_p=0.9,
                                 max_completion_tokens=64, stop=["END"], seed=3, user="u-1",
                                 response_format={"type": "json_object"}, extra_headers={"X-Trace": "t-1"},
                                 extra_body={"top_k": 40}, metadata={"not": "sent"}, num_retries=0)
    assert response.choices[0].message.content == "Hi there, friend"
    assert len(mock.requests) == 1
    entry = mock.requests[0]
    assert entry["path"] == "/v1/chat/completions"
    headers = headers_of(entry)
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert headers["x-trace"] == "t-1"
    assert entry["body"] == {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.5, "top_p": 0.9,
                             "max_completion_tokens": 64, "stop": ["END"], "seed": 3, "user": "u-1",
                             "response_format": {"type": "json_object"}, "top_k": 40}


def test_stream_always_asks_for_usage_but_does_not_forward_it(mock: MockServer, client: routerlib.Client) -> None:
    stream = client.completion(MODEL, MESSAGES, api_base=mock.url, api_key=KEY, stream=True)
    chunks = list(stream)
    assert mock.requests[0]["body"]["stream"] is True
    assert mock.requests[0]["body"]["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hi there, friend"
    assert stream.usage is not None and stream.usage.estimated is False, "the server's usage chunk was used"
    assert stream.usage.completion_tokens == 3


def test_stream_forwards_usage_when_asked(mock: MockServer, client: routerlib.Client) -> None:
    stream = client.completion(MODEL, MESSAGES, api_base=mock.url, api_key=KEY, stream=True,
                               stream_options={"include_usage": True})
    chunks = list(stream)
    assert mock.requests[0]["body"]["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == stream.usage.total_tokens  # type: ignore[union-attr]


async def test_async_stream_on_the_wire(mock: MockServer) -> None:
    async with routerlib.Client(environ={}) as client:
        stream = await client.acompletion(MODEL, MESSAGES, api_base=mock.url, api_key=KEY, stream=True)
        chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)
    assert headers_of(mock.requests[0])["authorization"] == f"Bearer {KEY}"
    assert mock.requests[0]["body"]["stream_options"] == {"include_usage": True}


def test_text_completion_on_the_wire(mock: MockServer, client: routerlib.Client) -> None:
    response = client.text_completion("openai/gpt-3.5-turbo-instruct", "Once upon", api_base=mock.url,
                                      api_key=KEY, max_tokens=5)
    assert isinstance(response, routerlib.TextCompletion)
    assert response.choices[0].text == "Hi there, friend"
    assert mock.requests[0]["path"] == "/v1/completions"
    assert mock.requests[0]["body"] == {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon", "max_tokens": 5}


def test_text_completion_stream_on_the_wire(mock: MockServer, client: routerlib.Client) -> None:
    stream = client.text_completion("openai/gpt-3.5-turbo-instruct", "Once upon", api_base=mock.url,
                                    api_key=KEY, stream=True)
    assert "".join(c.choices[0].text for c in stream) == "Hi there, friend"  # type: ignore[attr-defined]
    assert isinstance(stream.response, routerlib.TextCompletion)  # type: ignore[union-attr]
    assert stream.usage is not None and not stream.usage.estimated  # type: ignore[union-attr]
    assert mock.requests[0]["body"]["stream_options"] == {"include_usage": True}


def test_failing_url_gives_typed_errors_and_a_fallback(mock: MockServer, client: routerlib.Client) -> None:
    with pytest.raises(ex.ServiceUnavailableError) as info:
        client.completion(MODEL, MESSAGES, api_base=mock.failing_url(503), api_key=KEY, num_retries=1)
    assert info.value.retry_after == 0.0
    assert len(mock.requests) == 2
    mock.requests.clear()
    response = client.completion(MODEL, MESSAGES, api_base=mock.failing_url(500), api_key=KEY, num_retries=0,
                                 fallbacks=[{"model": "openai/gpt-4o", "api_base": mock.url}])
    assert [(a.model, a.status_code) for a in response.attempts] == [("gpt-4o-mini", 500), ("gpt-4o", None)]
    assert [e["path"] for e in mock.requests] == ["/fail/500/v1/chat/completions", "/v1/chat/completions"]
    assert headers_of(mock.requests[1])["authorization"] == f"Bearer {KEY}", "same provider: key inherited"


def test_mock_server_honours_include_usage_like_openai(mock: MockServer) -> None:
    def raw_stream(stream_options: dict[str, Any] | None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"model": "m", "messages": MESSAGES, "stream": True}
        if stream_options is not None:
            body["stream_options"] = stream_options
        request = urllib.request.Request(mock.url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read().decode()
        events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        return [json.loads(e) for e in events[:-1]]

    assert [e for e in raw_stream(None) if e.get("usage")] == []
    with_usage = raw_stream({"include_usage": True})
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"]["completion_tokens"] == 3


def test_mock_sse_response_shapes() -> None:
    response = routerlib.ModelResponse.model_validate({
        "id": "x", "model": "m", "choices": [{"message": {"content": "a b"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
    events = [json.loads(line[6:]) for line in mock_sse_response(response).body.decode().splitlines()
              if line.startswith("data: {")]
    assert [e["choices"][0]["delta"].get("content") for e in events if e["choices"]] == ["", "a", " b", None]
    assert events[-1]["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    without = mock_sse_response(response, include_usage=False).body
    assert b'"usage"' not in without and without.endswith(b"data: [DONE]\n\n")


def test_one_client_across_two_asyncio_runs(mock: MockServer) -> None:
    client = routerlib.Client(environ={})

    async def twice() -> list[str]:
        out = []
        for _ in range(2):
            r = await client.acompletion(MODEL, MESSAGES, api_base=mock.url, api_key=KEY)
            out.append(r.choices[0].message.content)  # type: ignore[union-attr]
        return out

    assert asyncio.run(twice()) == ["Hi there, friend"] * 2
    assert asyncio.run(twice()) == ["Hi there, friend"] * 2
    assert len(mock.requests) == 4


# -- load: the listen backlog ------------------------------------------------------------------

def _listen_backlog(port: int) -> int | None:
    """The listen backlog of the socket on ``port`` as the kernel reports it (ss's Send-Q), if ss is there."""
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout
    fields = out.split()
    return int(fields[2]) if len(fields) >= 3 and fields[0] == "LISTEN" else None


def test_200_concurrent_async_calls_all_complete_without_a_retry() -> None:
    """Regression: a backlog of 5 made concurrent connections wait for SYN retransmissions (50 calls: 25 s).

    Every call must complete on its first attempt (num_retries=0: a refused or reset connection
    would raise), the server must see exactly 200 requests, and the kernel must report a
    backlog that holds them all.
    """
    async def run(server: MockServer) -> list[Any]:
        async with routerlib.Client(environ={}) as client:
            return await asyncio.gather(*[
                client.acompletion(MODEL, [{"role": "user", "content": f"call {i}"}], api_base=server.url,
                                   api_key=KEY, num_retries=0)
                for i in range(200)], return_exceptions=True)

    with MockServer(reply="ok") as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        backlog = _listen_backlog(port)
        results = asyncio.run(run(server))
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == []
        assert all(r.choices[0].message.content == "ok" and len(r.attempts) == 1 for r in results)
        assert len(server.requests) == 200
        assert sorted(e["body"]["messages"][0]["content"] for e in server.requests) == sorted(
            f"call {i}" for i in range(200))
    if backlog is not None:
        assert backlog >= 200
