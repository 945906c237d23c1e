"""In-process and process-level micro figures; each subcommand prints one JSON object.

  python micro.py calibration            sum(range(1000)) in µs (best of 5), to compare machines
  python micro.py import MODULE          spawns ONE fresh interpreter that imports MODULE:
                                         in-process import ms, process wall ms, peak RSS, modules loaded
  python micro.py netcheck               a fresh interpreter imports routerlib under an audit hook that
                                         records network events (socket.connect, getaddrinfo, ...)
  python micro.py cost-routerlib         routerlib.cost.compute_cost per call (+ model map load)
  python micro.py cost-litellm           litellm.completion_cost(completion_response=r) per call (+ dict floor)
  python micro.py ledger                 routerlib.spend.SQLiteLedger.record per call (MemoryLedger beside it)
  python micro.py cache                  a whole completion() answered from the cache: MemoryCache, SQLiteCache,
                                         RedisCache (own redis-server, if installed), beside one raw Redis round
                                         trip and the Redis commands one hit sends

run.py calls these in fresh processes (LITELLM_LOCAL_MODEL_COST_MAP is set only for cost-litellm and for
`import litellm`). Adapted from the shared perf harness (micro.py there).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Runs in a bare interpreter: only sys/time/resource are loaded before the timed import.
IMPORT_PROBE = """import sys, time, resource
n0 = len(sys.modules); t = time.perf_counter()
if sys.argv[1] != "(bare interpreter)":
    __import__(sys.argv[1])
dt = time.perf_counter() - t
import json
print(json.dumps({"import_ms": dt * 1e3, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules": len(sys.modules) - n0}))"""

# The audit hook is installed before anything of routerlib's is imported; it records every
# event that reaches the network (or resolves a name), and socket creation for context.
NET_PROBE = """import sys
events = []
NET = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
       "socket.gethostbyaddr", "socket.getnameinfo", "socket.sendto", "socket.sendmsg", "socket.bind",
       "http.client.connect", "http.client.send", "urllib.Request", "socket.__new__", "subprocess.Popen",
       "os.system")
def hook(name, args):
    if name in NET:
        events.append((name, repr(args)[:120]))
sys.addaudithook(hook)
phase = {}
import routerlib
phase["import routerlib"] = list(events); events.clear()
routerlib.default_client()
from routerlib.cost import ModelMap
ModelMap.default().get("gpt-4o-mini")
r = routerlib.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], mock_response="ok")
phase["default_client() + ModelMap.default() + a mock_response call"] = list(events); events.clear()
import socket  # positive control: proves the hook sees a name lookup (loopback only, no traffic)
socket.getaddrinfo("127.0.0.1", 9)
phase["control: socket.getaddrinfo('127.0.0.1', 9)"] = list(events); events.clear()
import json
print(json.dumps(phase))"""


def batch_times(fn, batch, batches):
    """Mean per-call time of each batch, in microseconds."""
    fn()
    out = []
    for _ in range(batches):
        t = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        out.append((time.perf_counter_ns() - t) / 1e3 / batch)
    return out


def per_call_us(fn, batch, batches):
    """Median over batches of the mean per-call time, in microseconds."""
    return statistics.median(batch_times(fn, batch, batches))


def timed(res, key, fn, batch, batches):
    """res[key] = median over batches; res[key_best] = best batch (timeit's view: least disturbed)."""
    xs = batch_times(fn, batch, batches)
    res[key] = statistics.median(xs)
    res[key.replace("_us", "_best_us")] = min(xs)


def calibration():
    import timeit
    return {"calibration_sum_range_1000_us": min(timeit.repeat("sum(range(1000))", number=10000, repeat=5))
            / 10000 * 1e6}


def import_one(module):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    if module == "litellm":
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE, module], capture_output=True, text=True,
                         check=True, env=env, cwd="/").stdout
    return {**json.loads(out.strip().splitlines()[-1]), "process_ms": (time.perf_counter() - t) * 1e3}


def netcheck():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-c", NET_PROBE], capture_output=True, text=True, env=env, cwd="/")
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or [f"rc={r.returncode}"])[-1]}
    phases = json.loads(r.stdout.strip().splitlines()[-1])
    net = {k: [e for e in v if e[0] not in ("socket.__new__", "subprocess.Popen", "os.system")]
           for k, v in phases.items()}
    control = next(k for k in net if k.startswith("control"))
    return {"phases": phases, "network_events": net, "hook_works": bool(net.pop(control)),
            "import_network_events": len(net["import routerlib"]),
            "import_sockets_created": sum(1 for e in phases["import routerlib"] if e[0] == "socket.__new__")}


