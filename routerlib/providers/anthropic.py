"""Anthropic's Messages API (``POST {api_base}/v1/messages``): OpenAI-shaped calls in, Messages out.

A pure translator: this module builds the request; ``_anthropic_parse`` reads answers, stream
events and errors. What changes on the way, and why (each from Anthropic's documentation):

- **Headers.** The key goes in ``x-api-key`` and every request names the API version in
  ``anthropic-version: 2023-06-01`` (docs.anthropic.com/en/api/versioning); a deployment's
  ``api_version`` replaces that version. ``api_base`` is the server root.
- **System prompt.** Messages has no system role: system and developer messages become the
  top-level ``system`` (a string, or text blocks when there are several or they carry
  ``cache_control``) (docs.anthropic.com/en/api/messages, ``system``).
- **max_tokens is required** there. It is ``max_completion_tokens`` or ``max_tokens``, else the
  deployment's ``default_max_tokens`` (then the provider row's ``options["default_max_tokens"]``), else 4096. The
  planner is expected to pass the model map's ``max_output_tokens`` through that option.
- **Tools.** OpenAI function tools become ``{name, description, input_schema}``; other tool
  types (Anthropic's own, e.g. web search) pass through unchanged. ``tool_choice`` auto/none
  stay, "required" becomes ``{"type": "any"}``, a named function ``{"type": "tool", "name"}``;
  ``parallel_tool_calls=False`` becomes ``disable_parallel_tool_use``
  (docs.anthropic.com/en/docs/build-with-claude/tool-use/implement-tool-use).
- **Tool calls and results.** Assistant ``tool_calls`` become ``tool_use`` blocks (arguments
  parsed from their JSON string); tool messages become ``tool_result`` blocks in a user turn,
  consecutive ones merged into that one turn and placed before any text, as the API requires.
  Consecutive turns of one role are merged (the API would combine them anyway).
- **Images.** ``data:`` URLs become base64 image sources, http(s) URLs url sources; a PDF
  ``file`` part with ``file_data`` becomes a document block
  (docs.anthropic.com/en/docs/build-with-claude/vision, .../pdf-support). ``cache_control`` on a
  part is kept; on a message it marks that message's last block (prompt caching).
- **stop** becomes ``stop_sequences``; ``user`` (or ``safety_identifier``) becomes
  ``metadata.user_id``; ``service_tier`` "auto" is kept, "default" becomes "standard_only".
- **reasoning_effort** becomes extended thinking, ``{"type": "enabled", "budget_tokens": B}``
  with B = 1024 (minimal, low), 2048 (medium), 4096 (high), 8192 (xhigh); "none" sends nothing.
  The API needs 1024 <= B < max_tokens (docs.anthropic.com/en/docs/build-with-claude/
  extended-thinking): with no explicit cap, max_tokens is raised to B + the default; with an
  explicit cap, B is lowered to fit under it (a cap of 1024 or less is refused here).
  Thinking cannot be combined with a forced tool, hence not with ``response_format``; the
  API also refuses a temperature other than 1 with it (passed through, not rewritten).
- **Sampling.** temperature (0..1 there; OpenAI's 0..2 is not rescaled) and top_p are passed
  through; note that recent models refuse temperature and top_p together.
- **response_format** (json_schema or json_object) becomes a forced tool named
  ``json_output`` whose input schema is the requested schema (Anthropic's documented way to
  get JSON: docs.anthropic.com/en/docs/build-with-claude/tool-use, "JSON mode"); the answer's
  tool input is returned as the message content (JSON text) with finish_reason "stop".
- **n > 1** is refused (dropped with ``drop_params=True``): Messages returns one answer.
- Not available there, so in ``unsupported``: presence/frequency penalties, logit_bias,
  logprobs, top_logprobs, seed, modalities, audio, prediction, web_search_options,
  verbosity, repetition_penalty, router_preference; and the /completions-only echo, best_of,
  suffix (a text_completion() is sent here as one chat message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._request import TEXT_ONLY_PARAMS, ChatRequest
from ..exceptions import APIError, InvalidRequestError, UnsupportedParamsError
from ..transport import HTTPRequest
from ..types import ModelResponse
from . import _anthropic_parse as parse
from ._wire import (
    dump_body,
    image_url_of,
    load_arguments,
    requested_max_tokens,
    split_data_url,
    stop_sequences,
    text_of,
    unsupported_part,
)
from .base import Deployment, ProviderSpec
from .openai_compat import auth_headers, merge_headers

__all__ = [
    "AnthropicAdapter",
    "convert_messages",
    "json_tool_name",
    "request_body",
    "specs",
]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
#: reasoning_effort -> extended thinking budget_tokens (1024 is the API's minimum).
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
_MIN_BUDGET = 1024
_TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
_SERVICE_TIERS = {"auto": "auto", "default": "standard_only", "standard_only": "standard_only"}

UNSUPPORTED = frozenset({
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed",
    "modalities", "audio", "prediction", "web_search_options", "verbosity", "repetition_penalty",
    "router_preference", *TEXT_ONLY_PARAMS,
})


class AnthropicAdapter:
    """The Messages API adapter (see the module docstring for the mapping)."""

    path = "/v1/messages"

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        body = request_body(request, params, deployment)
        headers = auth_headers(deployment.spec, deployment)
        if deployment.api_version:
            merge_headers(headers, {"anthropic-version": deployment.api_version})
        return HTTPRequest("POST", deployment.api_base.rstrip("/") + self.path, headers, dump_body(body))

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes,
                       request: ChatRequest, deployment: Deployment) -> ModelResponse:
        return parse.parse_response(body, headers, deployment, json_tool=json_tool_name(request))

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes,
                    deployment: Deployment) -> APIError:
        return parse.parse_error(status, headers, body, deployment)

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> parse.AnthropicStreamParser:
        return parse.AnthropicStreamParser(deployment, json_tool=json_tool_name(request))


def specs() -> list[ProviderSpec]:
    """The "anthropic" provider row."""
    return [ProviderSpec(
        name="anthropic",
        adapter=AnthropicAdapter(),
        api_base="https://api.anthropic.com",
        api_key_env=("ANTHROPIC_API_KEY",),
        unsupported=UNSUPPORTED,
        auth="x-api-key",
        extra_headers={"anthropic-version": API_VERSION},
        price_prefix="anthropic",
        options={"default_max_tokens": DEFAULT_MAX_TOKENS},
        quirks={
            "system": "no system role: system/developer messages go to the top-level system field",
            "max_tokens": "required by the API: defaults to options['default_max_tokens'] (4096)",
            "tool_result": "tool results are user-turn tool_result blocks, merged, before any text",
            "response_format": "emulated with a forced 'json_output' tool; its input is the content",
            "reasoning_effort": "extended thinking with budget_tokens 1024/2048/4096/8192",
            "usage": "input_tokens excludes cache reads and writes: they are added to prompt_tokens",
            "overloaded": "529 overloaded_error is a ServiceUnavailableError (retried, falls back)",
        },
    )]


def json_tool_name(request: ChatRequest) -> str | None:
    """The forced tool standing in for ``response_format``, when the request asks for JSON."""
    kind = request.response_format.get("type") if request.response_format else None
    return parse.JSON_TOOL if kind in ("json_schema", "json_object") else None


def request_body(request: ChatRequest, params: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The Messages API body for ``request`` (params are those select_params kept)."""
    system, messages = convert_messages(request.messages)
    max_tokens, thinking = _output_limits(params, deployment)
    body: dict[str, Any] = {"model": deployment.model, "messages": messages, "max_tokens": max_tokens}
    if system is not None:
        body["system"] = system
    if thinking is not None:
        body["thinking"] = thinking
    _sampling(body, params, request)
    _tooling(body, params, thinking is not None)
    if request.stream:
        body["stream"] = True
    if request.extra_body:
        body.update(request.extra_body)
    return body


