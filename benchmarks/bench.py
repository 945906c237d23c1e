"""Worker: measure ONE client in ONE mode in this (fresh) process; print one JSON line.

  python bench.py sync   --client NAME --root URL [--n 500 --warmup 50]
  python bench.py async  --client NAME --root URL [--conc 200,1000 --batches 3]
  python bench.py stream --client NAME --root URL [--chunks 200 --n 30]
  python bench.py calls  --client NAME --root URL --table sync|stream [--n 200]   (cProfile call counts)
  python bench.py rss    --client NAME --root URL --table sync|async|stream [--n 5000 --warmup 1000]
  python bench.py probe  --client NAME --root URL --table sync|stream           (does the client work?)
  python bench.py pair   --client BASE --client2 OTHER --root URL [--n 500]     (interleaved, one process)
  python bench.py list

URL is the floor server's root (http://127.0.0.1:<port>). All times are in microseconds.
run.py drives this; it can also be run by hand against `python server.py`.
Adapted from the shared perf harness (bench.py there).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import math
import os
import statistics
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # the repo root: routerlib from this checkout
import clients  # noqa: E402

now = time.perf_counter_ns


def pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def server_stats(root):
    """Counters from the floor server; the probe itself adds one connection and one request."""
    u = urllib.parse.urlsplit(root)
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", "/stats")
    st = json.loads(c.getresponse().read())
    c.close()
    return st


def per_call(s0, s1, n):
    return {"conns_per_call": (s1["connections"] - s0["connections"] - 1) / n,
            "requests_per_call": (s1["requests"] - s0["requests"] - 1) / n,
            "server_cpu_us_per_call": (s1["cpu_s"] - s0["cpu_s"]) * 1e6 / n}


def rss_kb():
    """Current resident set size (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return None


def summary(us):
    return {"median_us": statistics.median(us), "p99_us": pct(us, 0.99), "mean_us": statistics.fmean(us),
            "min_us": min(us), "n": len(us)}


# ---------------------------------------------------------------------------- modes
def run_sync(a):
    t0 = now()  # cold start = import + client construction + first call
    call = clients.SYNC[a.client](a.root)
    first = call()
    first_us = (now() - t0) / 1e3
    assert first, "empty reply"
    for _ in range(a.warmup):
        call()
    lat = []
    s0, _r0 = server_stats(a.root), rss_kb()
    c0, m0 = time.process_time_ns(), time.thread_time_ns()  # all threads vs the calling thread
    for _ in range(a.n):
        t = now()
        call()
        lat.append((now() - t) / 1e3)
    cpu, main_cpu = (time.process_time_ns() - c0) / 1e3 / a.n, (time.thread_time_ns() - m0) / 1e3 / a.n
    s1, r1 = server_stats(a.root), rss_kb()
    return {**summary(lat), "cpu_per_call_us": cpu, "main_cpu_per_call_us": main_cpu, "cold_start_us": first_us,
            **per_call(s0, s1, a.n), "rss_end_mb": r1 / 1024 if r1 else None}


async def _async(a):
    call = await clients.ASYNC[a.client](a.root)
    out = {}
    for c in [int(x) for x in a.conc.split(",")]:
        walls = []
        for i in range(a.batches + 1):  # batch 0 warms up / opens connections
            if i == 1:
                s0 = server_stats(a.root)
            t = now()
            res = await asyncio.gather(*(call() for _ in range(c)))
            walls.append((now() - t) / 1e3)
            assert len(res) == c and all(res)
        s1 = server_stats(a.root)
        med = statistics.median(walls[1:])
        out[str(c)] = {"cold_wall_ms": walls[0] / 1e3, "wall_ms": med / 1e3, "rps": c / (med / 1e6),
                       "walls_ms": [w / 1e3 for w in walls[1:]], **per_call(s0, s1, c * a.batches),
                       "server_busy": (s1["cpu_s"] - s0["cpu_s"]) * 1e6 / sum(walls[1:])}
    return out


def run_stream(a):
    big = clients.STREAM[a.client](clients.stream_root(a.root, a.chunks))
    one = clients.STREAM[a.client](clients.stream_root(a.root, 1))
    for _ in range(a.warmup):
        got_big, got_one = big(), one()
        assert got_big == a.chunks and got_one == 1, f"wrong chunk count: {got_big}, {got_one}"
    tb, t1 = [], []
    s0, c0 = server_stats(a.root), time.process_time_ns()
    for _ in range(a.n):  # blocks, not interleaved: background work a big stream leaves behind
        t = now()         # (e.g. logging threads) is then charged to big streams, not to 1-chunk ones
        big()
        tb.append((now() - t) / 1e3)
    cpu = (time.process_time_ns() - c0) / 1e3 / a.n
    s1 = server_stats(a.root)
    for _ in range(a.n):
        t = now()
        one()
        t1.append((now() - t) / 1e3)
    mb, m1 = statistics.median(tb), statistics.median(t1)
    return {"chunks": a.chunks, "cpu_per_stream_us": cpu, "stream_median_us": mb, "stream_p99_us": pct(tb, 0.99),
            "one_chunk_median_us": m1, "per_chunk_us": mb / a.chunks,
            "marginal_per_chunk_us": (mb - m1) / (a.chunks - 1), **per_call(s0, s1, a.n)}


def run_calls(a):
    """Python function calls per request (sync) or per streamed chunk (stream), by cProfile."""
    import cProfile
    import pstats
    if a.table == "stream":
        call = clients.STREAM[a.client](clients.stream_root(a.root, a.chunks))
        n, per = max(2, a.n // 20), a.chunks
    else:
        call = clients.SYNC[a.client](a.root)
        n, per = a.n, 1
    for _ in range(max(3, a.warmup)):
        call()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        call()
    pr.disable()
    st = pstats.Stats(pr)
    return {"calls_per_unit": st.total_calls / n / per, "primitive_calls_per_unit": st.prim_calls / n / per,
            "profiled_us_per_unit": st.total_tt / n / per * 1e6, "units": n * per}


def run_rss(a):
    """RSS and Python heap growth over two consecutive windows of n calls, after a warm-up, with
    gc.collect() at each measuring point. Window 1 is the judged figure; window 2 shows whether
    growth goes on (a leak) or was a one-off rise to a plateau (allocator high-water mark)."""
    marks = []

    def mark():
        gc.collect()
        marks.append((rss_kb(), sys.getallocatedblocks(), server_stats(a.root)))

    if a.table == "async":
        async def go():
            call = await clients.ASYNC[a.client](a.root)

            async def run(k):
                for i in range(0, k, 50):
                    await asyncio.gather(*(call() for _ in range(min(50, k - i))))
            await run(a.warmup)
            mark()
            await run(a.n)
            mark()
            await run(a.n)
            mark()
        loop = asyncio.new_event_loop()
        loop.run_until_complete(go())
    else:
        if a.table == "stream":
            call = clients.STREAM[a.client](clients.stream_root(a.root, a.chunks))
        else:
            call = clients.SYNC[a.client](a.root)
        for _ in range(a.warmup):
            call()
        mark()
        for _ in range(2):
            for _ in range(a.n):
                call()
            mark()
    (r0, b0, s0), (r1, b1, _), (r2, b2, s2) = marks
    return {"n": a.n, "warmup": a.warmup, "rss_growth_kb": r1 - r0, "rss_growth2_kb": r2 - r1,
            "rss_end_mb": r2 / 1024, "blocks_growth": b1 - b0, "blocks_growth2": b2 - b1,
            "conns_per_call": (s2["connections"] - s0["connections"] - 2) / (2 * a.n)}  # 2 /stats probes after s0


def run_probe(a):
    """One call through the client; reports what the server saw (used to detect missing adapters)."""
    clients.ANTHROPIC_MODEL = clients.PROBE_MODELS["anthropic"]  # read by the factories at call time
    clients.GEMINI_MODEL = clients.PROBE_MODELS["gemini"]
    s0 = server_stats(a.root)
    if a.table == "stream":
        got = clients.STREAM[a.client](clients.stream_root(a.root, 7))()
        ok = got == 7
        detail = f"{got} content chunks for 7 sent"
    else:
        got = clients.SYNC[a.client](a.root)()
        ok = bool(got)
        detail = repr(got)[:80]
    s1 = server_stats(a.root)
    routes = {k: s1["routes"][k] - s0["routes"].get(k, 0) for k in s1["routes"]}
    return {"ok": ok, "detail": detail, "routes": routes}


def run_pair(a):
    """Two sync clients in ONE process, calls interleaved (ABBA...): a paired ratio that is not
    swamped by the ±20% drift between separate processes on a shared machine."""
    table = {**clients.SYNC, **clients.PAIR_ONLY}
    ca, cb = table[a.client](a.root), table[a.client2](a.root)
    for _ in range(a.warmup):
        assert ca() and cb()
    la, lb = [], []
    s0 = server_stats(a.root)
    for i in range(a.n):
        order = ((ca, la), (cb, lb)) if i % 2 == 0 else ((cb, lb), (ca, la))
        for fn, acc in order:
            t = now()
            fn()
            acc.append((now() - t) / 1e3)
    s1 = server_stats(a.root)
    sa, sb = summary(la), summary(lb)
    return {"base": sa, "other": sb, "ratio": sb["median_us"] / sa["median_us"],
            "ratio_p99": sb["p99_us"] / sa["p99_us"], **per_call(s0, s1, 2 * a.n)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sync", "async", "stream", "calls", "rss", "probe", "pair", "list"])
    ap.add_argument("--client")
    ap.add_argument("--root")
    ap.add_argument("--client2")
    ap.add_argument("--table", default="sync", choices=["sync", "async", "stream"])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--conc", default="200,1000")
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=200)
    a = ap.parse_args()
    if a.mode == "list":
        res = {"sync": list(clients.SYNC), "async": list(clients.ASYNC), "stream": list(clients.STREAM),
               "pair_only": list(clients.PAIR_ONLY)}
    elif a.mode == "sync":
        res = run_sync(a)
    elif a.mode == "async":
        res = asyncio.run(_async(a))
    elif a.mode == "stream":
        res = run_stream(a)
    elif a.mode == "calls":
        res = run_calls(a)
    elif a.mode == "rss":
        res = run_rss(a)
    elif a.mode == "pair":
        res = run_pair(a)
    else:
        res = run_probe(a)
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip library atexit hooks (litellm flushes loggers) so they cannot stall the run


if __name__ == "__main__":
    main()
