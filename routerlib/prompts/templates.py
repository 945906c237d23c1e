"""The prompt template value type, the built-in family templates, and model matching.

A raw-prompt server (vLLM, TGI or llama.cpp ``/v1/completions``) takes one string,
so a chat conversation has to be flattened with the exact control strings the
model was fine-tuned on. The templates here are plain data so they can be
compared, hashed, logged and overridden per call without running any code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from routerlib.exceptions import PromptTemplateError

__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE",
    "TEMPLATE_ROLES",
    "PromptTemplate",
    "RoleTemplate",
    "template_for_model",
]

TEMPLATE_ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool", "function"})
"""Role names a template may define. ``developer`` always renders as ``system``."""

_ROLE_KEYS = ("pre_message", "post_message")


@dataclass(frozen=True, slots=True)
class RoleTemplate:
    """The text written before and after one message of a role."""

    pre_message: str = ""
    post_message: str = ""


@dataclass(frozen=True)
class PromptTemplate:
    """How to flatten chat messages into one prompt string.

    The fields mirror LiteLLM's ``custom_prompt`` parameters so existing
    ``register_prompt_template`` configurations port unchanged through
    :meth:`from_params`. ``fold_system`` is a routerlib extension: the Llama 2,
    Mistral and Gemma formats have no system turn of their own and instead put
    the system text inside the next user turn, which pre/post strings alone
    cannot express.
    """

    initial_prompt_value: str = ""
    roles: Mapping[str, RoleTemplate] = field(default_factory=dict)
    final_prompt_value: str = ""
    bos_token: str = ""
    eos_token: str = ""
    fold_system: bool = False

    def __post_init__(self) -> None:
        # Copy into a read-only view so a caller's dict cannot mutate a template
        # that may be cached or shared between concurrent requests.
        for role, entry in self.roles.items():
            _check_role_name(role)
            if not isinstance(entry, RoleTemplate):
                raise PromptTemplateError(f"roles[{role!r}] must be a RoleTemplate, got {type(entry).__name__}")
        object.__setattr__(self, "roles", MappingProxyType(dict(self.roles)))

    def __hash__(self) -> int:
        return hash(
            (
                self.initial_prompt_value,
                frozenset(self.roles.items()),
                self.final_prompt_value,
                self.bos_token,
                self.eos_token,
                self.fold_system,
            )
        )

    @classmethod
    def from_params(
        cls,
        initial_prompt_value: str | None = None,
        roles: Mapping[str, Mapping[str, str | None] | None] | None = None,
        final_prompt_value: str | None = None,
        bos_token: str | None = None,
        eos_token: str | None = None,
    ) -> PromptTemplate:
        """Build a template from LiteLLM's per-call / ``register_prompt_template`` shape.

        Unknown role names and unknown keys are rejected rather than ignored,
        because a typo (``"pre_mesage"``) would otherwise silently drop the
        model's control tokens and produce a prompt the model was never trained on.
        """
        parsed: dict[str, RoleTemplate] = {}
        for role, entry in (roles or {}).items():
            _check_role_name(role)
            if entry is not None:
                parsed[role] = _parse_role(role, entry)
        return cls(
            initial_prompt_value=_text(initial_prompt_value, "initial_prompt_value"),
            roles=parsed,
            final_prompt_value=_text(final_prompt_value, "final_prompt_value"),
            bos_token=_text(bos_token, "bos_token"),
            eos_token=_text(eos_token, "eos_token"),
        )

    def as_role_dict(self) -> dict[str, dict[str, str]]:
        """The roles in LiteLLM's plain-dict shape, for logging and round trips."""
        return {
            role: {"pre_message": entry.pre_message, "post_message": entry.post_message}
            for role, entry in self.roles.items()
        }


def _check_role_name(role: object) -> None:
    if role not in TEMPLATE_ROLES:
        raise PromptTemplateError(
            f"unknown role {role!r} in prompt template; allowed roles are {sorted(TEMPLATE_ROLES)}"
        )


