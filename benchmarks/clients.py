"""Client registry: one small factory per (mode, client), adapted from the shared perf harness.

Every factory receives ``root``, the floor server's root URL (``http://127.0.0.1:<port>``,
or ``http://127.0.0.1:<port>/chunks/<n>`` for streams), and returns a zero-argument callable
that performs ONE request and returns something cheap: the reply text, or the number of
content chunks for streams.

  SYNC[name](root)           -> call() -> str
  ASYNC[name](root)          -> coroutine returning `async call() -> str` (built inside the loop)
  STREAM[name](root)         -> call() -> int  (content chunks received)

Names carry their role: floors ("stdlib http.client", "httpx", "aiohttp raw", "httpx raw SSE ..."),
routerlib ("routerlib ..."), and LiteLLM for reference ("litellm ..."). The orchestrator sets
LITELLM_LOCAL_MODEL_COST_MAP only for workers whose client name starts with "litellm".
"""
from __future__ import annotations

import json
from importlib import import_module

SYNC: dict = {}
ASYNC: dict = {}
STREAM: dict = {}
#: Sync clients measured only paired against a base (never in the sync rounds): observers' overhead.
PAIR_ONLY: dict = {}
MODEL = "gpt-4o-mini"                 # what raw clients send
ROUTED_MODEL = "openai/gpt-4o-mini"   # provider-prefixed form for router libraries
FALLBACKS = ["openai/gpt-4o", "openai/gpt-4.1-mini"]  # two fallbacks, never used (nothing fails)
# Adapter models: priced in routerlib's model map, so the adapter call prices its answer exactly as the
# OpenAI call does (an unpriced model takes the CostUnknownWarning path instead).
ANTHROPIC_MODEL = "anthropic/claude-sonnet-4-5"
GEMINI_MODEL = "gemini/gemini-2.5-flash"
# The probe that decides whether an adapter exists uses the model named in the benchmark brief.
PROBE_MODELS = {"anthropic": "anthropic/claude-3-5-sonnet-20241022", "gemini": "gemini/gemini-2.0-flash"}
KEY = "x"
MESSAGES = [{"role": "user", "content": "Say hello."}]
STREAM_OPTS = {"include_usage": True}


def _reg(table, name):
    def deco(fn):
        table[name] = fn
        return fn
    return deco


def sync(name): return _reg(SYNC, name)
def async_(name): return _reg(ASYNC, name)
def stream(name): return _reg(STREAM, name)
def pair_only(name): return _reg(PAIR_ONLY, name)


def stream_root(root: str, n: int) -> str:
    """Root URL that makes the floor server stream n content chunks (any provider format)."""
    return f"{root}/chunks/{n}"


def _hostport_path(url):
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path


# ============================================================================ sync (non-streaming)
@sync("stdlib http.client")
def _(root):
    import http.client
    host, port, path = _hostport_path(root + "/v1/chat/completions")
    conn = http.client.HTTPConnection(host, port)
    hdrs = {"Content-Type": "application/json", "Authorization": "Bearer " + KEY}

    def call():
        conn.request("POST", path, json.dumps({"model": MODEL, "messages": MESSAGES}), hdrs)
        return json.loads(conn.getresponse().read())["choices"][0]["message"]["content"]
    return call


@sync("httpx")
def _(root):
    import httpx
    c = httpx.Client(headers={"Authorization": "Bearer " + KEY})
    url = root + "/v1/chat/completions"
    return lambda: c.post(url, json={"model": MODEL, "messages": MESSAGES}).json()["choices"][0]["message"]["content"]


# routerlib and LiteLLM make the same calls to the OpenAI-compatible route: one factory per mode, named by
# library. Each returns the very call a hand-written factory would (no per-call indirection is measured).
def _sync_openai(lib_name, retries_and_fallbacks=False):
    def factory(root):
        lib = import_module(lib_name)
        base = root + "/v1"
        if retries_and_fallbacks:
            return lambda: lib.completion(model=ROUTED_MODEL, api_base=base, api_key=KEY, messages=MESSAGES,
                                          num_retries=2, fallbacks=FALLBACKS).choices[0].message.content
        return lambda: lib.completion(model=ROUTED_MODEL, api_base=base, api_key=KEY,
                                      messages=MESSAGES).choices[0].message.content
    return factory


def _async_openai(lib_name):
    async def factory(root):
        lib = import_module(lib_name)
        base = root + "/v1"

        async def call():
            r = await lib.acompletion(model=ROUTED_MODEL, api_base=base, api_key=KEY, messages=MESSAGES)
            return r.choices[0].message.content
        return call
    return factory