def cost_routerlib():
    from decimal import Decimal

    from routerlib.cost import ModelMap, compute_cost
    from routerlib.types import Usage
    t = time.perf_counter_ns()
    mm = ModelMap.default()
    info = mm.get("gpt-4o-mini")
    load_ms = (time.perf_counter_ns() - t) / 1e6
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    t = time.perf_counter_ns()
    cost = compute_cost(usage, info)
    first_us = (time.perf_counter_ns() - t) / 1e3
    expected = Decimal(10) * info.input_cost_per_token + Decimal(5) * info.output_cost_per_token
    assert cost.total == expected, (cost.total, expected)
    cached = Usage.model_validate({"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
                                   "prompt_tokens_details": {"cached_tokens": 400},
                                   "completion_tokens_details": {"reasoning_tokens": 50}})
    res = {"model_map_load_ms": load_ms, "compute_cost_first_call_us": first_us, "cost_usd": str(cost.total)}
    timed(res, "compute_cost_us", lambda: compute_cost(usage, info), 2000, 25)
    res["compute_cost_cached_reasoning_us"] = per_call_us(lambda: compute_cost(cached, info), 2000, 15)
    res["compute_cost_with_lookup_us"] = per_call_us(lambda: compute_cost(usage, mm.get("gpt-4o-mini")), 2000, 15)
    res["model_map_get_us"] = per_call_us(lambda: mm.get("gpt-4o-mini"), 2000, 15)
    return res


def cost_litellm():
    import litellm
    resp = litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                              mock_response="Hello from the floor server.")
    t = time.perf_counter_ns()
    cost = litellm.completion_cost(completion_response=resp)
    first_us = (time.perf_counter_ns() - t) / 1e3
    price = litellm.model_cost

    def floor():
        p, u = price[resp.model], resp.usage
        return u.prompt_tokens * p["input_cost_per_token"] + u.completion_tokens * p["output_cost_per_token"]
    res = {"completion_cost_first_call_us": first_us, "completion_cost_usd": cost}
    timed(res, "completion_cost_us", lambda: litellm.completion_cost(completion_response=resp), 200, 15)
    res["dict_lookup_cost_us"] = per_call_us(floor, 2000, 15)
    return res


def ledger():
    import tempfile
    try:
        from routerlib.spend import MemoryLedger, SpendRecord, SQLiteLedger
    except Exception as exc:  # being finished by another engineer
        return {"skipped": f"routerlib.spend.SQLiteLedger not importable: {type(exc).__name__}: {exc}"}
    from decimal import Decimal
    batch, batches = 200, 15
    total = batch * (batches + 1) + 1

    def records(prefix):
        ts = time.time()
        return iter([SpendRecord(call_id=f"{prefix}-{i}", timestamp=ts + i * 1e-3, model="gpt-4o-mini",
                                 provider="openai", user="alice", team="core", tags=("bench",),
                                 prompt_tokens=10, completion_tokens=5, cost=Decimal("0.0000045"),
                                 cost_breakdown={"input": "0.0000015", "output": "0.000003"}, latency=0.4)
                     for i in range(total)])
    t = time.perf_counter_ns()
    recs = list(records("build"))
    build_us = (time.perf_counter_ns() - t) / 1e3 / total
    out = {"spend_record_build_us": build_us}
    with tempfile.TemporaryDirectory() as d:
        try:
            led = SQLiteLedger(os.path.join(d, "spend.db"))
            it = records("sqlite")
            timed(out, "sqlite_record_us", lambda: led.record(next(it)), batch, batches)
            it2 = iter(recs)
            out["sqlite_record_us_fsync_full"] = None
            led_full = SQLiteLedger(os.path.join(d, "spend_full.db"), synchronous="FULL")
            out["sqlite_record_us_fsync_full"] = per_call_us(lambda: led_full.record(next(it2)), 50, 5)
        except Exception as exc:
            return {"skipped": f"SQLiteLedger.record failed: {type(exc).__name__}: {exc}"}
    mem = MemoryLedger()
    it3 = records("mem")
    out["memory_record_us"] = per_call_us(lambda: mem.record(next(it3)), batch, batches)
    return out


