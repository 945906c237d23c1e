"""Router figures (issue 11); each subcommand prints one JSON object. run.py's "router" mode runs them.

  python router_bench.py pick                     µs per pick at 10, 100 and 1,000 deployments, per strategy
  python router_bench.py redis --root URL         paired: Client vs Router (in-memory) vs Router (Redis state);
                                                  Redis round trips per call (starts its own redis-server)
  python router_bench.py chaos [--lib L]          the chaos run: three deployments (healthy, failing 30%, ten
                                                  times slower), 2,000 calls at 50 concurrent, num_retries=2;
                                                  without --lib: both libraries, each in a fresh process
  python router_bench.py serve                    the chaos server alone (prints "PORT <n>")

A pick is measured as the core makes it: ``GroupTarget.pick`` on a call view whose prompt is already
counted (the core counts once per call and tokenizer), with the reservation it makes; the reservations
are given back outside the timed loop. Every deployment has prices; those of the usage-based group also
have rpm/tpm limits (what that strategy reads), which adds the limit checks to every pick. Nothing here
asserts: run.py judges the figures (targets.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
MESSAGES = [{"role": "user", "content": "Say hello."}]
STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing", "usage-based-routing")


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


# ---------------------------------------------------------------------------- picking
class View:
    """The core's CallView as a pick sees it, the prompt already counted."""

    def __init__(self, request, call_id):
        self.request, self.call_id, self.attempts, self.tried = request, call_id, (), frozenset()

    def prompt_tokens(self, deployment):
        return 12

    def output_tokens(self):
        return 256

    def seconds_left(self):
        return math.inf


def pick_figures(sizes=(10, 100, 1000), batch=200, batches=15):
    from routerlib import Router
    from routerlib._request import build_request
    from routerlib.routing.group import GroupTarget

    request = build_request({"model": "chat", "messages": MESSAGES, "max_tokens": 256})
    out = {}
    for n in sizes:
        for strategy in STRATEGIES:
            rng = random.Random(n)
            limits = {"rpm": 10**9, "tpm": 10**12} if strategy == "usage-based-routing" else {}  # what it reads
            model_list = [{"model_name": "chat", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": f"http://127.0.0.1:9/d{i}/v1", "api_key": "x",
                "input_cost_per_token": rng.uniform(1e-7, 1e-5), "output_cost_per_token": rng.uniform(1e-7, 1e-5),
                **limits}, "model_info": {"id": f"d{i}"}} for i in range(n)]
            router = Router(model_list, routing_strategy=strategy, environ={}, seed=1)
            group, store, plan = router._groups["chat"], router._store, router._plan
            views = [View(request, f"c{i}") for i in range(batch)]
            samples = []
            for _ in range(batches + 1):  # the first batch warms up
                targets = [GroupTarget(group, store, plan.rng) for _ in views]
                t = time.perf_counter_ns()
                for target, view in zip(targets, views, strict=True):
                    target.pick(view)
                samples.append((time.perf_counter_ns() - t) / 1e3 / batch)
                for view in views:
                    store.release(view.call_id)
            out[f"{strategy} @{n}"] = {"pick_us": statistics.median(samples[1:]), "best_us": min(samples[1:])}
    return out


# ---------------------------------------------------------------------------- Redis
def start_redis():
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(500):
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.02)
    proc.kill()
    return None, None


def redis_figures(root, n=1000, warmup=100):
    sys.path.insert(0, HERE)
    from clients import KEY, ROUTED_MODEL, router_model_list

    import routerlib
    proc, url = start_redis()
    if proc is None:
        return {"skipped": "redis-server not found on PATH"}
    try:
        client = routerlib.Client()
        memory = routerlib.Router(router_model_list(root))
        shared = routerlib.Router(router_model_list(root), redis_url=url)
        calls = {"Client": lambda: client.completion(ROUTED_MODEL, MESSAGES, api_base=root + "/v1", api_key=KEY),
                 "Router (in-memory)": lambda: memory.completion("chat", MESSAGES),
                 "Router (Redis)": lambda: shared.completion("chat", MESSAGES)}
        for fn in calls.values():
            for _ in range(warmup):
                fn()
        lat = {k: [] for k in calls}
        trips0 = shared._store.round_trips
        items = list(calls.items())
        for i in range(n):
            for name, fn in (items if i % 2 else items[::-1]):
                t = time.perf_counter_ns()
                fn()
                lat[name].append((time.perf_counter_ns() - t) / 1e3)
        med = {k: statistics.median(v) for k, v in lat.items()}
        return {"median_us": med, "p99_us": {k: pct(v, 0.99) for k, v in lat.items()},
                "memory_ratio": med["Router (in-memory)"] / med["Client"],
                "redis_ratio": med["Router (Redis)"] / med["Client"],
                "redis_round_trips_per_call": (shared._store.round_trips - trips0) / n}
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------- the chaos run
PROFILES = {"healthy": (0.010, 0.0), "flaky": (0.010, 0.3), "slow": (0.100, 0.0)}  # latency s, failure rate
CHAOS = {"calls": 2000, "concurrency": 50, "num_retries": 2, "timeout": 30}
COUNTS: dict = {}
BODY = json.dumps({"id": "chatcmpl-chaos", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": "Hello."}}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}).encode()
ERROR = json.dumps({"error": {"message": "injected failure", "type": "server_error", "code": None}}).encode()


def _reply(status, body):
    head = f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n" \
           f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class ChaosConn(asyncio.Protocol):
    """HTTP/1.1 keep-alive; the path's first segment names the profile: /healthy/v1/chat/completions."""

    rng = random.Random(7)

    def connection_made(self, transport):
        self.t, self.buf = transport, b""

    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end]
            i = head.lower().find(b"content-length:")
            clen = int(head[i + 15:].split(b"\r\n")[0]) if i >= 0 else 0
            if len(self.buf) < end + 4 + clen:
                return
            self.buf = self.buf[end + 4 + clen:]
            path = head.split(b" ")[1].decode()
            if path == "/stats":
                self.t.write(_reply(200, json.dumps(COUNTS).encode()))
                continue
            profile = path.strip("/").split("/")[0]
            latency, fail = PROFILES.get(profile, (0.0, 0.0))
            failed = self.rng.random() < fail
            key = f"{profile} {'500' if failed else '200'}"
            COUNTS[key] = COUNTS.get(key, 0) + 1
            reply = _reply(500, ERROR) if failed else _reply(200, BODY)
            asyncio.get_running_loop().call_later(latency, self._write, reply)

    def _write(self, reply):
        if not self.t.is_closing():
            self.t.write(reply)


async def serve():
    server = await asyncio.get_running_loop().create_server(ChaosConn, "127.0.0.1", 0, backlog=1024)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def chaos_model_list(root):
    return [{"model_name": "chat", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": f"{root}/{name}/v1",
                                                      "api_key": "sk-chaos"}, "model_info": {"id": name}}
            for name in PROFILES]


