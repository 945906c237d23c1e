"""The litellm bridge: kwargs, response conversion, typed errors, streams, no global state.

LiteLLM's own ``mock_response=`` keeps every call offline. Importing LiteLLM fetches its cost
map over the network unless LITELLM_LOCAL_MODEL_COST_MAP is set, so the fixture sets it for
the import (test-only: routerlib itself never sets it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from routerlib._request import build_request
from routerlib.exceptions import (
    APIError,
    APITimeoutError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    RateLimitError,
    RouterlibError,
    UnsupportedParamsError,
)
from routerlib.providers import Deployment
from routerlib.providers.litellm_bridge import (
    DEFAULT_API_BASE,
    LiteLLMNotInstalledError,
    acall_litellm,
    aopen_stream,
    call_litellm,
    litellm_kwargs,
    open_stream,
    to_routerlib_error,
)
from routerlib.providers.openai_compat import OpenAIStreamParser
from routerlib.providers.registry import builtin_specs
from routerlib.streaming import iter_sse
from routerlib.types import ModelResponse, TextCompletion

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")
SPEC = builtin_specs()["litellm"]
MESSAGES = [{"role": "user", "content": "Hi"}]
#: Module-level LiteLLM settings a bridge call must leave as they were.
WATCHED = ("num_retries", "drop_params", "api_key", "api_base", "api_version", "request_timeout",
           "num_retries_per_request", "model_fallbacks", "success_callback", "failure_callback", "callbacks")


@pytest.fixture(scope="module")
def litellm() -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        module = pytest.importorskip("litellm")
    yield module


def _deployment(model: str = "openai/gpt-4o-mini", **fields: Any) -> Deployment:
    return Deployment(spec=SPEC, model=model, api_base=fields.pop("api_base", DEFAULT_API_BASE), **fields)


def _request(**params: Any) -> Any:
    return build_request({"model": "litellm/openai/gpt-4o-mini", "messages": MESSAGES, **params})


def _snapshot(module: ModuleType) -> dict[str, Any]:
    return {name: repr(getattr(module, name, None)) for name in WATCHED}


def test_spec_is_in_process() -> None:
    """The adapter describes the LiteLLM call as a litellm:// request; nothing goes to the network."""
    assert SPEC.options["in_process"] is True and not SPEC.key_required
    request = SPEC.adapter.build_request(_request(temperature=0.5), {"temperature": 0.5}, _deployment())
    assert request.url.startswith("litellm://")
    payload = json.loads(request.body)
    assert payload["kwargs"]["temperature"] == 0.5 and payload["kwargs"]["num_retries"] == 0


def test_kwargs_own_the_retries_and_pass_the_endpoint() -> None:
    kwargs = litellm_kwargs(_request(temperature=0.1, extra_body={"top_k": 3}), {"temperature": 0.1},
                            _deployment(api_key="sk-x", headers={"X-Trace": "1"}), timeout=7.5)
    assert kwargs["num_retries"] == 0 and kwargs["max_retries"] == 0
    assert kwargs["model"] == "openai/gpt-4o-mini" and kwargs["messages"] == MESSAGES
    assert kwargs["temperature"] == 0.1 and kwargs["timeout"] == 7.5 and kwargs["api_key"] == "sk-x"
    assert kwargs["extra_headers"] == {"X-Trace": "1"} and kwargs["extra_body"] == {"top_k": 3}
    assert "api_base" not in kwargs, "the placeholder base is never passed to LiteLLM"
    assert litellm_kwargs(_request(), {}, _deployment(api_base="http://h/v1"))["api_base"] == "http://h/v1"


def test_stream_kwargs_always_ask_for_usage() -> None:
    kwargs = litellm_kwargs(_request(stream=True), {}, _deployment())
    assert kwargs["stream"] is True and kwargs["stream_options"] == {"include_usage": True}


def test_response_is_converted(litellm: ModuleType) -> None:
    response = call_litellm(_request(mock_response="Hello there"), {}, _deployment())
    assert isinstance(response, ModelResponse)
    assert response.choices[0].message.content == "Hello there"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.model == "gpt-4o-mini"


def test_text_completion_is_converted(litellm: ModuleType) -> None:
    request = build_request({"model": "litellm/openai/gpt-3.5-turbo-instruct", "prompt": "Say hi",
                             "mock_response": "hi"})
    response = call_litellm(request, {}, _deployment("openai/gpt-3.5-turbo-instruct"))
    assert isinstance(response, TextCompletion) and response.choices[0].text == "hi"


async def test_async_call(litellm: ModuleType) -> None:
    response = await acall_litellm(_request(mock_response="async hello"), {}, _deployment())
    assert isinstance(response, ModelResponse) and response.choices[0].message.content == "async hello"