def cache():
    """A whole ``completion()`` answered from each cache, and what a Redis hit costs on the wire.

    The cache is filled by one call through an in-memory transport (the floor server is not
    needed: a hit sends nothing), so what is timed is all a hit does: validation, planning,
    the key, the lookup, decoding a fresh response, recording the attempt.
    """
    import tempfile

    import routerlib
    from routerlib.cache import MemoryCache, SQLiteCache
    from routerlib.transport import HTTPResponse, MockTransport
    body = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "Hello from the cache."}}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}}).encode()
    transport = MockTransport(lambda request: HTTPResponse(200, {"content-type": "application/json"}, body))
    messages = [{"role": "user", "content": "Say hello."}]
    params = {"api_base": "http://127.0.0.1:9/v1", "api_key": "x"}

    def hit_call(backend):
        client = routerlib.Client(cache=backend, transport=transport)
        first = client.completion("openai/gpt-4o-mini", messages, **params)
        call = lambda: client.completion("openai/gpt-4o-mini", messages, **params)  # noqa: E731
        assert not first.cache_hit and call().cache_hit
        return call

    plain = routerlib.Client(transport=transport)
    out = {}
    timed(out, "memory_hit_us", hit_call(MemoryCache()), 2000, 15)
    out["in_memory_transport_call_no_cache_us"] = per_call_us(
        lambda: plain.completion("openai/gpt-4o-mini", messages, **params), 2000, 15)
    with tempfile.TemporaryDirectory() as d:
        timed(out, "sqlite_hit_us", hit_call(SQLiteCache(os.path.join(d, "cache.db"))), 500, 15)
    out.update(_redis_hit(hit_call))
    return out


def _redis_hit(hit_call):
    """RedisCache hit beside a raw redis-py round trip, and the round trips one hit makes (commands
    written to the socket, counted on the client's connections)."""
    import shutil
    import socket
    if shutil.which("redis-server") is None:
        return {"redis_skipped": "redis-server not on PATH"}
    import redis
    import redis.connection

    from routerlib.cache import RedisCache
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        raw = redis.Redis(port=port)
        for _ in range(200):
            try:
                raw.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        out = {}
        call = hit_call(RedisCache(f"redis://127.0.0.1:{port}/0"))
        raw.set("bench:probe", b"x" * 700)
        timed(out, "redis_roundtrip_us", lambda: raw.get("bench:probe"), 500, 15)
        timed(out, "redis_hit_us", call, 500, 15)
        sends = 0
        real = redis.connection.AbstractConnection.send_packed_command

        def counting(self, *args, **kwargs):
            nonlocal sends
            sends += 1
            return real(self, *args, **kwargs)
        redis.connection.AbstractConnection.send_packed_command = counting
        try:
            for _ in range(100):
                call()
        finally:
            redis.connection.AbstractConnection.send_packed_command = real
        out["redis_roundtrips_per_hit"] = sends / 100
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    sys.path.insert(0, REPO)
    if cmd == "calibration":
        res = calibration()
    elif cmd == "import":
        res = import_one(sys.argv[2])
    elif cmd == "netcheck":
        res = netcheck()
    elif cmd == "cost-routerlib":
        res = cost_routerlib()
    elif cmd == "cost-litellm":
        res = cost_litellm()
    elif cmd == "ledger":
        res = ledger()
    elif cmd == "cache":
        res = cache()
    else:
        sys.exit(__doc__)
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
