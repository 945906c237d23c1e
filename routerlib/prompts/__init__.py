"""Chat messages -> one prompt string, for raw-prompt servers (vLLM, TGI, llama.cpp).

The rest of routerlib calls :func:`resolve_prompt`; the other names are here
for callers that build or inspect templates themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from routerlib.exceptions import PromptTemplateError
from routerlib.prompts.hf import (
    HFChatTemplate,
    hf_hub_cache,
    hf_search_locations,
    load_hf_chat_template,
)
from routerlib.prompts.render import Message, message_text, render
from routerlib.prompts.templates import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE,
    PromptTemplate,
    RoleTemplate,
    template_for_model,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE",
    "HFChatTemplate",
    "Message",
    "PromptTemplate",
    "PromptTemplateError",
    "RoleTemplate",
    "hf_hub_cache",
    "load_hf_chat_template",
    "message_text",
    "render",
    "render_with",
    "resolve_prompt",
    "select_template",
    "template_for_model",
]


def select_template(
    model: str,
    *,
    template: PromptTemplate | HFChatTemplate | None = None,
    hf_model_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> PromptTemplate | HFChatTemplate:
    """The template ``model``'s chat messages are rendered with.

    Precedence, first match wins:

    1. ``template`` -- an explicit template (per-call prompt params, or one registered on the
       client) is the caller saying exactly what the model wants.
    2. The ``chat_template`` of ``hf_model_name`` found locally (HF cache or a path; the
       cache is located from ``environ``, the client's environment): the model's own template
       is more faithful than any family guess.
    3. A built-in family template matched on ``hf_model_name``, then ``model``.
    4. :data:`DEFAULT_TEMPLATE` ("role: content" lines) -- only when no ``hf_model_name`` was
       given. Naming an HF model whose format cannot be found raises
       :class:`PromptTemplateError` instead, because silently sending a generic transcript to
       a chat-tuned model degrades every answer.

    Nothing is fetched over the network. Planning calls this before anything is sent, so
    the text-completion adapter only renders.
    """
    if template is not None:
        return template
    if hf_model_name:
        hf_template = load_hf_chat_template(hf_model_name, environ)
        if hf_template is not None:
            return hf_template
    family = template_for_model(model, hf_model_name)
    if family is not None:
        return family
    if hf_model_name:
        raise PromptTemplateError(_not_found_message(model, hf_model_name, environ))
    return DEFAULT_TEMPLATE


def render_with(template: PromptTemplate | HFChatTemplate, messages: Iterable[Message]) -> str:
    """``messages`` rendered by a template of either kind."""
    messages = list(messages)
    if isinstance(template, HFChatTemplate):
        return template.render(messages)
    return render(template, messages)


def resolve_prompt(
    messages: Iterable[Message],
    *,
    model: str,
    template: PromptTemplate | None = None,
    hf_model_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Render ``messages`` into one prompt string for ``model`` (see :func:`select_template`)."""
    chosen = select_template(model, template=template, hf_model_name=hf_model_name, environ=environ)
    return render_with(chosen, messages)


def _not_found_message(model: str, hf_model_name: str, environ: Mapping[str, str] | None) -> str:
    looked = "; ".join(hf_search_locations(hf_model_name, environ))
    families = ", ".join(sorted(BUILTIN_TEMPLATES))
    return (
        f"no prompt template for hf_model_name={hf_model_name!r} (model={model!r}): no chat_template "
        f"found at {looked} (HF cache: {hf_hub_cache(environ)}; nothing is downloaded), and no built-in "
        f"family matches either name. Options: pass a template (PromptTemplate / per-call "
        f"initial_prompt_value, roles, final_prompt_value, bos_token, eos_token); pass hf_model_name "
        f"as a path to a directory containing tokenizer_config.json or to the file itself; or use "
        f"a built-in family name as hf_model_name ({families})."
    )
