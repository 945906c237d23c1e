"""Google's Gemini API with an API key: ``generateContent`` and ``streamGenerateContent?alt=sse``.

A pure translator: this module builds the request; ``_gemini_parse`` reads answers, stream
events and errors. What changes on the way, and why (each from ai.google.dev/api):

- **Endpoint and key.** ``{api_base}/models/{model}:generateContent``, or
  ``:streamGenerateContent?alt=sse`` for SSE (ai.google.dev/api/generate-content). The model
  id is one path segment: one with ``..``, ``/``, ``?``, ``#``, ``:``, ``%``, whitespace or
  control characters is refused when the deployment is made (``gemini/../../admin`` would
  post the key to another path); anything else outside ``[A-Za-z0-9._~-]`` is percent-encoded;
  ``api_base`` includes the version segment (default ``.../v1beta``). The key travels in the
  ``x-goog-api-key`` header, never in the ``?key=`` query, so it cannot leak into URLs that
  get logged (ai.google.dev/gemini-api/docs/api-key). JSON field names are the camelCase
  ones (``systemInstruction``, ``inlineData``...): the REST API takes both spellings, and
  camelCase is what its own responses and the mock servers use.
- **Contents.** Roles are "user" and "model" (assistant -> model); consecutive turns of one
  role are merged, so the function responses answering one model turn travel together, as
  function calling requires (ai.google.dev/gemini-api/docs/function-calling). System and
  developer messages go to ``systemInstruction``. Images, audio and files in ``data:`` URLs
  become ``inlineData``; other URLs (gs://, File API, http) become ``fileData``.
- **Tool calls.** Assistant ``tool_calls`` become ``functionCall`` parts (arguments parsed
  from JSON); tool messages become ``functionResponse`` parts named after the call they
  answer, with the result as the response object (a JSON object as is, anything else
  wrapped as ``{"content": ...}``). Gemini names no call ids, so ids are made up on the way
  back; a call's ``thoughtSignature`` (Gemini 3 requires it to be returned) rides inside
  that id after ``__thought__`` and is put back on the part when the id returns.
- **generationConfig.** temperature, topP, maxOutputTokens (max_completion_tokens or
  max_tokens; thinking counts against it, as in OpenAI's max_completion_tokens),
  stopSequences, candidateCount (n), presencePenalty, frequencyPenalty, seed; response_format
  json_object -> ``responseMimeType: application/json``, json_schema -> also
  ``responseSchema``, converted to the OpenAPI subset Gemini's Schema accepts ($ref inlined,
  type lists to ``nullable``, unsupported keywords such as additionalProperties and title
  dropped) (ai.google.dev/api/caching#Schema). Tool parameter schemas get the same treatment.
- **reasoning_effort -> thinkingConfig** (ai.google.dev/gemini-api/docs/thinking): Gemini 3
  models take ``thinkingLevel`` ("low" for none/minimal/low, "high" above); earlier models
  ``thinkingBudget``: none 0 (turns thinking off where the model allows it; 2.5 Pro refuses
  0), minimal 512, low 1024, medium 2048, high 4096, xhigh 8192.
- **tool_choice -> toolConfig.functionCallingConfig**: auto AUTO, none NONE, required ANY, a
  named function ANY with ``allowedFunctionNames``. ``web_search_options`` adds the
  ``googleSearch`` tool (grounding).
- **Embeddings** (ai.google.dev/api/embeddings): one string goes to ``:embedContent``
  (``{"content": {"parts": [{"text": ...}]}}``), a list to ``:batchEmbedContents``
  (``{"requests": [{"model": "models/<m>", "content": ...}, ...]}``); ``dimensions`` becomes
  ``outputDimensionality``; ``extra_body`` (``taskType``, ``title``) goes into each request.
  Gemini embeds text and returns floats: token-id inputs are refused, and ``encoding_format``
  only as "float".
- Not available there, so in ``unsupported``: logit_bias, logprobs, top_logprobs, user,
  safety_identifier, service_tier, modalities, audio, prediction, verbosity,
  parallel_tool_calls, repetition_penalty, router_preference; and the /completions-only echo,
  best_of, suffix (a text_completion() is sent here as one chat message).
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._request import TEXT_ONLY_PARAMS, ChatRequest
from ..exceptions import APIError, InvalidRequestError, UnsupportedParamsError
from ..transport import HTTPRequest
from ..types import EmbeddingResponse, ModelResponse
from . import _gemini_parse as parse
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
from .openai_compat import merge_headers

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest

__all__ = [
    "GeminiAdapter",
    "convert_messages",
    "gemini_schema",
    "generation_config",
    "request_body",
    "specs",
]

#: reasoning_effort -> thinkingBudget for models before Gemini 3.
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
#: reasoning_effort -> thinkingLevel for Gemini 3 models (they take "low" and "high").
THINKING_LEVELS = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high",
                   "xhigh": "high"}
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
#: Params that go into generationConfig under their (renamed) Gemini names unchanged.
_CONFIG_KEYS = ("temperature", "topP", "candidateCount", "presencePenalty", "frequencyPenalty", "seed")
_RENAMED = {"top_p": "topP", "n": "candidateCount", "presence_penalty": "presencePenalty",
            "frequency_penalty": "frequencyPenalty"}
_SCHEMA_KEYS = frozenset({
    "type", "format", "description", "nullable", "enum", "items", "properties", "required",
    "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties", "pattern",
    "minimum", "maximum", "anyOf", "propertyOrdering",
})
_MAX_SCHEMA_DEPTH = 40
#: A model id that needs no percent-encoding in a URL path (the usual case: gemini-2.5-flash).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")

UNSUPPORTED = frozenset({
    "logit_bias", "logprobs", "top_logprobs", "user", "safety_identifier", "service_tier",
    "modalities", "audio", "prediction", "verbosity", "parallel_tool_calls", "repetition_penalty",
    "router_preference", *TEXT_ONLY_PARAMS,
})


class GeminiAdapter:
    """The Gemini API adapter (see the module docstring for the mapping)."""

    #: The model id is a URL path segment: ``Deployment`` refuses ``..``, ``/``, ``?``, ``#``, ``:``...
    model_in_url = True

    def build_request(self, request: ChatRequest, params: dict[str, Any],
                      deployment: Deployment) -> HTTPRequest:
        model = deployment.model.removeprefix("models/")
        if not _PLAIN_SEGMENT.fullmatch(model):  # checked when the deployment was made; encoded here
            model = quote(model, safe="")
        action = ":streamGenerateContent?alt=sse" if request.stream else ":generateContent"
        url = f"{deployment.api_base.rstrip('/')}/models/{model}{action}"
        return HTTPRequest("POST", url, _headers(deployment), dump_body(request_body(request, params, deployment)))

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes,
                       request: ChatRequest, deployment: Deployment) -> ModelResponse:
        return parse.parse_response(body, headers, deployment)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes,
                    deployment: Deployment) -> APIError:
        return parse.parse_error(status, headers, body, deployment)

    def stream_parser(self, request: ChatRequest, deployment: Deployment) -> parse.GeminiStreamParser:
        return parse.GeminiStreamParser(deployment, candidates=request.n or 1)

    def build_embedding_request(self, request: EmbeddingRequest, params: dict[str, Any],
                                deployment: Deployment) -> HTTPRequest:
        model = deployment.model.removeprefix("models/")
        if not _PLAIN_SEGMENT.fullmatch(model):  # checked when the deployment was made; encoded here
            model = quote(model, safe="")
        texts = request.texts()
        if texts is None:
            raise UnsupportedParamsError("gemini embeds text only: pass strings, not token ids",
                                         provider=deployment.provider, model=deployment.model,
                                         code="unsupported_params")
        entries = [_embed_entry(text, params, request) for text in texts]
        url = f"{deployment.api_base.rstrip('/')}/models/{model}"
        if isinstance(request.input, str):
            url, body = url + ":embedContent", entries[0]
        else:
            body = {"requests": [{"model": f"models/{model}", **entry} for entry in entries]}
            url += ":batchEmbedContents"
        return HTTPRequest("POST", url, _headers(deployment), dump_body(body))

    def parse_embedding_response(self, status: int, headers: Mapping[str, str], body: bytes,
                                 request: EmbeddingRequest, deployment: Deployment) -> EmbeddingResponse:
        return parse.parse_embeddings(body, headers, request, deployment)


def _headers(deployment: Deployment) -> dict[str, str]:
    """JSON both ways, the key in x-goog-api-key (never in the URL), then the row's and the call's headers."""
    headers = {"content-type": "application/json", "accept": "application/json"}
    if deployment.api_key:
        headers["x-goog-api-key"] = deployment.api_key
    headers.update(deployment.spec.extra_headers)
    if deployment.headers:
        merge_headers(headers, deployment.headers)
    return headers


def _embed_entry(text: str, params: Mapping[str, Any], request: EmbeddingRequest) -> dict[str, Any]:
    """One EmbedContentRequest: the text, outputDimensionality, and extra_body (taskType, title...)."""
    entry: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if params.get("dimensions") is not None:
        entry["outputDimensionality"] = params["dimensions"]
    if request.extra_body:
        entry.update(request.extra_body)
    return entry


def specs() -> list[ProviderSpec]:
    """The "gemini" provider row (Google AI Studio keys; Vertex AI is another provider)."""
    return [ProviderSpec(
        name="gemini",
        adapter=GeminiAdapter(),
        api_base="https://generativelanguage.googleapis.com/v1beta",
        api_key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        unsupported=UNSUPPORTED,
        renamed=_RENAMED,
        auth="x-goog-api-key",
        price_prefix="gemini",
        options={"param_values": {"encoding_format": ("float",)}},
        quirks={
            "api_key": "sent in the x-goog-api-key header, never in the URL (no key in logs)",
            "roles": "assistant is 'model'; system/developer go to systemInstruction",
            "tool_call_ids": "Gemini names no call ids: made up, carrying any thoughtSignature",
            "response_schema": "JSON Schema reduced to Gemini's OpenAPI subset ($ref inlined)",
            "reasoning_effort": "thinkingLevel on Gemini 3, thinkingBudget 0..8192 before",
            "usage": "thoughtsTokenCount is not in candidatesTokenCount: added to completion_tokens",
            "stream_end": "no end marker: a stream is complete once every candidate has a finishReason",
            "prompt_blocked": "promptFeedback.blockReason with no candidates -> ContentPolicyViolationError",
            "embeddings": "ai.google.dev/api/embeddings: embedContent / batchEmbedContents, text only, floats "
                          "only (encoding_format 'float'); no usage in the answer, so it is counted locally",
        },
    )]


def request_body(request: ChatRequest, params: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The generateContent body for ``request`` (params are those select_params kept, renamed)."""
    system, contents = convert_messages(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = generation_config(params, deployment.model)
    if config:
        body["generationConfig"] = config
    tools = _tools(params)
    if tools:
        body["tools"] = tools
    choice = params.get("tool_choice")
    if choice is not None and tools and "functionDeclarations" in tools[0]:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(choice)}
    if request.extra_body:
        body.update(request.extra_body)
    return body


