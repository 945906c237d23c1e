"""Reading Gemini's answers: GenerateContentResponse, its SSE stream and errors, OpenAI-shaped.

- **Candidates -> choices** (ai.google.dev/api/generate-content#candidate): text parts join
  into the content, parts marked ``thought`` (thought summaries) into ``reasoning_content``,
  ``functionCall`` parts into ``tool_calls`` with made-up ids (Gemini names none; a part's
  ``thoughtSignature`` rides inside the id, see ``gemini``), arguments as JSON text.
- **finishReason** (ai.google.dev/api/generate-content#FinishReason): STOP -> "stop", or
  "tool_calls" when the candidate called functions (Gemini says STOP there, OpenAI callers
  look for "tool_calls"); MAX_TOKENS -> "length"; SAFETY, RECITATION, BLOCKLIST,
  PROHIBITED_CONTENT, SPII and IMAGE_SAFETY -> "content_filter"; anything else -> "stop".
- **A blocked prompt** comes back as a 200 with ``promptFeedback.blockReason`` and no
  candidates: that is a ContentPolicyViolationError, not an empty answer.
- **usageMetadata** (ai.google.dev/api/generate-content#UsageMetadata): promptTokenCount
  already includes cachedContentTokenCount ("when cached_content is set, this is still the
  total effective prompt size"), so it is prompt_tokens as is, plus toolUsePromptTokenCount
  (prompt tokens of tool results, e.g. grounding); cachedContentTokenCount -> cached_tokens;
  candidatesTokenCount does not include thoughtsTokenCount (both are listed apart and
  totalTokenCount is their sum with the prompt), so completion_tokens = candidates +
  thoughts, reasoning_tokens = thoughts. Audio prompt tokens come from promptTokensDetails.
- **Stream** (``streamGenerateContent?alt=sse``): every event is a whole
  GenerateContentResponse holding the next piece of each candidate, usage on the last ones.
  There is no end marker, so the stream is done once every candidate asked for has a
  finishReason; a function call arrives whole, in one part.
- **Errors** (ai.google.dev/gemini-api/docs/troubleshooting): ``{"error": {"code",
  "message", "status"}}`` classified by status (RESOURCE_EXHAUSTED -> RateLimitError,
  UNAVAILABLE -> ServiceUnavailableError, token-limit wording -> ContextWindowExceededError)
  by ``_errors``. Two quirks: a bad key is a 400 INVALID_ARGUMENT with reason
  API_KEY_INVALID (an AuthenticationError here), and a 429 says how long to wait in a
  ``google.rpc.RetryInfo`` detail (``retryDelay: "34s"``) rather than a header.
- **Embeddings** (ai.google.dev/api/embeddings): ``embedContent`` answers
  ``{"embedding": {"values": [...]}}``, ``batchEmbedContents`` ``{"embeddings": [{"values":
  [...]}, ...]}`` in request order. The Gemini API reports no usage there (Vertex AI's
  ``usageMetadata.promptTokenCount`` is read when present), so usage is usually counted locally.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._usage import count, warn_implausible
from ..exceptions import APIError, AuthenticationError, ContentPolicyViolationError, parse_retry_after
from ..types import ChatCompletionChunk, EmbeddingResponse, ModelResponse
from ._errors import build_error, unreadable_body
from ._wire import ChunkFactory, load_json, new_id, validated
from .base import Deployment
from .openai_compat import in_input_order

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest

__all__ = ["GeminiStreamParser", "normalise_usage", "parse_embeddings", "parse_error", "parse_response",
           "signature_of"]

#: Separates a made-up tool call id from the thoughtSignature it carries.
SIGNATURE_SEP = "__thought__"
_FILTERED = "content_filter"
FINISH_REASONS = {
    "STOP": "stop", "MAX_TOKENS": "length", "SAFETY": _FILTERED, "RECITATION": _FILTERED,
    "BLOCKLIST": _FILTERED, "PROHIBITED_CONTENT": _FILTERED, "SPII": _FILTERED, "IMAGE_SAFETY": _FILTERED,
}


def signature_of(call_id: str) -> str | None:
    """The thoughtSignature carried in a tool call id made by this module, if any."""
    _, sep, signature = call_id.partition(SIGNATURE_SEP)
    return signature if sep and signature else None


def finish_reason(reason: str, called: bool) -> str:
    mapped = FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if called and mapped == "stop" else mapped


def read_parts(parts: Any) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(text pieces, thought pieces, tool calls) of a candidate's parts."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts or ():
        if "text" in part:
            (thoughts if part.get("thought") else texts).append(part["text"] or "")
        elif "functionCall" in part:
            call = part["functionCall"] or {}
            signature = part.get("thoughtSignature")
            ident = new_id("call_") + (SIGNATURE_SEP + signature if signature else "")
            calls.append({"id": ident, "type": "function", "function": {
                "name": call.get("name"), "arguments": json.dumps(call.get("args") or {})}})
    return texts, thoughts, calls


def parse_response(body: bytes, headers: Mapping[str, str], deployment: Deployment) -> ModelResponse:
    """A generateContent answer as a ModelResponse (one choice per candidate)."""
    data = load_json(body, provider=deployment.provider, model=deployment.model, headers=headers)
    candidates = data.get("candidates")
    if not candidates:
        raise _no_candidates(data, body, deployment, headers)
    choices = [_choice(candidate, position) for position, candidate in enumerate(candidates)]
    usage = data.get("usageMetadata")
    return validated(ModelResponse, {
        "id": data.get("responseId") or new_id("chatcmpl-"),
        "created": int(time.time()),
        "model": data.get("modelVersion") or deployment.model,
        "choices": choices,
        "usage": normalise_usage(usage) if isinstance(usage, Mapping) else None,
    }, provider=deployment.provider, model=deployment.model)


def _choice(candidate: Mapping[str, Any], position: int) -> dict[str, Any]:
    texts, thoughts, calls = read_parts((candidate.get("content") or {}).get("parts"))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    finish = finish_reason(candidate.get("finishReason") or "STOP", bool(calls))
    return {"index": candidate.get("index", position), "message": message, "finish_reason": finish}


def _no_candidates(data: Mapping[str, Any], body: bytes, deployment: Deployment,
                   headers: Mapping[str, str] | None) -> APIError:
    """A blocked prompt (ContentPolicyViolationError), or an unusable answer."""
    reason = (data.get("promptFeedback") or {}).get("blockReason")
    if reason:
        return ContentPolicyViolationError(f"gemini blocked the prompt: {reason}", provider=deployment.provider,
                                           model=deployment.model, code=str(reason).lower(), body=data)
    return unreadable_body("a Gemini answer without candidates", body, provider=deployment.provider,
                           model=deployment.model, headers=headers)


def normalise_usage(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """usageMetadata in routerlib's canonical (OpenAI) meaning; see the module docstring.

    None (with a ``UsageWarning``) when a count is not an integer: the engine then counts locally.
    """
    given = meta.get("promptTokenCount") or 0
    tools = meta.get("toolUsePromptTokenCount") or 0
    thoughts = meta.get("thoughtsTokenCount") or 0
    candidates = meta.get("candidatesTokenCount") or 0
    cached = meta.get("cachedContentTokenCount") or 0
    if not (given.__class__ is int and tools.__class__ is int and thoughts.__class__ is int
            and candidates.__class__ is int and cached.__class__ is int):  # the common case costs no call
        given, tools, thoughts, candidates, cached = (count(v) for v in (given, tools, thoughts, candidates, cached))
        if given is None or tools is None or thoughts is None or candidates is None or cached is None:
            warn_implausible("counts that are not integers")
            return None
    prompt, completion = given + tools, candidates + thoughts
    prompt_details: dict[str, Any] = {"cached_tokens": cached}
    details = meta.get("promptTokensDetails")
    for detail in details if isinstance(details, list) else ():
        if isinstance(detail, Mapping) and detail.get("modality") == "AUDIO":
            prompt_details["audio_tokens"] = detail.get("tokenCount") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {"reasoning_tokens": thoughts}}


def parse_error(status: int, headers: Mapping[str, str], body: bytes, deployment: Deployment) -> APIError:
    """The typed error for a non-2xx answer (or an error event), with Gemini's two quirks."""
    error = build_error(status, headers, body, provider=deployment.provider, model=deployment.model)
    parsed = error.body
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    inner = parsed.get("error") if isinstance(parsed, Mapping) else None
    details = inner.get("details") if isinstance(inner, Mapping) else None
    if not isinstance(details, list):
        return error
    reasons = {d.get("reason") for d in details if isinstance(d, Mapping)}
    if status == 400 and "API_KEY_INVALID" in reasons:
        return AuthenticationError(error.message, status_code=status, provider=error.provider,
                                   model=error.model, code="API_KEY_INVALID", request_id=error.request_id,
                                   body=parsed)
    if error.retry_after is None:
        error.retry_after = _retry_delay(details)
    return error