async def chaos_calls(call, calls, concurrency):
    gate = asyncio.Semaphore(concurrency)
    lat, ok = [], 0

    async def one():
        nonlocal ok
        async with gate:
            t = time.perf_counter()
            try:
                await call()
                ok += 1
            except Exception:
                pass
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return ok, lat, time.perf_counter() - t0


def chaos_one(lib, root, strategy):
    if lib == "routerlib":
        from routerlib import Router
        router = Router(chaos_model_list(root), num_retries=CHAOS["num_retries"], timeout=CHAOS["timeout"],
                        routing_strategy=strategy)

        async def call():
            return await router.acompletion("chat", MESSAGES)
    else:
        import litellm
        litellm.suppress_debug_info = True
        router = litellm.Router(model_list=chaos_model_list(root), num_retries=CHAOS["num_retries"],
                                timeout=CHAOS["timeout"], routing_strategy=strategy)

        async def call():
            return await router.acompletion(model="chat", messages=MESSAGES)
    before = _stats(root)
    ok, lat, wall = asyncio.run(chaos_calls(call, CHAOS["calls"], CHAOS["concurrency"]))
    after = _stats(root)
    upstream = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    sent = sum(upstream.values())
    per_deployment = {name: sum(v for k, v in upstream.items() if k.startswith(name)) for name in PROFILES}
    return {"success_rate": ok / CHAOS["calls"], "p50_ms": statistics.median(lat) * 1e3, "p99_ms": pct(lat, 0.99) * 1e3,
            "share": {k: v / sent for k, v in per_deployment.items()}, "upstream": upstream,
            "upstream_per_success": sent / ok if ok else None, "wall_s": wall}


def _stats(root):
    import urllib.request
    with urllib.request.urlopen(root + "/stats", timeout=10) as r:
        return json.loads(r.read())


def chaos_all(strategies=("simple-shuffle", "latency-based-routing")):
    server = subprocess.Popen([sys.executable, __file__, "serve"], stdout=subprocess.PIPE, text=True)
    try:
        root = f"http://127.0.0.1:{server.stdout.readline().split()[1]}"
        out = {"settings": {**CHAOS, "profiles": {k: {"latency_ms": v[0] * 1e3, "failure_rate": v[1]}
                                                  for k, v in PROFILES.items()}}}
        for strategy in strategies:
            for lib in ("routerlib", "litellm"):
                env = dict(os.environ, PYTHONPATH=REPO)
                env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
                if lib == "litellm":
                    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
                r = subprocess.run([sys.executable, __file__, "chaos", "--lib", lib, "--root", root,
                                    "--strategy", strategy], capture_output=True, text=True, env=env, timeout=900)
                lines = r.stdout.strip().splitlines()
                out[f"{lib} {strategy}"] = json.loads(lines[-1]) if r.returncode == 0 and lines else {
                    "error": (r.stderr.strip().splitlines() or [f"rc={r.returncode}"])[-1][:200]}
        return out
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pick", "redis", "chaos", "serve"])
    ap.add_argument("--root")
    ap.add_argument("--lib")
    ap.add_argument("--strategy", default="simple-shuffle")
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    if a.mode == "serve":
        asyncio.run(serve())
        return
    if a.mode == "pick":
        res = pick_figures()
    elif a.mode == "redis":
        res = redis_figures(a.root, n=a.n)
    elif a.lib:
        res = chaos_one(a.lib, a.root, a.strategy)
    else:
        res = chaos_all()
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