def _parse_role(role: str, entry: object) -> RoleTemplate:
    if not isinstance(entry, Mapping):
        raise PromptTemplateError(f"roles[{role!r}] must be a mapping or None")
    unknown = sorted(set(entry) - set(_ROLE_KEYS))
    if unknown:
        raise PromptTemplateError(f"roles[{role!r}] has unknown key(s) {unknown}; allowed keys are {list(_ROLE_KEYS)}")
    pre, post = (_text(entry.get(key), f"roles[{role!r}][{key!r}]") for key in _ROLE_KEYS)
    return RoleTemplate(pre, post)


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PromptTemplateError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _template(
    roles: Mapping[str, tuple[str, str]],
    *,
    initial_prompt_value: str = "",
    final_prompt_value: str = "",
    bos_token: str = "",
    eos_token: str = "",
    fold_system: bool = False,
) -> PromptTemplate:
    """Terse constructor for the built-in table below."""
    return PromptTemplate(
        initial_prompt_value=initial_prompt_value,
        roles={role: RoleTemplate(pre, post) for role, (pre, post) in roles.items()},
        final_prompt_value=final_prompt_value,
        bos_token=bos_token,
        eos_token=eos_token,
        fold_system=fold_system,
    )


def _roles(system: tuple[str, str], user: tuple[str, str], assistant: tuple[str, str]) -> dict[str, tuple[str, str]]:
    return {"system": system, "user": user, "assistant": assistant}


def _tagged(pre: str, post: str, *roles: str) -> dict[str, tuple[str, str]]:
    """Roles whose wrapping differs only by the role name, written as ``{role}``."""
    names = roles or ("system", "user", "assistant")
    return {role: (pre.format(role=role), post) for role in names}


