"""LiteLLM scripts run unchanged with ``import routerlib as litellm`` against a loopback server.

Each script below is written the way LiteLLM's docs show usage: the OpenAI key and base URL come
from the environment (OPENAI_API_KEY, OPENAI_BASE_URL), the calls and the reading of results
are LiteLLM's. Each runs here under ``import routerlib as litellm``; and
``test_the_scripts_are_litellm_code`` runs the same text under the real ``import litellm``
(against the same server), so that a script cannot drift into something only routerlib accepts.
The scripts marked routerlib-only check a difference made on purpose (a LiteLLM module setting
is refused instead of being silently ignored; a mocked stream carries its tool calls;
``mock_testing_fallbacks`` works on ``completion()``, not only on a Router).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recording_server import RecordingServer
from scripted_openai import GREETING, WEATHER, scripted_openai

import routerlib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SCRIPTS: dict[str, str] = {
    "basic_completion": """
        response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
        assert response.choices[0].message.content == GREETING
        assert response.usage.total_tokens == 30 and response.model == "gpt-4o-mini"
        assert response.choices[0].finish_reason == "stop"
    """,
    "async_completion": """
        import asyncio

        async def main():
            response = await litellm.acompletion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
            return response.choices[0].message.content

        assert asyncio.run(main()) == GREETING
    """,
    "streaming_next_and_for": """
        stream = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True)
        first = next(stream)
        text = first.choices[0].delta.content or ""
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
        assert text == GREETING
    """,
    "async_streaming_anext": """
        import asyncio

        async def main():
            stream = await litellm.acompletion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                               stream=True)
            first = await stream.__anext__()
            second = await anext(stream)
            text = (first.choices[0].delta.content or "") + (second.choices[0].delta.content or "")
            async for chunk in stream:
                text += chunk.choices[0].delta.get("content") or ""
            return text

        assert asyncio.run(main()) == GREETING
    """,
    "dict_style_access": """
        response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        assert response["choices"][0]["message"]["content"] == GREETING
        assert response.get("usage")["prompt_tokens"] == 20
        assert response.get("no_such_field") is None and "choices" in response
        as_dict = response.json()
        assert isinstance(as_dict, dict) and as_dict["choices"][0]["message"]["content"] == GREETING
        assert response.to_dict()["model"] == "gpt-4o-mini"
        json.dumps(response.to_dict())
        for chunk in litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                        stream=True):
            assert isinstance(chunk["choices"], list)
            delta = chunk.choices[0].delta
            assert delta.get("content") is None or isinstance(delta.get("content"), str)
    """,
    "tool_calling_loop": """
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "Get the weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
        messages = [{"role": "user", "content": "What is the weather in Paris?"}]
        response = litellm.completion(model="gpt-4o-mini", messages=messages, tools=tools)
        message = response.choices[0].message
        messages.append(message)
        for call in message.tool_calls:
            args = json.loads(call.function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.function.name,
                             "content": f"sunny in {args['city']}"})
        final = litellm.completion(model="gpt-4o-mini", messages=messages, tools=tools)
        assert final.choices[0].message.content == WEATHER
    """,
    "completion_cost_json": """
        response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        cost = litellm.completion_cost(completion_response=response)
        assert isinstance(cost, float) and cost > 0
        assert json.loads(json.dumps({"cost": cost}))["cost"] == cost
        hidden = response._hidden_params["response_cost"]
        assert isinstance(hidden, float) and abs(hidden - cost) < 1e-12
        print(f"cost: ${cost:.8f}, per million: {cost * 1e6:.2f}")
    """,
    "cost_accumulation": """
        import statistics

        total = 0.0
        costs = []
        for question in ("a", "b", "c"):
            r = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
            cost = litellm.completion_cost(completion_response=r)
            costs.append(cost)
            total += cost
        assert abs(total - sum(costs)) < 1e-15 and statistics.mean(costs) > 0
        assert round(total * 1e6, 6) > 0
    """,
    "model_info": """
        info = litellm.get_model_info("gpt-4o-mini")
        assert info["max_tokens"] and info["max_input_tokens"] and info["litellm_provider"] == "openai"
        assert isinstance(info["input_cost_per_token"], float)
        json.dumps(info)
        assert litellm.get_max_tokens("gpt-4o-mini") == info["max_output_tokens"]
        assert litellm.model_cost["gpt-4o-mini"]["input_cost_per_token"] == info["input_cost_per_token"]
        assert litellm.supports_function_calling(model="gpt-4o-mini") is True
        assert litellm.supports_vision(model="gpt-4o-mini") is True
        assert litellm.supports_response_schema(model="gpt-4o-mini") is True
        prompt_cost, completion_cost = litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=1000,
                                                              completion_tokens=100)
        assert isinstance(prompt_cost, float) and isinstance(completion_cost, float)
    """,
    "token_counter": """
        messages = [{"role": "user", "content": "Hey, how's it going?"}]
        assert litellm.token_counter(model="gpt-4o-mini", messages=messages) > 5
        assert litellm.token_counter(model="gpt-4o-mini", text="hello world") >= 2
        assert litellm.decode(model="gpt-4o-mini", tokens=litellm.encode(model="gpt-4o-mini", text="hi there")) \\
            == "hi there"
    """,
    "exception_attributes": """
        failing = os.environ["OPENAI_BASE_URL"].replace("/v1", "/fail/429/v1")
        try:
            litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                               api_base=failing, num_retries=0)
            raise AssertionError("no error")
        except litellm.RateLimitError as e:
            assert e.status_code == 429
            assert e.llm_provider == "openai"
            assert "loopback failure 429" in e.message
    """,
    "text_completion": """
        response = litellm.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi")
        assert response.choices[0].text == GREETING
        echoed = litellm.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi: ", echo=True)
        assert echoed.choices[0].text == "Say hi: " + GREETING
    """,
    "batch_completion": """
        responses = litellm.batch_completion(model="gpt-4o-mini", messages=[
            [{"role": "user", "content": "first"}], [{"role": "user", "content": "second"}]])
        assert [r.choices[0].message.content for r in responses] == [GREETING, GREETING]
    """,
    "stream_chunk_builder": """
        messages = [{"role": "user", "content": "Hi"}]
        chunks = []
        for chunk in litellm.completion(model="gpt-4o-mini", messages=messages, stream=True):
            chunks.append(chunk)
        rebuilt = litellm.stream_chunk_builder(chunks, messages=messages)
        assert rebuilt.choices[0].message.content == GREETING
        assert rebuilt.usage.total_tokens > 0
    """,
    "litellm_parameters": """
        response = litellm.completion(model="gpt-4o-mini", custom_llm_provider="openai", request_timeout=30,
                                      messages=[{"role": "user", "content": "Hi"}], max_tokens=20, temperature=0)
        assert response.choices[0].message.content == GREETING
    """,
    "embedding": """
        response = litellm.embedding(model="text-embedding-3-small", input=["good morning", "hi"])
        assert len(response.data) == 2 and response.model == "text-embedding-3-small"
        assert response.data[0]["embedding"] == [2.0, 0.0, 0.25] and response.data[1]["embedding"][0] == 1.0
        assert response.usage.prompt_tokens == 3
        cost = litellm.completion_cost(completion_response=response)
        assert isinstance(cost, float) and cost > 0
        json.dumps(response.to_dict())
        shorter = litellm.embedding(model="text-embedding-3-small", input="hello", dimensions=2)
        assert shorter.data[0]["embedding"] == [1.0, 0.0]
    """,
    "async_embedding": """
        import asyncio

        async def main():
            response = await litellm.aembedding(model="text-embedding-3-small", input=["a b c"])
            return response.data[0]["embedding"]

        assert asyncio.run(main()) == [3.0, 0.0, 0.25]
    """,
    "mock_embedding": """
        response = litellm.embedding(model="text-embedding-3-small", input=["hello"], mock_response=[0.1, 0.2])
        assert response.data[0]["embedding"] == [0.1, 0.2]
    """,
    "mock_exceptions": """
        messages = [{"role": "user", "content": "Hi"}]
        try:
            litellm.completion(model="gpt-4o-mini", messages=messages, mock_response="litellm.RateLimitError")
            raise AssertionError("no error")
        except litellm.RateLimitError as e:
            assert e.status_code == 429 and "mock rate limit error" in e.message
        try:
            litellm.completion(model="gpt-4o-mini", messages=messages,
                               mock_response="litellm.ContextWindowExceededError")
            raise AssertionError("no error")
        except litellm.ContextWindowExceededError as e:
            assert e.status_code == 400
        try:
            litellm.completion(model="gpt-4o-mini", messages=messages, mock_response=Exception("boom"))
            raise AssertionError("no error")
        except Exception as e:
            assert "boom" in str(e)
    """,
    "mock_tool_calls": """
        tool_calls = [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
        response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}],
                                      mock_tool_calls=tool_calls)
        call = response.choices[0].message.tool_calls[0]
        assert call.id == "call_1" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
    """,
    # -- routerlib-only: differences on purpose
    "mock_tool_calls_stream": """
        # LiteLLM's mocked stream drops mock_tool_calls; routerlib streams them as OpenAI does.
        tool_calls = [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
        chunks = list(litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}],
                                         mock_tool_calls=tool_calls, stream=True))
        rebuilt = litellm.stream_chunk_builder(chunks)
        assert rebuilt.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris"}'
        assert rebuilt.choices[0].finish_reason == "tool_calls"
    """,
    "mock_testing_fallbacks": """
        # LiteLLM's completion() ignores mock_testing_fallbacks (only its Router reads it); routerlib's
        # primary fails with a mocked 500, and the fallback is called for real.
        response = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                      fallbacks=["gpt-4o"], mock_testing_fallbacks=True, num_retries=0)
        assert response.model == "gpt-4o" and response.choices[0].message.content == GREETING
        assert [a.status_code for a in response.attempts] == [500, None]
    """,
    # -- routerlib-only: differences on purpose
    "settings_are_refused": """
        for name, value in (("num_retries", 0), ("success_callback", [print]), ("request_timeout", 5),
                            ("drop_params", True), ("set_verbose", True), ("api_key", "sk-x")):
            try:
                setattr(litellm, name, value)
                raise AssertionError(f"litellm.{name} = ... was accepted")
            except AttributeError as e:
                assert "Client(" in str(e) or "per-call keyword" in str(e), str(e)
    """,
}
ROUTERLIB_ONLY = {"settings_are_refused", "mock_tool_calls_stream", "mock_testing_fallbacks"}
PRELUDE = "import json, os\n"


def run(source: str, litellm: Any) -> None:
    """Run one script as a module would: its own globals, ``litellm`` bound to the library under test."""
    code = compile(PRELUDE + textwrap.dedent(source), "<script>", "exec")
    exec(code, {"litellm": litellm, "GREETING": GREETING, "WEATHER": WEATHER, "__name__": "__script__"})


@pytest.fixture(scope="module")
def server() -> Iterator[RecordingServer]:
    with scripted_openai() as running:
        yield running


@pytest.fixture
def openai_env(server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> RecordingServer:
    """The environment a LiteLLM script expects: a key and a base URL (here, the loopback server)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    server.requests.clear()
    return server


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_runs_unchanged_on_routerlib(name: str, openai_env: RecordingServer) -> None:
    run(SCRIPTS[name], routerlib)
    sent = [r for r in openai_env.requests if "/fail/" not in r["path"]]
    assert all(r["headers"]["authorization"] == "Bearer sk-loopback-test" for r in sent)