def _sampling(body: dict[str, Any], params: Mapping[str, Any], request: ChatRequest) -> None:
    """temperature, top_p, stop, user, service_tier and n, each in its Messages spelling."""
    for name in ("temperature", "top_p"):
        if name in params:
            body[name] = params[name]
    if "stop" in params:
        body["stop_sequences"] = stop_sequences(params["stop"])
    user = params.get("user") or params.get("safety_identifier")
    if user:
        body["metadata"] = {"user_id": user}
    tier = params.get("service_tier")
    if tier is not None:
        if tier not in _SERVICE_TIERS:
            raise UnsupportedParamsError(f"anthropic does not support service_tier={tier!r} (only "
                                         f"'auto' and 'default')", provider="anthropic",
                                         code="unsupported_params")
        body["service_tier"] = _SERVICE_TIERS[tier]
    n = params.get("n")
    if n is not None and n > 1 and not request.drop_params:
        raise UnsupportedParamsError("anthropic returns one choice per call: n > 1 is not supported; "
                                     "pass drop_params=True to get one", provider="anthropic",
                                     code="unsupported_params")


def _output_limits(params: Mapping[str, Any], deployment: Deployment) -> tuple[int, dict[str, Any] | None]:
    """max_tokens, and the thinking block for reasoning_effort (budget < max_tokens, >= 1024)."""
    asked = requested_max_tokens(params)
    default = int(deployment.default_max_tokens
                  or deployment.spec.options.get("default_max_tokens") or DEFAULT_MAX_TOKENS)
    effort = params.get("reasoning_effort")
    budget = THINKING_BUDGETS.get(effort) if effort else None
    if budget is None:
        return asked or default, None
    if asked is None:
        max_tokens = default if default > budget else budget + default
    else:
        if asked <= _MIN_BUDGET:
            raise InvalidRequestError(f"reasoning_effort={effort!r} on anthropic needs a max_tokens above "
                                      f"{_MIN_BUDGET} (extended thinking's minimum budget); got {asked}",
                                      provider="anthropic", code="invalid_parameter")
        max_tokens, budget = asked, max(_MIN_BUDGET, min(budget, asked - 1))
    return max_tokens, {"type": "enabled", "budget_tokens": budget}


