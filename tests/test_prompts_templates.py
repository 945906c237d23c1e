"""PromptTemplate as a value, LiteLLM-shaped params, built-in families and model matching."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from routerlib.prompts import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE,
    PromptTemplate,
    PromptTemplateError,
    RoleTemplate,
    render,
    template_for_model,
)

CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "q2"},
]


def test_from_params_builds_the_litellm_shape() -> None:
    template = PromptTemplate.from_params(
        initial_prompt_value="<start>",
        roles={
            "system": {"pre_message": "[S]", "post_message": "[/S]"},
            "user": {"pre_message": "[U]"},
            "assistant": None,
        },
        final_prompt_value="<end>",
        bos_token="<s>",
        eos_token="</s>",
    )
    assert template.initial_prompt_value == "<start>"
    assert template.final_prompt_value == "<end>"
    assert (template.bos_token, template.eos_token) == ("<s>", "</s>")
    assert dict(template.roles) == {
        "system": RoleTemplate("[S]", "[/S]"),
        "user": RoleTemplate("[U]", ""),
    }


def test_from_params_defaults_none_to_empty_strings() -> None:
    template = PromptTemplate.from_params(roles={"user": {"pre_message": None}})
    assert template == PromptTemplate(roles={"user": RoleTemplate()})
    assert PromptTemplate.from_params() == PromptTemplate()


def test_unknown_role_names_the_bad_role_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="'human'") as info:
        PromptTemplate.from_params(roles={"human": {"pre_message": "H: "}})
    for allowed in ("system", "user", "assistant", "tool", "function"):
        assert allowed in str(info.value)


def test_unknown_role_key_names_the_bad_key_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="pre_mesage") as info:
        PromptTemplate.from_params(roles={"user": {"pre_mesage": "[INST]"}})
    assert "pre_message" in str(info.value)
    assert "post_message" in str(info.value)
    assert isinstance(info.value, PromptTemplateError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"roles": {"user": {"pre_message": 3}}},
        {"roles": {"user": "[INST]"}},
        {"bos_token": b"<s>"},
        {"final_prompt_value": 1},
    ],
)
def test_from_params_rejects_non_strings(kwargs: dict[str, object]) -> None:
    with pytest.raises(PromptTemplateError):
        PromptTemplate.from_params(**kwargs)  # type: ignore[arg-type]


def test_constructor_rejects_unknown_roles_and_wrong_entry_types() -> None:
    with pytest.raises(PromptTemplateError, match="developer"):
        PromptTemplate(roles={"developer": RoleTemplate()})
    with pytest.raises(PromptTemplateError, match="RoleTemplate"):
        PromptTemplate(roles={"user": ("a", "b")})  # type: ignore[dict-item]


def test_template_is_immutable_and_does_not_alias_the_callers_dict() -> None:
    roles = {"user": RoleTemplate("[U]", "")}
    template = PromptTemplate(roles=roles)
    roles["assistant"] = RoleTemplate("[A]", "")
    assert "assistant" not in template.roles
    with pytest.raises(TypeError):
        template.roles["assistant"] = RoleTemplate()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.bos_token = "<s>"  # type: ignore[misc]


def test_equal_templates_hash_equal_and_work_as_keys() -> None:
    a = PromptTemplate.from_params(roles={"user": {"pre_message": "U"}}, eos_token="E")
    b = PromptTemplate(roles={"user": RoleTemplate("U", "")}, eos_token="E")
    assert a == b
    assert hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a != dataclasses.replace(b, eos_token="F")


def test_as_role_dict_round_trips_through_from_params() -> None:
    for template in BUILTIN_TEMPLATES.values():
        rebuilt = PromptTemplate.from_params(
            initial_prompt_value=template.initial_prompt_value,
            roles=template.as_role_dict(),
            final_prompt_value=template.final_prompt_value,
            bos_token=template.bos_token,
            eos_token=template.eos_token,
        )
        assert dataclasses.replace(rebuilt, fold_system=template.fold_system) == template


# The published format of each family, rendered for system + two user turns.
GOLDEN = {
    "llama-2": "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nq1 [/INST] a1 </s><s>[INST] q2 [/INST]",
    "llama-3": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nq1<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\na1<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nq2<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "mistral": "<s>[INST] S\n\nq1 [/INST]a1</s>[INST] q2 [/INST]",
    "chatml": (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nq1<|im_end|>\n"
        "<|im_start|>assistant\na1<|im_end|>\n<|im_start|>user\nq2<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "falcon": "S\n\nUser: q1\n\nAssistant: a1\n\nUser: q2\n\nAssistant:",
    "vicuna": "S USER: q1 ASSISTANT: a1</s>USER: q2 ASSISTANT:",
    "alpaca": ("S\n\n### Instruction:\nq1\n\n### Response:\na1\n\n### Instruction:\nq2\n\n### Response:\n"),
    "phi-3": (
        "<|system|>\nS<|end|>\n<|user|>\nq1<|end|>\n<|assistant|>\na1<|end|>\n<|user|>\nq2<|end|>\n<|assistant|>\n"
    ),
    "gemma": (
        "<bos><start_of_turn>user\nS\n\nq1<end_of_turn>\n<start_of_turn>model\na1"
        "<end_of_turn>\n<start_of_turn>user\nq2<end_of_turn>\n<start_of_turn>model\n"
    ),
    "zephyr": ("<|system|>\nS</s>\n<|user|>\nq1</s>\n<|assistant|>\na1</s>\n<|user|>\nq2</s>\n<|assistant|>\n"),
}


def test_every_builtin_family_has_a_golden_rendering() -> None:
    assert set(GOLDEN) == set(BUILTIN_TEMPLATES)


@pytest.mark.parametrize("family", sorted(GOLDEN))
def test_builtin_family_renders_its_published_format(family: str) -> None:
    assert render(BUILTIN_TEMPLATES[family], CHAT) == GOLDEN[family]


def test_llama2_single_turn_matches_meta_reference() -> None:
    # Meta's chat_completion: f"{B_INST} {B_SYS}{system}{E_SYS}{user} {E_INST}" after <s>.
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    expected = "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"
    assert render(BUILTIN_TEMPLATES["llama-2"], messages) == expected


def test_llama3_tool_results_use_the_ipython_header() -> None:
    prompt = render(BUILTIN_TEMPLATES["llama-3"], [{"role": "tool", "content": "42"}])
    assert "<|start_header_id|>ipython<|end_header_id|>\n\n42<|eot_id|>" in prompt


def test_default_template_renders_role_lines() -> None:
    messages = [
        *CHAT,
        {"role": "tool", "content": "t"},
        {"role": "developer", "content": "d"},
    ]
    assert render(DEFAULT_TEMPLATE, messages) == (
        "system: S\nuser: q1\nassistant: a1\nuser: q2\ntool: t\nsystem: d\nassistant:"
    )


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("meta-llama/Llama-2-7b-chat-hf", "llama-2"),
        ("togethercomputer/llama-2-70b-chat", "llama-2"),
        ("codellama/CodeLlama-34b-Instruct-hf", "llama-2"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3"),
        ("meta-llama/Llama-3.1-70B-Instruct", "llama-3"),
        ("llama3.2", "llama-3"),
        ("mistralai/Mistral-7B-Instruct-v0.2", "mistral"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistral"),
        ("Qwen/Qwen2.5-7B-Instruct", "chatml"),
        ("01-ai/Yi-34B-Chat", "chatml"),
        ("yi-34b-chat", "chatml"),
        ("teknium/OpenHermes-2.5-Mistral-7B", "chatml"),
        ("cognitivecomputations/dolphin-2.6-mixtral-8x7b", "chatml"),
        ("tiiuae/falcon-7b-instruct", "falcon"),
        ("lmsys/vicuna-13b-v1.5", "vicuna"),
        ("Gryphe/MythoMax-L2-13b", "alpaca"),
        ("microsoft/Phi-3-mini-4k-instruct", "phi-3"),
        ("google/gemma-2-9b-it", "gemma"),
        ("HuggingFaceH4/zephyr-7b-beta", "zephyr"),
        ("ChatML", "chatml"),
        ("llama-2", "llama-2"),
    ],
)
def test_template_for_model_matches_family(model: str, family: str) -> None:
    assert template_for_model(model) is BUILTIN_TEMPLATES[family]


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "meta-llama/Llama-2-7b-hf",  # base model: no chat format
        "mistralai/Mistral-7B-v0.1",  # base model
        "huggyllama/llama-30b",  # LLaMA 1, not Llama 3
        "tiiuae/Falcon3-7B-Instruct",  # Falcon 3 has its own format
        "google/paligemma-3b-mix-224",
        "my-deployment",
    ],
)
def test_template_for_model_returns_none_when_nothing_matches(model: str) -> None:
    assert template_for_model(model) is None


def test_hf_model_name_is_checked_before_model() -> None:
    found = template_for_model("mistral-instruct-prod", "Qwen/Qwen2-7B-Instruct")
    assert found is BUILTIN_TEMPLATES["chatml"]
    found = template_for_model("prod-alias", "HuggingFaceH4/zephyr-7b-beta")
    assert found is BUILTIN_TEMPLATES["zephyr"]
    assert template_for_model("lmsys/vicuna-7b", "unknown/thing") is BUILTIN_TEMPLATES["vicuna"]


def test_prompt_template_error_is_a_value_error() -> None:
    assert issubclass(PromptTemplateError, ValueError)
