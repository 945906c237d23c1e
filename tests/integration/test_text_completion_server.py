"""Chat over a real raw-prompt server on 127.0.0.1: the exact prompt bytes it receives.

The server is a few lines of stdlib ``http.server`` standing in for vLLM / TGI / llama.cpp
``/v1/completions``: it records each request's path, headers and raw body, and answers in the
text completion format (or its SSE stream).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from provider_helpers import as_chat, as_stream
from recording_server import RecordingServer, sse

import routerlib

pytestmark = pytest.mark.filterwarnings("ignore:cost of this model is unknown")

CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"}]


def _text_completion(path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    assert path == "/v1/completions"
    head = {"id": "cmpl-42", "object": "text_completion", "created": 1700000000, "model": body["model"]}
    usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
    if not body.get("stream"):
        answer = {**head, "choices": [{"index": 0, "text": " Rome.", "logprobs": None, "finish_reason": "stop"}],
                  "usage": usage}
        return 200, "application/json", json.dumps(answer).encode()
    events = [{**head, "choices": [{"index": 0, "text": " Ro", "finish_reason": None}]},
              {**head, "choices": [{"index": 0, "text": "me.", "finish_reason": "stop"}]},
              {**head, "choices": [], "usage": usage}]
    return 200, "text/event-stream", sse(events)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    running = RecordingServer(_text_completion)
    yield running
    running.close()


@pytest.fixture
def client() -> Iterator[routerlib.Client]:
    with routerlib.Client(environ={}) as c:
        yield c


def _prompt(server: RecordingServer) -> bytes:
    """The prompt exactly as the bytes of the JSON string the server received."""
    assert len(server.requests) == 1
    raw = server.requests[0]["raw"]
    prompt = server.requests[0]["body"]["prompt"]
    assert json.dumps(prompt).encode() in raw or json.dumps(prompt, ensure_ascii=False).encode() in raw
    return str(prompt).encode()


def test_llama2_template_prompt_bytes(server: RecordingServer, client: routerlib.Client) -> None:
    response = as_chat(client.completion("text-completion-openai/meta-llama/Llama-2-7b-chat-hf", CHAT,
                                         api_base=server.url, max_tokens=16))
    assert _prompt(server) == (b"<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nCapital of France? [/INST]"
                               b" Paris. </s><s>[INST] And of Italy? [/INST]")
    body = server.requests[0]["body"]
    assert body["model"] == "meta-llama/Llama-2-7b-chat-hf" and body["max_tokens"] == 16
    assert "messages" not in body
    assert response.choices[0].message.content == " Rome."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens == 14


def test_per_call_roles_prompt_bytes(server: RecordingServer, client: routerlib.Client) -> None:
    roles = {"system": {"pre_message": "<|system|>\n", "post_message": "<|end|>\n"},
             "user": {"pre_message": "<|user|>\n", "post_message": "<|end|>\n"},
             "assistant": {"pre_message": "<|assistant|>\n", "post_message": "<|end|>\n"}}
    client.completion("text-completion-openai/my-finetune", CHAT, api_base=server.url, roles=roles,
                      initial_prompt_value="<|begin|>", final_prompt_value="<|assistant|>\n",
                      bos_token="<s>", eos_token="</s>")
    assert _prompt(server) == (
        b"<s><|begin|><|system|>\nYou are terse.<|end|>\n<|user|>\nCapital of France?<|end|>\n"
        b"<|assistant|>\nParis.<|end|>\n</s><s><|user|>\nAnd of Italy?<|end|>\n<|assistant|>\n")


def test_non_ascii_text_reaches_the_server_intact(server: RecordingServer, client: routerlib.Client) -> None:
    messages = [{"role": "user", "content": "Ça va? 東京 🚀"}]
    client.completion("text-completion-openai/unknown-base", messages, api_base=server.url)
    assert _prompt(server) == "user: Ça va? 東京 🚀\nassistant:".encode()


def test_stream_arrives_as_chat_chunks(server: RecordingServer, client: routerlib.Client) -> None:
    stream = as_stream(client.completion("text-completion-openai/meta-llama/Llama-2-7b-chat-hf", CHAT[:2],
                                         api_base=server.url, stream=True))
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == " Rome."
    assert as_chat(stream.response).choices[0].message.content == " Rome."
    assert stream.usage is not None and stream.usage.total_tokens == 14
    body = server.requests[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_text_completion_call_passes_the_prompt_through(server: RecordingServer, client: routerlib.Client) -> None:
    raw_prompt = "<s>[INST] already formatted [/INST]"
    response = client.text_completion("text-completion-openai/any", raw_prompt, api_base=server.url)
    assert server.requests[0]["body"]["prompt"] == raw_prompt
    assert isinstance(response, routerlib.TextCompletion) and response.choices[0].text == " Rome."


async def test_async_chat_over_text(server: RecordingServer) -> None:
    async with routerlib.Client(environ={}) as client:
        response = as_chat(await client.acompletion("text-completion-openai/meta-llama/Llama-2-7b-chat-hf",
                                                    CHAT[1:2], api_base=server.url))
    assert _prompt(server) == b"<s>[INST] Capital of France? [/INST]"
    assert response.choices[0].message.content == " Rome."



def test_template_registered_per_model_on_a_client(server: RecordingServer) -> None:
    """A template registered on one client renders that model's prompts there, and nowhere else."""
    messages = [{"role": "user", "content": "hi"}]
    client = routerlib.Client(environ={})
    client.register_prompt_template("text-completion-openai/my-model", initial_prompt_value="<start>",
                                    roles={"user": {"pre_message": "[U]", "post_message": "[/U]"}},
                                    final_prompt_value="<reply>")
    client.completion("text-completion-openai/my-model", messages, api_base=server.url)
    routerlib.Client(environ={}).completion("text-completion-openai/my-model", messages, api_base=server.url)
    first, second = (r["body"]["prompt"] for r in server.requests)
    assert first == "<start>[U]hi[/U]<reply>"
    assert second != first