def test_the_tool_loop_sends_the_message_back_without_null_fields(openai_env: RecordingServer) -> None:
    run(SCRIPTS["tool_calling_loop"], routerlib)
    second = openai_env.requests[-1]["body"]["messages"]
    assert second[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"some city\"}"}}]}
    for message in second:
        assert None not in [v for k, v in message.items() if k != "content"]
        for call in message.get("tool_calls", ()):
            assert "index" not in call and None not in call.values()


def test_a_failed_call_is_sent_once_with_num_retries_zero(openai_env: RecordingServer) -> None:
    run(SCRIPTS["exception_attributes"], routerlib)
    assert [r["path"] for r in openai_env.requests] == ["/fail/429/v1/chat/completions"]


def test_mock_testing_fallbacks_sends_only_the_fallback(openai_env: RecordingServer) -> None:
    run(SCRIPTS["mock_testing_fallbacks"], routerlib)
    assert [(r["path"], r["body"]["model"]) for r in openai_env.requests] == [("/v1/chat/completions", "gpt-4o")]


def test_embedding_scripts_send_what_openai_expects(openai_env: RecordingServer) -> None:
    run(SCRIPTS["embedding"], routerlib)
    first, second = openai_env.requests
    assert first["path"] == second["path"] == "/v1/embeddings"
    assert first["body"] == {"model": "text-embedding-3-small", "input": ["good morning", "hi"]}
    assert second["body"] == {"model": "text-embedding-3-small", "input": "hello", "dimensions": 2}


