"""Hugging Face chat_template rendering from a fake local cache, and resolve_prompt precedence."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2.exceptions
import pytest

from routerlib.prompts import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE,
    HFChatTemplate,
    PromptTemplate,
    PromptTemplateError,
    RoleTemplate,
    load_hf_chat_template,
    render,
    resolve_prompt,
)

# HuggingFaceH4/zephyr-7b-beta's chat_template, as published in its tokenizer_config.json.
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}"
)
# Qwen2-Instruct's ChatML chat_template (adds a default system prompt when none is given).
QWEN_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Mistral-7B-Instruct-v0.1's chat_template: bos_token, raise_exception on bad role order.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": [{"type": "text", "text": "Bye"}]},
]


def _config(template: object, **extra: Any) -> dict[str, Any]:
    return {
        "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False},
        "eos_token": "</s>",
        "chat_template": template,
        "model_max_length": 4096,
        **extra,
    }


def _cache_model(
    hub: Path,
    repo_id: str,
    config: dict[str, Any] | None,
    rev: str = "abc123",
    *,
    main: bool = True,
) -> Path:
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / rev
    snapshot.mkdir(parents=True)
    if config is not None:
        (snapshot / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    if main:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(rev, encoding="utf-8")
    return snapshot


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.delenv("HF_HOME", raising=False)
    return hub


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.usefixtures("no_network")
def test_zephyr_template_from_the_cache_renders_like_transformers(hub: Path) -> None:
    _cache_model(hub, "HuggingFaceH4/zephyr-7b-beta", _config(ZEPHYR_TEMPLATE))
    loaded = load_hf_chat_template("HuggingFaceH4/zephyr-7b-beta")
    assert loaded is not None
    assert (loaded.bos_token, loaded.eos_token) == ("<s>", "</s>")
    expected = (
        "<|system|>\nYou are terse.</s>\n<|user|>\nHi</s>\n"
        "<|assistant|>\nHello.</s>\n<|user|>\nBye</s>\n<|assistant|>\n"
    )
    assert loaded.render(CHAT) == expected
    # The built-in zephyr family reproduces the model's own template exactly.
    assert render(BUILTIN_TEMPLATES["zephyr"], CHAT) == expected


def test_chatml_template_matches_the_builtin_chatml_family(hub: Path) -> None:
    _cache_model(hub, "Qwen/Qwen2-7B-Instruct", _config(QWEN_TEMPLATE))
    loaded = load_hf_chat_template("Qwen/Qwen2-7B-Instruct")
    assert loaded is not None
    assert loaded.render(CHAT) == render(BUILTIN_TEMPLATES["chatml"], CHAT)
    no_system = loaded.render(CHAT[1:])
    assert no_system.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi")


def test_hf_home_is_used_when_hf_hub_cache_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _cache_model(
        tmp_path / "hf" / "hub",
        "org/model",
        _config("HF_HOME:{{ messages[0]['content'] }}"),
    )
    loaded = load_hf_chat_template("org/model")
    assert loaded is not None
    assert loaded.render([{"role": "user", "content": "x"}]) == "HF_HOME:x"


def test_home_cache_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    _cache_model(tmp_path / ".cache" / "huggingface" / "hub", "solo", _config("home"))
    loaded = load_hf_chat_template("solo")
    assert loaded is not None
    assert loaded.render([]) == "home"


def test_the_snapshot_refs_main_points_to_wins(hub: Path) -> None:
    _cache_model(hub, "org/m", _config("main"), rev="aaa")
    newer = _cache_model(hub, "org/m", _config("newer"), rev="bbb", main=False)
    os.utime(newer, (2_000_000_000, 2_000_000_000))
    loaded = load_hf_chat_template("org/m")
    assert loaded is not None
    assert loaded.chat_template == "main"
    assert "aaa" in loaded.source


def test_explicit_directory_and_file_paths(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(_config("dir:{{ bos_token }}")), encoding="utf-8")
    from_dir = load_hf_chat_template(str(tmp_path))
    from_file = load_hf_chat_template(str(tmp_path / "tokenizer_config.json"))
    assert from_dir is not None and from_file is not None
    assert from_dir.render([]) == from_file.render([]) == "dir:<s>"


def test_named_template_list_uses_default(hub: Path) -> None:
    templates = [
        {"name": "tool_use", "template": "TOOLS"},
        {"name": "default", "template": "DEFAULT"},
    ]
    _cache_model(hub, "org/named", _config(templates))
    loaded = load_hf_chat_template("org/named")
    assert loaded is not None
    assert loaded.render([]) == "DEFAULT"


def test_named_template_list_without_default_is_an_error(hub: Path) -> None:
    _cache_model(hub, "org/named", _config([{"name": "tool_use", "template": "TOOLS"}]))
    with pytest.raises(PromptTemplateError, match="default"):
        load_hf_chat_template("org/named")


def test_separate_chat_template_jinja_file_is_used(hub: Path) -> None:
    config = _config(None)
    del config["chat_template"]
    snapshot = _cache_model(hub, "org/jinja", config)
    (snapshot / "chat_template.jinja").write_text("J{{ eos_token }}", encoding="utf-8")
    loaded = load_hf_chat_template("org/jinja")
    assert loaded is not None
    assert loaded.render([]) == "J</s>"


def test_missing_or_templateless_models_return_none(hub: Path, tmp_path: Path) -> None:
    config = _config(None)
    del config["chat_template"]
    _cache_model(hub, "org/base", config)
    assert load_hf_chat_template("org/base") is None
    assert load_hf_chat_template("org/absent") is None
    assert load_hf_chat_template(str(tmp_path / "nowhere")) is None
    assert load_hf_chat_template("../../etc") is None


def test_invalid_json_is_an_error(hub: Path) -> None:
    snapshot = _cache_model(hub, "org/bad", None)
    (snapshot / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PromptTemplateError, match="not valid JSON"):
        load_hf_chat_template("org/bad")


def test_raise_exception_in_a_template_raises() -> None:
    mistral = HFChatTemplate(MISTRAL_TEMPLATE, bos_token="<s>", eos_token="</s>", source="mistral")
    assert mistral.render(CHAT[1:]) == "<s>[INST] Hi [/INST]Hello.</s>[INST] Bye [/INST]"
    with pytest.raises(PromptTemplateError, match="Conversation roles must alternate") as info:
        mistral.render(CHAT)
    assert "mistral" in str(info.value)
    assert isinstance(info.value.__cause__, jinja2.exceptions.TemplateError)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ messages.__class__.__subclasses__() }}",
        "{% set _ = messages.append({'role': 'user'}) %}",
        "{% set _ = messages[0].update({'content': 'x'}) %}",
    ],
)
def test_sandbox_refuses_unsafe_access_and_mutation(template: str) -> None:
    with pytest.raises(PromptTemplateError) as info:
        HFChatTemplate(template).render([{"role": "user", "content": "hi"}])
    assert isinstance(info.value.__cause__, jinja2.exceptions.SecurityError)


def test_syntax_errors_are_prompt_template_errors() -> None:
    with pytest.raises(PromptTemplateError) as info:
        HFChatTemplate("{% for %}", source="broken.json").render([])
    assert "broken.json" in str(info.value)
    assert isinstance(info.value.__cause__, jinja2.exceptions.TemplateSyntaxError)


def test_tojson_does_not_html_escape_and_loop_controls_work() -> None:
    template = "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m | tojson }}{% endfor %}"
    rendered = HFChatTemplate(template).render(
        [{"role": "user", "content": "<a&b> é"}, {"role": "user", "content": "2"}]
    )
    assert rendered == '{"role": "user", "content": "<a&b> é"}'


def test_developer_becomes_system_and_add_generation_prompt_is_true() -> None:
    template = "{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}{{ add_generation_prompt }}"
    rendered = HFChatTemplate(template).render([{"role": "developer", "content": [{"type": "text", "text": "d"}]}])
    assert rendered == "system=d;True"


def test_jinja2_is_imported_lazily() -> None:
    code = "import sys, routerlib.prompts; print('jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- resolve_prompt precedence -------------------------------------------------

MARKER_TEMPLATE = "HF:{% for m in messages %}{{ m['content'] }}{% endfor %}"
HI = [{"role": "user", "content": "hi"}]


def test_explicit_template_wins_over_everything(hub: Path) -> None:
    _cache_model(hub, "Qwen/Qwen2-7B-Instruct", _config(MARKER_TEMPLATE))
    explicit = PromptTemplate(roles={"user": RoleTemplate("<<", ">>")})
    assert resolve_prompt(HI, model="qwen2", template=explicit, hf_model_name="Qwen/Qwen2-7B-Instruct") == "<<hi>>"


def test_local_hf_template_wins_over_builtin_family(hub: Path) -> None:
    _cache_model(hub, "Qwen/Qwen2-7B-Instruct", _config(MARKER_TEMPLATE))
    assert resolve_prompt(HI, model="qwen2", hf_model_name="Qwen/Qwen2-7B-Instruct") == "HF:hi"


@pytest.mark.usefixtures("hub")
def test_builtin_family_by_hf_model_name_then_model() -> None:
    chatml = render(BUILTIN_TEMPLATES["chatml"], HI)
    assert resolve_prompt(HI, model="prod", hf_model_name="Qwen/Qwen2-7B-Instruct") == chatml
    assert resolve_prompt(HI, model="Qwen/Qwen2-7B-Instruct") == chatml
    assert resolve_prompt(HI, model="alias", hf_model_name="chatml") == chatml


@pytest.mark.usefixtures("hub")
def test_default_template_when_nothing_matches_and_no_hf_name() -> None:
    assert resolve_prompt(HI, model="my-finetune") == render(DEFAULT_TEMPLATE, HI) == "user: hi\nassistant:"


def test_unknown_hf_model_name_raises_with_places_and_options(hub: Path) -> None:
    with pytest.raises(PromptTemplateError) as info:
        resolve_prompt(HI, model="my-finetune", hf_model_name="acme/secret-model")
    message = str(info.value)
    assert str(hub / "models--acme--secret-model" / "snapshots") in message
    assert "pass a template" in message
    assert "path" in message
    assert "chatml" in message and "llama-2" in message
    assert isinstance(info.value, ValueError)


def test_resolve_prompt_renders_generators_once(hub: Path) -> None:
    _cache_model(hub, "org/m", _config(MARKER_TEMPLATE))
    assert resolve_prompt(iter(HI), model="x", hf_model_name="org/m") == "HF:hi"