_BUILTINS: dict[str, PromptTemplate] = {
    # https://huggingface.co/blog/llama2#how-to-prompt-llama-2 (Meta llama/generation.py chat_completion)
    "llama-2": _template(
        _roles(("<<SYS>>\n", "\n<</SYS>>\n\n"), ("[INST] ", " [/INST]"), (" ", " ")),
        bos_token="<s>",
        eos_token="</s>",
        fold_system=True,
    ),
    # https://www.llama.com/docs/model-cards-and-prompt-formats/meta-llama-3/ (ipython: .../llama3_1/)
    "llama-3": _template(
        _tagged("<|start_header_id|>{role}<|end_header_id|>\n\n", "<|eot_id|>")
        | {"tool": ("<|start_header_id|>ipython<|end_header_id|>\n\n", "<|eot_id|>")},
        initial_prompt_value="<|begin_of_text|>",
        final_prompt_value="<|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    # https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.2#instruction-format
    "mistral": _template(
        _roles(("", "\n\n"), ("[INST] ", " [/INST]"), ("", "")),
        initial_prompt_value="<s>",
        eos_token="</s>",
        fold_system=True,
    ),
    # https://qwen.readthedocs.io/en/latest/getting_started/concepts.html#control-tokens-chat-template
    "chatml": _template(
        _tagged("<|im_start|>{role}\n", "<|im_end|>\n"),
        final_prompt_value="<|im_start|>assistant\n",
    ),
    # https://github.com/lm-sys/FastChat/blob/main/fastchat/conversation.py ("falcon" template)
    "falcon": _template(
        _roles(("", "\n\n"), ("User: ", "\n\n"), ("Assistant: ", "\n\n")),
        final_prompt_value="Assistant:",
    ),
    # https://github.com/lm-sys/FastChat/blob/main/docs/vicuna_weights_version.md#prompt-template
    "vicuna": _template(
        _roles(("", " "), ("USER: ", " "), ("ASSISTANT: ", "")),
        eos_token="</s>",
        final_prompt_value="ASSISTANT:",
    ),
    # https://github.com/tatsu-lab/stanford_alpaca#data-release
    "alpaca": _template(
        _roles(("", "\n\n"), ("### Instruction:\n", "\n\n"), ("### Response:\n", "\n\n")),
        final_prompt_value="### Response:\n",
    ),
    # https://huggingface.co/microsoft/Phi-3-mini-4k-instruct#chat-format
    "phi-3": _template(
        _tagged("<|{role}|>\n", "<|end|>\n"),
        final_prompt_value="<|assistant|>\n",
    ),
    # https://ai.google.dev/gemma/docs/core/prompt-structure
    "gemma": _template(
        _roles(
            ("", "\n\n"),
            ("<start_of_turn>user\n", "<end_of_turn>\n"),
            ("<start_of_turn>model\n", "<end_of_turn>\n"),
        ),
        initial_prompt_value="<bos>",
        final_prompt_value="<start_of_turn>model\n",
        fold_system=True,
    ),
    # https://huggingface.co/HuggingFaceH4/zephyr-7b-beta#intended-uses--limitations
    "zephyr": _template(
        _tagged("<|{role}|>\n", "</s>\n"),
        final_prompt_value="<|assistant|>\n",
    ),
}

BUILTIN_TEMPLATES: Mapping[str, PromptTemplate] = MappingProxyType(_BUILTINS)
"""Built-in family templates by family name (also accepted as a model name)."""

DEFAULT_TEMPLATE = _template(
    _tagged("{role}: ", "\n", "system", "user", "assistant", "tool", "function"),
    final_prompt_value="assistant:",
)
"""Fallback for unknown models: one ``role: content`` line per message, then ``assistant:``.

Base models continue transcripts, so a labelled transcript ending in the
assistant's label is the least surprising prompt when the real format is unknown.
"""


# (family, pattern, also-required pattern), tried in order on the lower-cased name.
# Order matters: fine-tunes named after their base model (OpenHermes-Mistral,
# Dolphin-Mixtral) use their own format, so they are checked first. Lookarounds
# keep "codellama-34b" and "llama-30b" away from Llama 3 and Falcon 3 / PaliGemma
# (different formats) away from Falcon and Gemma.
_RULES: tuple[tuple[str, re.Pattern[str], re.Pattern[str] | None], ...] = tuple(
    (family, re.compile(pattern), re.compile(also) if also else None)
    for family, pattern, also in (
        ("zephyr", r"zephyr", ""),
        ("vicuna", r"vicuna", ""),
        ("alpaca", r"alpaca|mytho(max|mix|logic)", ""),
        ("chatml", r"chatml|qwen|openhermes|hermes-[23]|dolphin|(^|/)yi-(?!vl)", ""),
        ("phi-3", r"phi-?3(?!\d)", ""),
        ("gemma", r"(?<!pali)gemma", ""),
        ("llama-3", r"llama-?3(?!\d)", ""),
        ("llama-2", r"llama-?2(?!\d)|codellama", r"chat|instruct"),
        ("mistral", r"mistral|mixtral", r"instruct"),
        ("falcon", r"falcon(?!-?3|-h1|-mamba)", ""),
    )
)


def template_for_model(model: str, hf_model_name: str | None = None) -> PromptTemplate | None:
    """The built-in family template for a model, or None when no family matches.

    ``hf_model_name`` is checked before ``model`` because it is the more
    specific name (a deployment alias like ``"prod-chat"`` says nothing about
    the format). An exact family name (``"chatml"``) selects that family.
    """
    names = [n.lower() for n in (hf_model_name, model) if n]
    for name in names:
        if name in BUILTIN_TEMPLATES:
            return BUILTIN_TEMPLATES[name]
    for name in names:
        for family, pattern, also in _RULES:
            if pattern.search(name) and (also is None or also.search(name)):
                return BUILTIN_TEMPLATES[family]
    return None
