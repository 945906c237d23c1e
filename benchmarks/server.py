"""Floor server: a minimal, instant HTTP/1.1 LLM server (stdlib only), adapted from the
shared perf harness and extended with the Anthropic and Gemini wire formats.

Routes (POST, JSON body), matched on the end of the path so any prefix works:
  .../chat/completions                        OpenAI chat; SSE when "stream": true
  .../completions                             OpenAI legacy text completion; SSE when "stream": true
  .../messages                                Anthropic Messages; event stream when "stream": true
  .../models/<m>:generateContent              Gemini, JSON
  .../models/<m>:streamGenerateContent        Gemini stream: SSE with ?alt=sse, else a JSON array

Knobs, usable from any client because they live in the URL:
  chunks   number of content chunks to stream (default 5):
           path segment ".../chunks/200/v1/..." or query "?chunks=200"
  fail     answer with that HTTP status and an error body shaped like the route's provider:
           path segment ".../fail/429/v1/..."
OpenAI: stream_options.include_usage is honoured (a final chunk with choices=[] and usage).

GET /stats returns {"connections": opened so far, "open": open now, "requests": served so far,
"routes": requests per route, "cpu_s": server process CPU seconds so far}.

Run:  python server.py [--port 0]   -> prints "PORT <n>" on stdout once listening.
Responses are pre-serialised and cached per (route, model, stream, chunks, usage) so that the
server costs as little as possible: it is the floor for every client.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

CREATED = 1700000000
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
REPLY = "Hello from the floor server."
DEFAULT_CHUNKS = 5
STATS = {"connections": 0, "open": 0, "requests": 0,
         "routes": {"openai": 0, "anthropic": 0, "gemini": 0, "other": 0}}
_cache: dict = {}


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _http(status, ctype, body, chunked=False):
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
    if chunked:  # body is already a sequence of HTTP chunks
        head += "Transfer-Encoding: chunked\r\n\r\n"
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _chunk(ev: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(ev), ev)


def _sse(obj, event=None, sep=b"\n\n"):
    """One SSE event, framed as one HTTP chunk."""
    ev = b"data: " + (obj if isinstance(obj, bytes) else _dumps(obj)) + sep
    if event:
        ev = b"event: " + event.encode() + sep[: len(sep) // 2] + ev
    return _chunk(ev)


# --------------------------------------------------------------------------- OpenAI
def _build_openai(chat, model, stream, n, usage):
    base = {"id": "chatcmpl-floor" if chat else "cmpl-floor", "created": CREATED, "model": model,
            "system_fingerprint": None}
    if not stream:
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": REPLY, "refusal": None},
                      "logprobs": None, "finish_reason": "stop"}
            body = {**base, "object": "chat.completion", "choices": [choice], "usage": USAGE}
        else:
            choice = {"index": 0, "text": REPLY, "logprobs": None, "finish_reason": "stop"}
            body = {**base, "object": "text_completion", "choices": [choice], "usage": USAGE}
        return _http(200, "application/json", _dumps(body))
    obj = "chat.completion.chunk" if chat else "text_completion"
    parts = []
    for i in range(n):
        if chat:
            # distinct tokens: litellm aborts streams that repeat one chunk (REPEATED_STREAMING_CHUNK_LIMIT)
            delta = {"role": "assistant", "content": f"t{i} "} if i == 0 else {"content": f"t{i} "}
            ch = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        else:
            ch = {"index": 0, "text": f"t{i} ", "logprobs": None, "finish_reason": None}
        parts.append(_sse({**base, "object": obj, "choices": [ch]}))
    last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"} if chat else \
        {"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}
    parts.append(_sse({**base, "object": obj, "choices": [last]}))
    if usage:
        u = dict(USAGE, completion_tokens=n, total_tokens=USAGE["prompt_tokens"] + n)
        parts.append(_sse({**base, "object": obj, "choices": [], "usage": u}))
    parts.append(_sse(b"[DONE]"))
    parts.append(b"0\r\n\r\n")
    return _http(200, "text/event-stream", b"".join(parts), chunked=True)


# --------------------------------------------------------------------------- Anthropic
def _build_anthropic(model, stream, n):
    if not stream:
        body = {"id": "msg_floor", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": REPLY}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0}}
        return _http(200, "application/json", _dumps(body))
    parts = [
        _sse({"type": "message_start", "message": {
            "id": "msg_floor", "type": "message", "role": "assistant", "content": [], "model": model,
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
             "content_block_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    for i in range(n):
        parts.append(_sse({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": f"t{i} "}}, "content_block_delta"))
    parts += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
              "usage": {"output_tokens": n}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
        b"0\r\n\r\n",
    ]
    return _http(200, "text/event-stream", b"".join(parts), chunked=True)


# --------------------------------------------------------------------------- Gemini
def _gemini_obj(model, text, final, n):
    cand = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if final:
        cand["finishReason"] = "STOP"
        usage = {"promptTokenCount": 10, "candidatesTokenCount": n, "totalTokenCount": 10 + n}
    else:
        usage = {"promptTokenCount": 10, "totalTokenCount": 10}
    return {"candidates": [cand], "usageMetadata": usage, "modelVersion": model, "responseId": "floor"}


def _build_gemini(model, stream, n, sse):
    if not stream:
        return _http(200, "application/json", _dumps(_gemini_obj(model, REPLY, True, 5)))
    objs = [_gemini_obj(model, f"t{i} ", i == n - 1, n) for i in range(n)]
    if not sse:  # streamGenerateContent without alt=sse: one JSON array, sent as one body
        return _http(200, "application/json", _dumps(objs))
    parts = [_sse(o, sep=b"\r\n\r\n") for o in objs]  # Gemini separates events with CRLF CRLF
    parts.append(b"0\r\n\r\n")
    return _http(200, "text/event-stream", b"".join(parts), chunked=True)


# --------------------------------------------------------------------------- errors and routing
def _error(status, kind="openai"):
    msg = f"injected failure {status}"
    if kind == "anthropic":
        body = {"type": "error", "error": {"type": "rate_limit_error" if status == 429 else "api_error",
                                           "message": msg}}
    elif kind == "gemini":
        body = {"error": {"code": status, "message": msg,
                          "status": "RESOURCE_EXHAUSTED" if status == 429 else "INTERNAL"}}
    else:
        body = {"error": {"message": msg, "type": "floor_error", "code": str(status)}}
    return _http(status, "application/json", _dumps(body))


def _route(path):
    last = path.rsplit("/", 1)[-1]
    if path.endswith("/chat/completions"):
        return "openai", True
    if path.endswith("/completions"):
        return "openai", False
    if path.endswith("/messages"):
        return "anthropic", None
    if ":generateContent" in last:
        return "gemini", False
    if ":streamGenerateContent" in last:
        return "gemini", True
    return "other", None


def respond(target, body):
    STATS["requests"] += 1
    if target == "/stats":
        return _http(200, "application/json", _dumps(dict(STATS, cpu_s=time.process_time())))
    path, _, query = target.partition("?")
    kind, flag = _route(path)
    STATS["routes"][kind] += 1
    segs = path.strip("/").split("/")
    n = DEFAULT_CHUNKS
    for i, s in enumerate(segs[:-1]):
        if s == "chunks":
            n = int(segs[i + 1])
        elif s == "fail":
            return _error(int(segs[i + 1]), kind)
    if "chunks=" in query:
        n = int(query.split("chunks=")[1].split("&")[0])
    if kind == "other":
        return _error(404)
    try:
        req = json.loads(body) if body else {}
    except ValueError:
        return _error(400, kind)
    if kind == "openai":
        stream = bool(req.get("stream"))
        usage = stream and bool((req.get("stream_options") or {}).get("include_usage"))
        key = (kind, flag, req.get("model", "floor-model"), stream, n if stream else 0, usage)
    elif kind == "anthropic":
        stream = bool(req.get("stream"))
        key = (kind, None, req.get("model", "claude-floor"), stream, n if stream else 0, False)
    else:
        model = segs[-1].split(":")[0]
        sse = "alt=sse" in query
        key = (kind, sse, model, flag, n if flag else 0, False)
    out = _cache.get(key)
    if out is None:
        if len(_cache) > 1000:
            _cache.clear()
        if kind == "openai":
            out = _build_openai(flag, key[2], key[3], n, key[5])
        elif kind == "anthropic":
            out = _build_anthropic(key[2], key[3], n)
        else:
            out = _build_gemini(key[2], flag, n, key[1])
        _cache[key] = out
    return out


class Conn(asyncio.Protocol):
    __slots__ = ("buf", "t")

    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        STATS["connections"] += 1
        STATS["open"] += 1

    def connection_lost(self, exc):
        STATS["open"] -= 1

    def data_received(self, data):
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            clen = 0
            lower = head.lower()
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                clen = int(head[i + 17:j if j > 0 else len(head)])
            if len(buf) < end + 4 + clen:
                break
            body = buf[end + 4:end + 4 + clen]
            target = head[:head.find(b"\r\n")].split(b" ")[1].decode()
            self.t.write(respond(target, body))
            buf = buf[end + 4 + clen:]
            if b"\r\nconnection: close" in lower:
                self.t.close()
                break
        self.buf = buf


async def main(port):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Conn, "127.0.0.1", port, backlog=4096, reuse_address=True)
    print("PORT", srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    try:
        asyncio.run(main(a.port))
    except KeyboardInterrupt:
        sys.exit(0)