def _retry_delay(details: list[Any]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail (``"retryDelay": "34s"``), if there is one."""
    for detail in details:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return parse_retry_after({"retry-after": str(detail.get("retryDelay", "")).rstrip("s")})
    return None


class GeminiStreamParser:
    """streamGenerateContent SSE events -> OpenAI chunks; see the module docstring."""

    def __init__(self, deployment: Deployment, *, candidates: int = 1) -> None:
        self.done = False
        self._deployment = deployment
        self._expected = candidates
        self._chunks = ChunkFactory(new_id("chatcmpl-"), deployment.model, int(time.time()), deployment.provider)
        self._named = False
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._calls: dict[int, int] = {}
        self._usage: dict[str, Any] | None = None

    def feed(self, event: str | None, data: bytes) -> list[ChatCompletionChunk]:
        deployment = self._deployment
        payload = load_json(data, provider=deployment.provider, model=deployment.model, what="a stream event")
        if "error" in payload:
            code = (payload["error"] or {}).get("code") if isinstance(payload["error"], Mapping) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise parse_error(status, {}, data, deployment)
        if not self._named:
            self._named = True
            self._chunks.id = payload.get("responseId") or self._chunks.id
            self._chunks.model = payload.get("modelVersion") or self._chunks.model
        meta = payload.get("usageMetadata")
        if isinstance(meta, Mapping):
            self._usage = normalise_usage(meta)
        return self._chunks_for(payload, data, meta is not None)

    def _chunks_for(self, payload: Mapping[str, Any], raw: bytes, has_usage: bool) -> list[ChatCompletionChunk]:
        candidates = payload.get("candidates")
        if not candidates and not self._seen:
            reason = (payload.get("promptFeedback") or {}).get("blockReason")
            if reason:
                raise _no_candidates(payload, raw, self._deployment, None)
        was_done = self.done
        choices = [c for c in (self._delta(c, p) for p, c in enumerate(candidates or ())) if c is not None]
        out = [self._chunks.choices(choices)] if choices else []
        if not was_done and len(self._finished) >= self._expected:
            self.done = True
        if self.done and self._usage is not None and (not was_done or has_usage):
            out.append(self._chunks.usage(self._usage))
        return out

    def _delta(self, candidate: Mapping[str, Any], position: int) -> dict[str, Any] | None:
        index = candidate.get("index", position)
        delta: dict[str, Any] = {}
        if index not in self._seen:
            self._seen.add(index)
            delta["role"] = "assistant"
        texts, thoughts, calls = read_parts((candidate.get("content") or {}).get("parts"))
        if texts:
            delta["content"] = "".join(texts)
        if thoughts:
            delta["reasoning_content"] = "".join(thoughts)
        if calls:
            start = self._calls.get(index, 0)
            delta["tool_calls"] = [{**call, "index": start + i} for i, call in enumerate(calls)]
            self._calls[index] = start + len(calls)
        reason = candidate.get("finishReason")
        finish = finish_reason(reason, self._calls.get(index, 0) > 0) if reason else None
        if finish is not None:
            self._finished.add(index)
        if not delta and finish is None:
            return None
        return {"index": index, "delta": delta, "finish_reason": finish}


def parse_embeddings(body: bytes, headers: Mapping[str, str], request: EmbeddingRequest,
                     deployment: Deployment) -> EmbeddingResponse:
    """An embedContent or batchEmbedContents answer as OpenAI's embedding list (module docstring)."""
    provider, model = deployment.provider, deployment.model
    data = load_json(body, provider=provider, model=model, headers=headers)
    items = [data["embedding"]] if "embedding" in data else data.get("embeddings")
    if not isinstance(items, list):
        raise unreadable_body("the provider's answer has no embeddings", body, provider=provider, model=model,
                              headers=headers)
    out = []
    for i, item in enumerate(items):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise unreadable_body(f"embedding {i} of the provider's answer has no values", body,
                                  provider=provider, model=model, headers=headers)
        out.append({"object": "embedding", "index": i, "embedding": values})
    answer: dict[str, Any] = {"object": "list", "data": out, "model": model.removeprefix("models/")}
    meta = data.get("usageMetadata")
    prompt = meta.get("promptTokenCount") if isinstance(meta, dict) else None
    if isinstance(prompt, int) and not isinstance(prompt, bool):
        answer["usage"] = {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt}
    response = validated(EmbeddingResponse, answer, provider=provider, model=model)
    return in_input_order(response, request, deployment, body, headers)