def test_text_completion_of_a_chat_only_model_goes_through_chat(openai_env: RecordingServer) -> None:
    response = routerlib.text_completion(model="gpt-4o-mini", prompt="Say hi")
    assert response.choices[0].text == GREETING


def test_the_scripts_are_litellm_code(server: RecordingServer, tmp_path: Path) -> None:
    """The same script text under the real ``import litellm``, against the same server."""
    pytest.importorskip("litellm")
    shared = sorted(set(SCRIPTS) - ROUTERLIB_ONLY)
    (tmp_path / "scripts.json").write_text(json.dumps({name: SCRIPTS[name] for name in shared}))
    runner = textwrap.dedent(f"""
        import json, sys, textwrap, traceback
        import litellm
        scripts = json.load(open(sys.argv[1]))
        failed, ran = {{}}, []
        for name, source in scripts.items():
            try:
                code = compile({PRELUDE!r} + textwrap.dedent(source), name, "exec")
                exec(code, {{"litellm": litellm, "GREETING": {GREETING!r}, "WEATHER": {WEATHER!r}}})
                ran.append(name)
            except BaseException:
                failed[name] = traceback.format_exc()[-1500:]
        print(json.dumps({{"failed": failed, "ran": ran}}))
    """)
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback-test", "OPENAI_BASE_URL": server.url,
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    env.pop("OPENAI_API_BASE", None)
    result = subprocess.run([sys.executable, "-c", runner, str(tmp_path / "scripts.json")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    failed = outcome["failed"]
    assert failed == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failed.items())
    assert outcome["ran"] == shared
    assert any(r["headers"].get("user-agent", "").startswith(("OpenAI", "litellm")) or "x-stainless-lang"
               in r["headers"] for r in server.requests), "LiteLLM's own requests reached the server"