def generation_config(params: Mapping[str, Any], model: str) -> dict[str, Any]:
    """generationConfig: sampling, limits, stop sequences, JSON output and thinking."""
    config = {key: params[key] for key in _CONFIG_KEYS if key in params}
    max_tokens = requested_max_tokens(params)
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    if "stop" in params:
        config["stopSequences"] = stop_sequences(params["stop"])
    fmt = params.get("response_format")
    kind = fmt.get("type") if fmt else None
    if fmt and kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
        if schema:
            config["responseSchema"] = gemini_schema(schema)
    effort = params.get("reasoning_effort")
    if effort:
        name = model.removeprefix("models/")
        if name.startswith("gemini-3"):
            config["thinkingConfig"] = {"thinkingLevel": THINKING_LEVELS[effort]}
        else:
            config["thinkingConfig"] = {"thinkingBudget": THINKING_BUDGETS[effort]}
    return config


# -- tools -------------------------------------------------------------------------------------

def _tools(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    declarations = []
    tools: list[dict[str, Any]] = []
    for tool in params.get("tools") or ():
        if tool.get("type") == "function":
            declarations.append(_declaration(tool.get("function") or {}))
        else:
            tools.append(dict(tool))  # a Gemini tool object as given (codeExecution, googleSearch...)
    if declarations:
        tools.insert(0, {"functionDeclarations": declarations})
    if params.get("web_search_options") is not None:
        tools.append({"googleSearch": {}})
    return tools


def _declaration(function: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters and parameters.get("properties"):  # an OBJECT without properties is refused
        out["parameters"] = gemini_schema(parameters)
    return out


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, str):
        mode = _MODES.get(choice)
        if mode is None:
            raise InvalidRequestError(f"tool_choice={choice!r}: allowed are auto, none, required or a "
                                      f"function", code="invalid_parameter")
        return {"mode": mode}
    name = (choice.get("function") or {}).get("name")
    if choice.get("type") != "function" or not name:
        raise InvalidRequestError(f"tool_choice={dict(choice)!r}: gemini takes auto, none, required "
                                  f"or {{'type': 'function', 'function': {{'name': ...}}}}",
                                  code="invalid_parameter")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


def gemini_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON Schema reduced to the OpenAPI subset of Gemini's ``Schema`` (see module docstring)."""
    if not isinstance(schema, Mapping):
        return schema
    if depth > _MAX_SCHEMA_DEPTH:
        raise InvalidRequestError("the schema is recursive or too deep for gemini's responseSchema",
                                  provider="gemini", code="invalid_schema")
    if defs is None:
        defs = {**_schema_object(schema.get("definitions"), "definitions"),
                **_schema_object(schema.get("$defs"), "$defs")}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if target is None:
            raise InvalidRequestError(f"schema $ref {ref!r} is not defined in $defs", provider="gemini",
                                      code="invalid_schema")
        merged = {**_schema_object(target, ref), **{k: v for k, v in schema.items() if k != "$ref"}}
        return gemini_schema(merged, defs, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:  # pydantic's wrapper for a described $ref
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return gemini_schema({**_schema_object(all_of[0], "allOf[0]"), **rest}, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: gemini_schema(sub, defs, depth + 1)
                        for name, sub in _schema_object(value, "properties").items()}
        elif key == "items":
            out[key] = gemini_schema(value, defs, depth + 1)
        elif key == "anyOf":
            if not isinstance(value, list):
                raise _bad_schema("anyOf must be a list of schemas")
            _any_of(out, value, defs, depth)
        elif key == "type" and isinstance(value, list):
            if not all(isinstance(k, str) for k in value):
                raise _bad_schema("a list of types must hold type names")
            kinds = [k for k in value if k != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            if len(kinds) == 1:
                out["type"] = kinds[0]
            else:
                out["anyOf"] = [{"type": k} for k in kinds]
        elif key in _SCHEMA_KEYS:
            out[key] = value
    return out


def _schema_object(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` when it is a schema object (None: an empty one), else the InvalidRequestError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad_schema(f"{where} must be an object")
    return value


def _bad_schema(reason: str) -> InvalidRequestError:
    return InvalidRequestError(f"the JSON schema cannot be converted for gemini: {reason}", provider="gemini",
                               code="invalid_schema")


def _any_of(out: dict[str, Any], variants: list[Any], defs: Mapping[str, Any], depth: int) -> None:
    """anyOf with a null variant becomes nullable; a single remaining variant is inlined."""
    kept = [v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")]
    if len(kept) < len(variants):
        out["nullable"] = True
    converted = [gemini_schema(v, defs, depth + 1) for v in kept]
    if len(converted) == 1 and isinstance(converted[0], dict):
        out.update(converted[0])
        if len(kept) < len(variants):
            out["nullable"] = True
    elif converted:
        out["anyOf"] = converted


# -- messages ----------------------------------------------------------------------------------

def convert_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                     list[dict[str, Any]]]:
    """(systemInstruction parts, contents); see the module docstring."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, for the function responses
    for message in messages:
        role = message["role"]
        if role in ("system", "developer"):
            system.extend(_parts(message.get("content")))
        elif role == "user":
            _append(contents, "user", _parts(message.get("content")))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, names))
        else:  # tool, or the deprecated function role (which names its function)
            name = names.get(message.get("tool_call_id") or "") or message.get("name") or ""
            _append(contents, "user", [_function_response(name, message.get("content"))])
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return  # Gemini refuses a content without parts
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    return [_part(p) for p in content or () if p.get("type") != "text" or p.get("text")]


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text") or ""}
    if kind == "image_url":
        return _media(image_url_of(part), None)
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        return {"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}", "data": audio.get("data")}}
    if kind == "file":
        file = part.get("file") or {}
        return _media(str(file.get("file_data") or file.get("file_id") or ""), file.get("format"))
    raise unsupported_part(str(kind), "gemini")


def _media(url: str, mime: str | None) -> dict[str, Any]:
    """inlineData for a data: URL; fileData (a gs://, File API or web URI) otherwise."""
    data = split_data_url(url)
    if data is not None:
        return {"inlineData": {"mimeType": data[0], "data": data[1]}}
    if not url:
        raise InvalidRequestError("a media content part needs a URL or data", provider="gemini",
                                  code="invalid_content")
    guessed = mime or mimetypes.guess_type(url.split("?", 1)[0])[0] or "application/octet-stream"
    return {"fileData": {"mimeType": guessed, "fileUri": url}}


def _model_parts(message: Mapping[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    parts = _parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        name = function.get("name") or ""
        ident = call.get("id") or ""
        names[ident] = name
        part: dict[str, Any] = {"functionCall": {
            "name": name, "args": load_arguments(function.get("arguments"), provider="gemini")}}
        signature = parse.signature_of(ident)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(name: str, content: Any) -> dict[str, Any]:
    """A tool result as a functionResponse: a JSON object as is, anything else as {"content": ...}."""
    text = text_of(content)
    response: Any = None
    if text.startswith("{"):
        try:
            response = json.loads(text)
        except ValueError:
            response = None
    if not isinstance(response, dict):
        response = {"content": text}
    return {"functionResponse": {"name": name, "response": response}}