@pytest.mark.parametrize(("mock", "expected", "status", "retryable"), [
    ("litellm.RateLimitError", RateLimitError, 429, True),
    ("litellm.ContextWindowExceededError", ContextWindowExceededError, 400, False),
    ("litellm.InternalServerError", InternalServerError, 500, True),
])
def test_errors_are_typed_and_chained(litellm: ModuleType, mock: str, expected: type[APIError], status: int,
                                      retryable: bool) -> None:
    with pytest.raises(expected) as info:
        call_litellm(_request(mock_response=mock), {}, _deployment())
    error = info.value
    assert error.status_code == status and error.retryable is retryable
    assert error.provider == "litellm" and error.model == "openai/gpt-4o-mini"
    assert type(error.__cause__).__module__.startswith("litellm")
    assert error.body["llm_provider"] == "openai"


def test_error_classes_beat_status_codes(litellm: ModuleType) -> None:
    deployment = _deployment()
    policy = litellm.ContentPolicyViolationError(message="blocked", model="m", llm_provider="azure")
    timeout = litellm.Timeout(message="slow", model="m", llm_provider="openai")
    unsupported = litellm.UnsupportedParamsError(message="no logit_bias", model="m", llm_provider="groq")
    assert type(to_routerlib_error(policy, deployment)) is ContentPolicyViolationError
    assert type(to_routerlib_error(timeout, deployment)) is APITimeoutError
    assert type(to_routerlib_error(unsupported, deployment)) is UnsupportedParamsError
    bad = litellm.BadRequestError(message="This model's maximum context length is 8192 tokens", model="m",
                                  llm_provider="openai")
    assert type(to_routerlib_error(bad, deployment)) is ContextWindowExceededError
    plain = litellm.BadRequestError(message="bad role", model="m", llm_provider="openai")
    assert type(to_routerlib_error(plain, deployment)) is BadRequestError


def test_errors_raised_by_litellm_are_chained(litellm: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    exc = litellm.ContentPolicyViolationError(message="flagged", model="gpt-4o", llm_provider="azure")

    def completion(**kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(litellm, "completion", completion)
    with pytest.raises(ContentPolicyViolationError, match="flagged") as info:
        call_litellm(_request(), {}, _deployment())
    assert info.value.__cause__ is exc and info.value.body["llm_provider"] == "azure"


def test_no_hidden_retry_and_no_global_change(litellm: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("LiteLLM retried inside the bridge")

    monkeypatch.setattr(litellm, "completion_with_retries", forbidden)
    monkeypatch.setattr(litellm, "acompletion_with_retries", forbidden)
    before = _snapshot(litellm)
    call_litellm(_request(mock_response="ok"), {}, _deployment())
    with pytest.raises(RateLimitError):
        call_litellm(_request(mock_response="litellm.RateLimitError"), {}, _deployment())
    assert _snapshot(litellm) == before


def _chunks(lines: Iterator[bytes]) -> list[Any]:
    parser = OpenAIStreamParser(_deployment())
    found: list[Any] = []
    for event, data in iter_sse(lines):
        found.extend(parser.feed(event, data))
    assert parser.done
    return found


def test_stream_is_openai_sse(litellm: ModuleType) -> None:
    stream = open_stream(_request(stream=True, mock_response="hello there you"), {}, _deployment())
    assert stream.status == 200
    chunks = _chunks(stream.lines())
    stream.close()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello there you"
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_async_stream(litellm: ModuleType) -> None:
    stream = await aopen_stream(_request(stream=True, mock_response="a b"), {}, _deployment())
    lines = [line async for line in stream.lines()]
    await stream.aclose()
    chunks = _chunks(iter(lines))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b"


def test_stream_errors_before_the_first_chunk_are_typed(litellm: ModuleType) -> None:
    with pytest.raises(RateLimitError):
        open_stream(_request(stream=True, mock_response="litellm.RateLimitError"), {}, _deployment())


def test_streamed_text_completion_is_refused() -> None:
    request = build_request({"model": "litellm/openai/x", "prompt": "p", "stream": True})
    with pytest.raises(UnsupportedParamsError, match="text_completion"):
        open_stream(request, {}, _deployment())


def test_call_refuses_stream_requests() -> None:
    with pytest.raises(UnsupportedParamsError, match="open_stream"):
        call_litellm(_request(stream=True), {}, _deployment())


def test_without_litellm_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(LiteLLMNotInstalledError, match=r"pip install routerlib\[litellm\]") as info:
        call_litellm(_request(mock_response="x"), {}, _deployment())
    assert isinstance(info.value, ImportError) and isinstance(info.value, RouterlibError)


def test_importing_routerlib_does_not_import_litellm() -> None:
    import subprocess

    code = ("import sys, routerlib; routerlib.Client().providers.get('litellm'); "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
