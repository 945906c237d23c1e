"""Chat over raw-prompt servers: messages rendered to one prompt, sent to ``/completions``.

vLLM, TGI and llama.cpp serve base models on ``POST {api_base}/completions``, which takes one
``prompt`` string. A chat call to such a server is translated both ways::

    messages --render(template)--> prompt --POST /completions--> text_completion
    text_completion --choices[].text--> ModelResponse.choices[].message.content
    stream: text_completion chunks --> a role chunk per choice, then content deltas

The template comes from, first match wins: the per-call parameters (``initial_prompt_value``,
``roles``, ``final_prompt_value``, ``bos_token``, ``eos_token``); the deployment's
``options.template`` (a ``PromptTemplate``, registered per model on a client, or from a
model_list entry); the provider row's ``options["prompt_template"]``; then
``routerlib.prompts.select_template``'s own lookup by ``hf_model_name`` and model name.
Planning selects the template before anything is sent (reading the HF cache from the client's
environment); the adapter only renders it.

A ``text_completion()`` call (``request.prompt`` set) passes through unchanged.

Providers: ``text-completion-openai/<model>`` (OpenAI's legacy endpoint by default; pass
``api_base`` for your own server). Any OpenAI-compatible row opts in with
``adapter=TextCompletionAdapter()``, e.g.
``client.register_provider(name="tgi", api_base="http://gpu:8080/v1", key_required=False,
adapter=TextCompletionAdapter())``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from .._request import ChatRequest
from ..exceptions import UnsupportedParamsError
from ..prompts import HFChatTemplate, PromptTemplate, render_with, select_template
from ..transport import HTTPRequest
from ..types import (
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ModelResponse,
    StreamChoice,
    TextCompletion,
)
from ._errors import unreadable_body
from ._quirks import QuirksAdapter
from .base import Deployment, ProviderSpec, StreamParser
from .openai_compat import OpenAIStreamParser

__all__ = [
    "CHAT_ONLY_PARAMS",
    "TextCompletionAdapter",
    "TextToChatStreamParser",
    "chat_response",
    "prompt_template",
    "render_prompt",
    "select_for",
    "specs",
]

#: Parameters that only mean something to a chat endpoint: a raw prompt has no tools, no
#: structured log-probabilities in chat form, no audio and no reasoning switch.
CHAT_ONLY_PARAMS = ("tools", "tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs",
                    "modalities", "audio", "prediction", "verbosity", "web_search_options",
                    "reasoning_effort")
_TEMPLATE_PARAMS = ("initial_prompt_value", "roles", "final_prompt_value", "bos_token", "eos_token")


class TextCompletionAdapter(QuirksAdapter):
    """Sends chat calls as text completions (rendered prompt); text_completion calls as they are."""

    #: Planning selects this adapter's prompt template before the call (``select_for``).
    renders_prompt = True

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        if request.prompt is None:
            params = _without_chat_only(params, request, deployment.spec)
            prompt = render_prompt(request, deployment)
            request = request.model_copy(update={"prompt": prompt, "messages": ()})
        return super().build_request(request, params, deployment)

    def _parse(self, status: int, headers: Mapping[str, str], body: bytes,
               request: ChatRequest, deployment: Deployment) -> ModelResponse | TextCompletion:
        if request.prompt is not None:
            return super()._parse(status, headers, body, request, deployment)
        try:
            completion = TextCompletion.model_validate_json(body)
        except ValidationError as exc:
            raise unreadable_body("the provider's answer is not a valid text completion", body,
                                  provider=deployment.provider, model=deployment.model,
                                  headers=headers) from exc
        return chat_response(completion)

    def _inner_stream_parser(self, request: ChatRequest, deployment: Deployment) -> StreamParser:
        if request.prompt is not None:
            return super()._inner_stream_parser(request, deployment)
        return TextToChatStreamParser(OpenAIStreamParser(deployment, text=True))


def prompt_template(request: ChatRequest, deployment: Deployment) -> PromptTemplate | HFChatTemplate | None:
    """The explicit template for this call, or None to let ``resolve_prompt`` choose one."""
    values = {name: getattr(request, name) for name in _TEMPLATE_PARAMS if getattr(request, name) is not None}
    if values:
        return PromptTemplate.from_params(**values)
    found = deployment.options.template
    if found is None:
        found = deployment.spec.options.get("prompt_template")
    if found is not None:
        return found if isinstance(found, PromptTemplate | HFChatTemplate) else PromptTemplate.from_params(**found)
    return None


def select_for(request: ChatRequest, deployment: Deployment,
               environ: Mapping[str, str] | None = None) -> PromptTemplate | HFChatTemplate:
    """The template a call to ``deployment`` renders with (planning resolves it before sending)."""
    hf_model_name = request.hf_model_name or deployment.spec.options.get("hf_model_name")
    return select_template(deployment.model, template=prompt_template(request, deployment),
                           hf_model_name=hf_model_name, environ=environ)


def render_prompt(request: ChatRequest, deployment: Deployment) -> str:
    """The one prompt string a raw-prompt server receives for ``request.messages``.

    Pure in a call: planning has already selected the template into the deployment, from the
    client's environment (``Planner.resolve``); only a deployment built by hand is looked up here.
    """
    return render_with(select_for(request, deployment), request.messages)


def chat_response(completion: TextCompletion) -> ModelResponse:
    """A text completion as a chat completion: each choice's text becomes the assistant message."""
    extra = dict(completion.model_extra or {})
    return ModelResponse(
        id=completion.id, created=completion.created, model=completion.model,
        usage=completion.usage, system_fingerprint=completion.system_fingerprint,
        choices=[Choice(index=c.index, message=ChatCompletionMessage(content=c.text),
                        finish_reason=c.finish_reason, logprobs=c.logprobs)
                 for c in completion.choices],
        **extra)