def _tooling(body: dict[str, Any], params: Mapping[str, Any], thinking: bool) -> None:
    """tools, tool_choice (with parallel_tool_calls) and the response_format tool."""
    tools = [_tool(t) for t in params.get("tools") or ()]
    choice = _tool_choice(params.get("tool_choice"))
    fmt = params.get("response_format")
    if fmt and fmt.get("type") in ("json_schema", "json_object"):
        if thinking:
            raise UnsupportedParamsError("anthropic cannot combine reasoning_effort (extended thinking) "
                                         "with response_format: thinking forbids the forced tool that "
                                         "carries the JSON", provider="anthropic", code="unsupported_params")
        tools.append(_json_tool(fmt))
        choice = {"type": "tool", "name": parse.JSON_TOOL}
    parallel = params.get("parallel_tool_calls")
    if parallel is False and tools:
        choice = dict(choice or {"type": "auto"})
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if tools:
        body["tools"] = tools
    if choice is not None and tools:  # a tool_choice without tools is refused by the API
        body["tool_choice"] = choice


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return dict(tool)  # an Anthropic tool type (web search, computer use...) as given
    function = tool.get("function") or {}
    out: dict[str, Any] = {"name": function.get("name"),
                           "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mapped = _TOOL_CHOICES.get(choice)
        if mapped is None:
            raise InvalidRequestError(f"tool_choice={choice!r}: allowed are auto, none, required or "
                                      f"a function", code="invalid_parameter")
        return dict(mapped)
    if choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return dict(choice)  # already in Anthropic's shape


def _json_tool(fmt: Mapping[str, Any]) -> dict[str, Any]:
    schema: Any = {"type": "object"}
    description = "Give the final answer as this tool's input; it must match the schema."
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or schema
        description = spec.get("description") or description
    return {"name": parse.JSON_TOOL, "description": description, "input_schema": schema}


# -- messages ----------------------------------------------------------------------------------

def convert_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """(system, messages) in the Messages shape; see the module docstring."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role in ("system", "developer"):
            system.extend(_blocks(message))
        elif role == "user":
            _append(out, "user", _user_content(message))
        elif role == "assistant":
            _append(out, "assistant", _assistant_content(message))
        elif role == "tool":
            _append(out, "user", [_tool_result(message)])
        else:
            raise InvalidRequestError("anthropic does not take role='function' messages: use tool "
                                      "messages with tool_call_id", code="invalid_parameter")
    return _system_value(system), out


def _system_value(blocks: list[dict[str, Any]]) -> Any:
    """A plain string when it says the same thing (one uncached text), else the text blocks."""
    if not blocks:
        return None
    if len(blocks) == 1 and "cache_control" not in blocks[0]:
        return blocks[0]["text"]
    return blocks


def _append(out: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Add a turn, merging it into the previous one of the same role."""
    if out and out[-1]["role"] == role:
        previous = out[-1]["content"]
        if isinstance(previous, str):
            previous = [{"type": "text", "text": previous}] if previous else []
        previous.extend([{"type": "text", "text": content}] if isinstance(content, str) else content)
        out[-1]["content"] = previous
    else:
        out.append({"role": role, "content": content})


def _user_content(message: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str) and "cache_control" not in message:
        return content
    return _blocks(message)


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A message's content as Messages blocks; a message-level cache_control marks the last one."""
    content = message.get("content")
    if isinstance(content, str):
        blocks = [{"type": "text", "text": content}] if content else []
    else:
        # empty text parts are skipped: the API refuses empty text blocks
        blocks = [_part(p) for p in content or () if p.get("type") != "text" or p.get("text")]
    if "cache_control" in message and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": message["cache_control"]}
    return blocks


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        block: dict[str, Any] = {"type": "text", "text": part.get("text") or ""}
    elif kind == "image_url":
        block = {"type": "image", "source": _source(image_url_of(part))}
    elif kind == "file":
        block = _document(part.get("file") or {})
    else:
        raise unsupported_part(str(kind), "anthropic")
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _source(url: str) -> dict[str, Any]:
    data = split_data_url(url)
    if data is not None:
        return {"type": "base64", "media_type": data[0], "data": data[1]}
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise InvalidRequestError(f"image url {url[:40]!r}: anthropic takes data: (base64) or http(s) URLs",
                              provider="anthropic", code="invalid_content")


def _document(file: Mapping[str, Any]) -> dict[str, Any]:
    data = split_data_url(str(file.get("file_data") or ""))
    if data is None:
        raise InvalidRequestError("anthropic takes file parts only as file_data data: URLs (base64)",
                                  provider="anthropic", code="invalid_content")
    return {"type": "document", "source": {"type": "base64", "media_type": data[0], "data": data[1]}}


def _assistant_content(message: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """Thinking blocks (kept from an earlier answer), text, then tool_use blocks."""
    calls = message.get("tool_calls") or ()
    thinking = message.get("thinking_blocks") or ()
    content = message.get("content")
    if not calls and not thinking and isinstance(content, str) and "cache_control" not in message:
        return content
    blocks = [dict(b) for b in thinking] + _blocks(message)
    for call in calls:
        function = call.get("function") or {}
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                       "input": load_arguments(function.get("arguments"), provider="anthropic")})
    return blocks


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    result: Any = content if isinstance(content, str) else [_part(p) for p in content or ()]
    if not isinstance(content, str) and all(p.get("type") == "text" for p in content or ()):
        result = text_of(content)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": result}
    if "cache_control" in message:
        block["cache_control"] = message["cache_control"]
    return block
