"""Flatten OpenAI-shaped chat messages into one prompt string with a PromptTemplate.

The output matches LiteLLM's ``custom_prompt`` for the same template and
messages except for the deliberate differences listed in
``docs/prompt_templates.md``; the differential test in
``tests/test_prompts_render.py`` holds the two implementations to that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from routerlib.exceptions import PromptTemplateError
from routerlib.prompts.templates import PromptTemplate, RoleTemplate

__all__ = ["MESSAGE_ROLES", "Message", "message_text", "render"]

Message = Mapping[str, object]
"""An OpenAI chat message: ``role`` plus ``content`` (str, list of parts, or None)."""

MESSAGE_ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

# OpenAI's o1+ models renamed the system role to "developer"; raw-prompt models
# were trained on "system", so both mean the same turn here.
_ROLE_ALIASES: Mapping[str, str] = {"developer": "system"}

# Tool results are input the model must read before answering, which is what a
# user turn is; templates without a dedicated tool turn wrap them as one.
_USER_LIKE = frozenset({"tool", "function"})

_NO_WRAPPING = RoleTemplate()


def message_text(content: object) -> str:
    """The text of a message's ``content``: a string, or the concatenated text parts.

    Non-text parts (images, audio) carry nothing a text-only prompt can hold,
    so they are skipped; ``None`` (an assistant turn that only made tool calls)
    is empty text.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(_part_text(part) for part in content)
    raise PromptTemplateError(
        f"message content must be a string, a list of parts or None, got {type(content).__name__}"
    )


def _part_text(part: object) -> str:
    if not isinstance(part, Mapping):
        raise PromptTemplateError(f"content parts must be objects like {{'type': 'text', 'text': ...}}, got {part!r}")
    text = part.get("text")
    return text if isinstance(text, str) else ""


def _role_of(message: Message) -> str:
    role = message.get("role")
    if not isinstance(role, str) or role not in MESSAGE_ROLES:
        raise PromptTemplateError(f"unknown message role {role!r}; expected one of {sorted(MESSAGE_ROLES)}")
    return _ROLE_ALIASES.get(role, role)


def _turns(messages: Iterable[Message]) -> list[tuple[str, str]]:
    """Each message as (canonical role, text); validates before anything is rendered."""
    turns: list[tuple[str, str]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise PromptTemplateError(f"each message must be a mapping, got {type(message).__name__}")
        turns.append((_role_of(message), message_text(message.get("content"))))
    return turns


def _wrapping(template: PromptTemplate, role: str) -> RoleTemplate:
    found = template.roles.get(role)
    if found is not None:
        return found
    if role in _USER_LIKE:
        return template.roles.get("user", _NO_WRAPPING)
    return _NO_WRAPPING


def _fold_system(template: PromptTemplate, turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Move each system turn's wrapped text to the start of the next user turn.

    This is how Llama 2 (``[INST] <<SYS>>...<</SYS>> user [/INST]``), Mistral and
    Gemma carry a system prompt. A system turn with no user turn right after it
    becomes a user turn of its own so its text is never lost.
    """
    system = template.roles.get("system", _NO_WRAPPING)
    folded: list[tuple[str, str]] = []
    pending = ""
    for role, text in turns:
        if role == "system":
            pending += system.pre_message + text + system.post_message
            continue
        if pending:
            if role == "user":
                text = pending + text
            else:
                folded.append(("user", pending))
            pending = ""
        folded.append((role, text))
    if pending:
        folded.append(("user", pending))
    return folded


def render(template: PromptTemplate, messages: Iterable[Message]) -> str:
    """Render ``messages`` into one prompt string using ``template``.

    Layout: ``bos_token + initial_prompt_value``, then each message as
    ``pre_message + text + post_message`` (plus ``eos_token`` after an
    assistant turn), then ``final_prompt_value``. ``bos_token`` is written
    again before the first non-assistant turn after an assistant turn, because
    each exchange in the Llama 2 family is its own ``<s>...</s>`` sequence.
    """
    turns = _turns(messages)
    if template.fold_system:
        turns = _fold_system(template, turns)
    out = [template.bos_token, template.initial_prompt_value]
    after_assistant = False
    for role, text in turns:
        if role == "assistant":
            after_assistant = True
        elif after_assistant:
            out.append(template.bos_token)
            after_assistant = False
        wrap = _wrapping(template, role)
        out += (wrap.pre_message, text, wrap.post_message)
        if role == "assistant":
            out.append(template.eos_token)
    out.append(template.final_prompt_value)
    return "".join(out)