class TextToChatStreamParser:
    """Text completion chunks in, chat completion chunks out (a role chunk before each choice)."""

    def __init__(self, inner: StreamParser) -> None:
        self.done = False
        self._inner = inner
        self._started: set[int] = set()

    def feed(self, event: str | None, data: bytes) -> list[ChatCompletionChunk]:
        out: list[ChatCompletionChunk] = []
        for piece in self._inner.feed(event, data):
            out.extend(self._convert(piece))
        self.done = self._inner.done
        return out

    def _convert(self, piece: Any) -> list[ChatCompletionChunk]:
        head = {"id": piece.id, "created": piece.created, "model": piece.model,
                "system_fingerprint": piece.system_fingerprint}
        out: list[ChatCompletionChunk] = []
        new = [c.index for c in piece.choices if c.index not in self._started]
        if new:
            self._started.update(new)
            out.append(ChatCompletionChunk(**head, choices=[
                StreamChoice(index=i, delta=ChoiceDelta(role="assistant", content="")) for i in new]))
        choices = [StreamChoice(index=c.index, delta=ChoiceDelta(content=c.text),
                                finish_reason=c.finish_reason, logprobs=c.logprobs) for c in piece.choices]
        if choices or piece.usage is not None:
            out.append(ChatCompletionChunk(**head, choices=choices, usage=piece.usage))
        return out


def _without_chat_only(params: dict[str, Any], request: ChatRequest, spec: ProviderSpec) -> dict[str, Any]:
    """Refuse (or with drop_params, drop) parameters a raw prompt cannot carry."""
    found = [name for name in CHAT_ONLY_PARAMS if spec.renamed.get(name, name) in params]
    if not found:
        return params
    if not request.drop_params:
        raise UnsupportedParamsError(
            f"{spec.name} sends chat calls as a raw prompt to /completions, which has no "
            f"{', '.join(found)}; pass drop_params=True to drop them",
            provider=spec.name, model=request.model, code="unsupported_params")
    dropped = {spec.renamed.get(name, name) for name in found}
    return {k: v for k, v in params.items() if k not in dropped}


def specs() -> list[ProviderSpec]:
    """``text-completion-openai``: OpenAI's /completions, or any server given by api_base."""
    return [ProviderSpec(
        name="text-completion-openai",
        adapter=TextCompletionAdapter(),
        api_base="https://api.openai.com/v1",
        api_key_env=("OPENAI_API_KEY",),
        key_required=False,
        unsupported=frozenset((*CHAT_ONLY_PARAMS, "router_preference", "safety_identifier", "service_tier")),
        price_prefix="openai",
        quirks={
            "raw_prompt": "platform.openai.com/docs/api-reference/completions: /completions takes one "
                          "prompt string; chat messages are rendered with the model's template",
            "key_optional": "vLLM/TGI/llama.cpp servers need no key; OpenAI itself answers 401 without one",
            "chat_only_params": "a raw prompt has no tools, tool_choice, chat logprobs, audio or "
                                "reasoning_effort: they are refused (or dropped with drop_params)",
            "prices": "the model map prices OpenAI's instruct models (gpt-3.5-turbo-instruct, "
                      "davinci-002) under the openai prefix",
        },
    )]