def _stream_openai(lib_name):
    def factory(root):
        lib = import_module(lib_name)
        base = root + "/v1"
        return lambda: _count(lib.completion(model=ROUTED_MODEL, api_base=base, api_key=KEY, messages=MESSAGES,
                                             stream=True, stream_options=STREAM_OPTS))
    return factory


sync("routerlib")(_sync_openai("routerlib"))
sync("routerlib retries+fallbacks")(_sync_openai("routerlib", retries_and_fallbacks=True))


@sync("routerlib mock_response")
def _(root):  # in-process cost of a call with no network at all
    import routerlib
    return lambda: routerlib.completion(model=ROUTED_MODEL, messages=MESSAGES,
                                        mock_response="Hello from the floor server.").choices[0].message.content


@sync("routerlib anthropic")
def _(root):
    import routerlib
    return lambda: routerlib.completion(ANTHROPIC_MODEL, MESSAGES, api_base=root, api_key=KEY,
                                        max_tokens=64).choices[0].message.content


@sync("routerlib gemini")
def _(root):
    import routerlib
    return lambda: routerlib.completion(GEMINI_MODEL, MESSAGES, api_base=root, api_key=KEY
                                        ).choices[0].message.content


def _distinct(cache):
    """A client of its own whose every call asks something new (a counter in the message), so that with
    a cache each call is a miss: looked up, sent, stored. Without a cache it is the same call (the
    paired reference for what a miss adds)."""
    def factory(root):
        import itertools

        import routerlib
        from routerlib.cache import MemoryCache
        client = routerlib.Client(cache=MemoryCache(max_entries=1000) if cache else None)
        base = root + "/v1"
        counter = itertools.count()

        def call():
            messages = [{"role": "user", "content": f"Say hello. {next(counter)}"}]
            return client.completion(ROUTED_MODEL, messages, api_base=base, api_key=KEY).choices[0].message.content
        return call
    return factory


pair_only("routerlib distinct")(_distinct(cache=False))
pair_only("routerlib cache miss")(_distinct(cache=True))


# ---------------------------------------------------------------------------- observers (paired only)
# The same call on a Client without observers, and with routerlib.otel.OpenTelemetryObserver on the
# API's no-op providers, on an SDK that samples nothing, and on an SDK that records everything (spans
# to a batch processor with a null exporter, metrics to an in-memory reader).
def _client_call(root, observers=()):
    import routerlib
    c = routerlib.Client(observers=list(observers))
    base = root + "/v1"
    return lambda: c.completion(ROUTED_MODEL, MESSAGES, api_base=base, api_key=KEY).choices[0].message.content


@pair_only("routerlib Client")
def _(root):
    return _client_call(root)


@pair_only("routerlib otel no-op")
def _(root):
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    from routerlib.otel import OpenTelemetryObserver
    return _client_call(root, [OpenTelemetryObserver(NoOpTracerProvider(), NoOpMeterProvider())])


@pair_only("routerlib otel sdk disabled")
def _(root):  # the SDK's no-op tracer and meter: what OTEL_SDK_DISABLED=true gives
    import os

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from routerlib.otel import OpenTelemetryObserver
    os.environ["OTEL_SDK_DISABLED"] = "true"
    try:
        observer = OpenTelemetryObserver(TracerProvider(), MeterProvider())
    finally:
        del os.environ["OTEL_SDK_DISABLED"]
    return _client_call(root, [observer])


@pair_only("routerlib otel sdk sampled-out")
def _(root):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from routerlib.otel import OpenTelemetryObserver
    return _client_call(root, [OpenTelemetryObserver(TracerProvider(sampler=ALWAYS_OFF), MeterProvider())])


@pair_only("routerlib otel sdk recording")
def _(root):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from routerlib.otel import OpenTelemetryObserver

    class Null(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Null()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return _client_call(root, [OpenTelemetryObserver(tracer_provider, meter_provider)])


sync("litellm")(_sync_openai("litellm"))
sync("litellm retries+fallbacks")(_sync_openai("litellm", retries_and_fallbacks=True))


# ============================================================================ async
@async_("aiohttp raw")
async def _(root):
    import aiohttp
    s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000),
                              headers={"Authorization": "Bearer " + KEY})
    url = root + "/v1/chat/completions"

    async def call():
        async with s.post(url, json={"model": MODEL, "messages": MESSAGES}) as r:
            return (await r.json())["choices"][0]["message"]["content"]
    return call