def test_hf_chat_template_from_a_local_path_renders_the_prompt(server: RecordingServer, client: routerlib.Client,
                                                               tmp_path: Any) -> None:
    """hf_model_name naming a local tokenizer_config.json: its Jinja chat_template renders the prompt."""
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": template, "eos_token": "</s>"}))
    client.completion("text-completion-openai/my-finetune", [{"role": "user", "content": "hi"}],
                      api_base=server.url, hf_model_name=str(tmp_path))
    assert server.requests[0]["body"]["prompt"] == "<|user|>hi</s><|assistant|>"


def test_unknown_hf_model_name_is_a_clear_error_before_sending(server: RecordingServer,
                                                                client: routerlib.Client) -> None:
    with pytest.raises(routerlib.PromptTemplateError, match="no-such-org/no-such-model"):
        client.completion("text-completion-openai/x", [{"role": "user", "content": "hi"}], api_base=server.url,
                          hf_model_name="no-such-org/no-such-model")
    assert server.requests == []


def test_the_hf_cache_is_found_through_the_clients_environment(server: RecordingServer, tmp_path: Any,
                                                                monkeypatch: Any) -> None:
    """Client(environ={"HF_HOME": ...}) locates the chat template; the process environment is not read."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "process-env-hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    snapshot = tmp_path / "hf" / "hub" / "models--acme--chat-7b" / "snapshots" / "r1"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"chat_template": "ENV:{{ messages[0]['content'] }}"}))
    client = routerlib.Client(environ={"HF_HOME": str(tmp_path / "hf")})
    client.completion("text-completion-openai/m", [{"role": "user", "content": "hi"}], api_base=server.url,
                      hf_model_name="acme/chat-7b")
    assert server.requests[0]["body"]["prompt"] == "ENV:hi"
    with pytest.raises(routerlib.PromptTemplateError):  # the same name, looked up in the process's environment
        routerlib.Client().completion("text-completion-openai/m", [{"role": "user", "content": "hi"}],
                                      api_base=server.url, hf_model_name="acme/chat-7b")