async_("routerlib")(_async_openai("routerlib"))


def _redis_server():
    """A private redis-server for this worker process (stopped when it exits), or None without one."""
    import atexit
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(proc.kill)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@async_("routerlib redis budget")
async def _(root):  # the same call under a global budget whose ledger is a real Redis (reserve + settle)
    import routerlib
    from routerlib.spend import Budget, RedisLedger

    url = _redis_server()
    if url is None:
        raise RuntimeError("redis-server is not installed")
    client = routerlib.Client(ledger=RedisLedger(url), budgets=[Budget("1000000", scope="global")])
    base = root + "/v1"

    async def call():
        r = await client.acompletion(ROUTED_MODEL, MESSAGES, api_base=base, api_key=KEY, max_tokens=50)
        return r.choices[0].message.content
    return call
async_("litellm")(_async_openai("litellm"))


# ============================================================================ streaming (sync iteration)
# The raw floors read the body to its end (no break at the end marker), so the connection goes
# back to httpx's pool; they parse each event with json.loads, as the least a client can do.
@stream("httpx raw SSE")
def _(root):
    import httpx
    c = httpx.Client(headers={"Authorization": "Bearer " + KEY})
    url = root + "/v1/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, "stream_options": STREAM_OPTS}

    def call():
        n = 0
        with c.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    ch = json.loads(line[6:])["choices"]
                    if ch and ch[0]["delta"].get("content"):
                        n += 1
        return n
    return call


@stream("httpx raw SSE anthropic")
def _(root):
    import httpx
    c = httpx.Client(headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    url = root + "/v1/messages"
    body = {"model": ANTHROPIC_MODEL.split("/", 1)[1], "messages": MESSAGES, "max_tokens": 64, "stream": True}

    def call():
        n = 0
        with c.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    ev = json.loads(line[6:])
                    if ev["type"] == "content_block_delta" and ev["delta"].get("text"):
                        n += 1
        return n
    return call


@stream("httpx raw SSE gemini")
def _(root):
    import httpx
    c = httpx.Client(headers={"x-goog-api-key": KEY})
    url = root + f"/v1beta/models/{GEMINI_MODEL.split('/', 1)[1]}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": MESSAGES[0]["content"]}]}]}

    def call():
        n = 0
        with c.stream("POST", url, json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    cands = json.loads(line[6:]).get("candidates")
                    if cands and cands[0]["content"]["parts"][0].get("text"):
                        n += 1
        return n
    return call


def _count(s):
    return sum(1 for ch in s if ch.choices and ch.choices[0].delta.content)


stream("routerlib")(_stream_openai("routerlib"))


@stream("routerlib anthropic")
def _(root):
    import routerlib
    return lambda: _count(routerlib.completion(ANTHROPIC_MODEL, MESSAGES, api_base=root, api_key=KEY,
                                               max_tokens=64, stream=True, stream_options=STREAM_OPTS))


@stream("routerlib gemini")
def _(root):
    import routerlib
    return lambda: _count(routerlib.completion(GEMINI_MODEL, MESSAGES, api_base=root, api_key=KEY,
                                               stream=True, stream_options=STREAM_OPTS))


stream("litellm")(_stream_openai("litellm"))


# ---------------------------------------------------------------------------- routerlib.Router
# A group of two deployments on the floor server (distinct paths, one connection pool): the same call as
# "routerlib Client", routed. Paired with it (sync) and beside "routerlib" (async); benchmarks/router_bench.py
# measures picking, Redis-shared state and the chaos run.
def router_model_list(root, n=2):
    return [{"model_name": "chat", "litellm_params": {"model": ROUTED_MODEL, "api_base": f"{root}/d{i}/v1",
                                                      "api_key": KEY}, "model_info": {"id": f"d{i}"}}
            for i in range(n)]


@pair_only("routerlib Router")
def _(root):
    import routerlib
    r = routerlib.Router(router_model_list(root))
    return lambda: r.completion("chat", MESSAGES).choices[0].message.content


@async_("routerlib Router")
async def _(root):
    import routerlib
    r = routerlib.Router(router_model_list(root))

    async def call():
        return (await r.acompletion("chat", MESSAGES)).choices[0].message.content
    return call


#: Clients that go through a routerlib adapter that may not exist yet: name -> provider.
ADAPTER_CLIENTS = {"routerlib anthropic": "anthropic", "routerlib gemini": "gemini"}


def adapter_of(name: str) -> str | None:
    for key, provider in ADAPTER_CLIENTS.items():
        if name == key:
            return provider
    return None
