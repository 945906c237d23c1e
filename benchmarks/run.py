"""routerlib's benchmark suite: one run against an instant local server, routerlib beside the floors
(stdlib http.client, raw httpx, raw aiohttp) and LiteLLM, every figure with its target.

  .venv/bin/python benchmarks/run.py            # full run (~8-10 min on 2 shared cores) -> results/latest.{md,json}
  .venv/bin/python benchmarks/run.py --quick    # smoke run (~1-2 min)                    -> results/quick.{md,json}
  .venv/bin/python benchmarks/run.py --no-litellm --only 'routerlib'   # subsets (see --help)

Method (as in the shared perf harness): each (client, mode) sample runs in a fresh interpreter; the floor
server runs in its own process; there are several rounds and the client order rotates each round; a figure
is the median over rounds of each round's median; ratios are computed within a round, then the median over
rounds is taken. Ratios between two routerlib variants (retries+fallbacks, adapters) are also measured
paired: both in one process, calls interleaved, which is what their tight targets (1.05x, 1.2x) need.

Nothing here asserts: misses are reported, never raised. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench import server_stats  # noqa: E402
from clients import ADAPTER_CLIENTS  # noqa: E402

PY = sys.executable
med = statistics.median

# ---------------------------------------------------------------------------- what runs
SYNC = ["stdlib http.client", "httpx", "routerlib", "routerlib retries+fallbacks", "routerlib mock_response",
        "routerlib anthropic", "routerlib gemini", "litellm", "litellm retries+fallbacks"]
ASYNC = ["aiohttp raw", "routerlib", "litellm"]
STREAM = ["httpx raw SSE", "httpx raw SSE anthropic", "httpx raw SSE gemini", "routerlib", "routerlib anthropic",
          "routerlib gemini", "litellm"]
STREAM_FLOOR = {"routerlib": "httpx raw SSE", "litellm": "httpx raw SSE",
                "routerlib anthropic": "httpx raw SSE anthropic", "routerlib gemini": "httpx raw SSE gemini"}
PAIRS = [("httpx", "routerlib"), ("routerlib", "routerlib retries+fallbacks"),
         ("routerlib", "routerlib anthropic"), ("routerlib", "routerlib gemini")]
CALLS_SYNC = ["stdlib http.client", "httpx", "routerlib", "routerlib retries+fallbacks", "routerlib mock_response",
              "routerlib anthropic", "routerlib gemini", "litellm", "litellm retries+fallbacks"]
CALLS_STREAM = ["httpx raw SSE", "routerlib", "routerlib anthropic", "routerlib gemini", "litellm"]
RSS = [("sync", "httpx"), ("sync", "routerlib"), ("sync", "routerlib retries+fallbacks"), ("async", "aiohttp raw"),
       ("async", "routerlib"), ("stream", "routerlib")]
IMPORTS = ["(bare interpreter)", "httpx", "aiohttp", "routerlib", "litellm"]
FLOORS = {"stdlib http.client", "httpx", "aiohttp raw", "httpx raw SSE", "httpx raw SSE anthropic",
          "httpx raw SSE gemini"}

FULL = dict(rounds=5, n=500, warmup=50, conc="200,1000", batches=3, chunks=200, stream_n=30, rss_n=5000,
            rss_warmup=1000, rss_rounds=3, import_rounds=5, calls_n=200, pair_n=1000)
QUICK = dict(rounds=1, n=100, warmup=20, conc="200,1000", batches=1, chunks=200, stream_n=5, rss_n=2000,
             rss_warmup=1000, rss_rounds=1, import_rounds=1, calls_n=50, pair_n=200)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- processes
def env_for(client: str) -> dict:
    """Workers import routerlib from this checkout; only LiteLLM workers get its local cost map switch."""
    env = dict(os.environ)
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if client.startswith("litellm"):
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env


def start_server():
    p = subprocess.Popen([PY, os.path.join(HERE, "server.py")], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "PORT", line
    return p, f"http://127.0.0.1:{line[1]}"


def scrub(line):
    """Drop machine-specific install prefixes from library paths in captured stderr."""
    return re.sub(r"\S*?(site-packages|lib[\\/]python3\.\d+)[\\/]", "", line).replace(REPO + "/", "")


def spawn(args, client, timeout=600):
    try:
        r = subprocess.run([PY, *args], capture_output=True, text=True, timeout=timeout, env=env_for(client),
                           cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    err = r.stderr.strip().splitlines()
    if r.returncode != 0 or not r.stdout.strip():
        return {"error": scrub((err or [f"rc={r.returncode}"])[-1]), "stderr_lines": len(err)}
    return {**json.loads(r.stdout.strip().splitlines()[-1]), "stderr_lines": len(err),
            "stderr_head": sorted(set(scrub(e)[:160] for e in err))[:3]}


def worker(mode, client, root, extra, timeout=600):
    return spawn([os.path.join(HERE, "bench.py"), mode, "--client", client, "--root", root, *extra], client, timeout)


def micro(*args, client="routerlib"):
    return spawn([os.path.join(HERE, "micro.py"), *args], client)


def rounds_of(mode, names, root, extra, rounds):
    out = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)  # rotate the order so no client always runs first
        for n in names[k:] + names[:k]:
            out[n].append(worker(mode, n, root, extra))
            log(f"  [{mode} r{r}] {n}: {'error: ' + out[n][-1]['error'] if 'error' in out[n][-1] else 'ok'}")
    return out


# ---------------------------------------------------------------------------- aggregation
def ok_samples(ss):
    return [s for s in ss if "error" not in s]


def within_round(raw, name, floor, key, invert=False):
    """Median over rounds of (name's figure / floor's figure) taken in the same round."""
    ratios = [(f[key] / s[key]) if invert else (s[key] / f[key])
              for s, f in zip(raw.get(name, []), raw.get(floor, []), strict=False)
              if "error" not in s and "error" not in f]
    return med(ratios) if ratios else None


def agg_sync(raw):
    rows = {}
    for n, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[n] = {"error": ss[-1].get("error") if ss else "no sample"}
            continue
        rows[n] = {"median_us": med(s["median_us"] for s in ok), "p99_us": med(s["p99_us"] for s in ok),
                   "spread": (min(s["median_us"] for s in ok), max(s["median_us"] for s in ok)),
                   "x_httpx": within_round(raw, n, "httpx", "median_us"),
                   "x_httpx_p99": within_round(raw, n, "httpx", "p99_us"),
                   "main_cpu_us": med(s["main_cpu_per_call_us"] for s in ok),
                   "other_cpu_us": max(0.0, med(s["cpu_per_call_us"] - s["main_cpu_per_call_us"] for s in ok)),
                   "cold_start_ms": med(s["cold_start_us"] for s in ok) / 1e3,
                   "conns_per_call": max(s["conns_per_call"] for s in ok),
                   "server_cpu_us": med(s["server_cpu_us_per_call"] for s in ok),
                   "stderr_lines": max(s["stderr_lines"] for s in ok), "rounds": len(ok)}
    return rows


def agg_pairs(raw):
    rows = {}
    for key, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[key] = {"error": ss[-1].get("error") if ss else "no sample"}
            continue
        rows[key] = {"ratio": med(s["ratio"] for s in ok), "ratio_p99": med(s["ratio_p99"] for s in ok),
                     "ratios": [round(s["ratio"], 3) for s in ok],
                     "base_median_us": med(s["base"]["median_us"] for s in ok),
                     "other_median_us": med(s["other"]["median_us"] for s in ok),
                     "conns_per_call": max(s["conns_per_call"] for s in ok)}
    return rows


def agg_async(raw, floor="aiohttp raw"):
    rows = {}
    for n, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[n] = {"error": ss[-1].get("error") if ss else "no sample"}
            continue
        for c in sorted({c for s in ok for c in s if c.isdigit()}, key=int):
            pairs = [(s[c], f[c]) for s, f in zip(ss, raw[floor], strict=False) if c in s and c in f]
            okc = [s[c] for s in ok if c in s]
            rows[f"{n} @{c}"] = {"client": n, "conc": int(c), "wall_ms": med(s["wall_ms"] for s in okc),
                                 "rps": med(s["rps"] for s in okc),
                                 "x_floor_rps": med(s["rps"] / f["rps"] for s, f in pairs) if pairs else None,
                                 "cold_wall_ms": med(s["cold_wall_ms"] for s in okc),
                                 "worst_warm_ms": max(max(s["walls_ms"]) for s in okc),
                                 "conns_per_call": max(s["conns_per_call"] for s in okc),
                                 "server_busy": med(s["server_busy"] for s in okc)}
    return rows


def agg_stream(raw):
    rows = {}
    for n, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[n] = {"error": ss[-1].get("error") if ss else "no sample"}
            continue
        rows[n] = {k: med(s[k] for s in ok) for k in
                   ("stream_median_us", "one_chunk_median_us", "per_chunk_us", "marginal_per_chunk_us",
                    "cpu_per_stream_us")}
        rows[n]["conns_per_call"] = max(s["conns_per_call"] for s in ok)
        floor = STREAM_FLOOR.get(n)
        rows[n]["floor"] = floor
        rows[n]["x_floor"] = within_round(raw, n, floor, "per_chunk_us") if floor else None
    return rows


def agg_imports(raw):
    rows = {}
    for m, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[m] = {"error": ss[-1].get("error") if ss else "no sample"}
            continue
        rows[m] = {k: med(s[k] for s in ok) for k in ("import_ms", "process_ms", "maxrss_mb", "modules")}
        rows[m]["x_httpx"] = within_round(raw, m, "httpx", "import_ms")
    return rows


def agg_rss(raw):
    rows = {}
    for key, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[key] = {"error": ss[-1].get("error") if ss else "no sample"}
            continue
        n = ok[0]["n"]
        rows[key] = {"n": n, "warmup": ok[0]["warmup"], "rss_growth_kb": med(s["rss_growth_kb"] for s in ok),
                     "rss_growth_kb_per_5k": med(s["rss_growth_kb"] for s in ok) * 5000 / n,
                     "rss_growth2_kb_per_5k": med(s["rss_growth2_kb"] for s in ok) * 5000 / n,
                     "samples_kb": [s["rss_growth_kb"] for s in ok], "samples2_kb": [s["rss_growth2_kb"] for s in ok],
                     "blocks_growth_per_1k": med(s["blocks_growth"] for s in ok) * 1000 / n,
                     "blocks_growth2_per_1k": med(s["blocks_growth2"] for s in ok) * 1000 / n,
                     "conns_per_call": max(s["conns_per_call"] for s in ok),
                     "rss_end_mb": med(s["rss_end_mb"] for s in ok)}
    return rows


# ---------------------------------------------------------------------------- targets
AFTER_PHASE = "default_client() + ModelMap.default() + a mock_response call"  # micro.NET_PROBE's second phase


def le(x, limit):
    return x is not None and x <= limit


def targets(res):
    """Every judged figure: (figure, routerlib value, target, reference, status, note)."""
    found = []
    s, p, a, st, c = res["sync"], res["pairs"], res["async"], res["stream"], res["calls"]
    skips = res["skips"]

    def add(fig, val, target, ref, ok, note=""):
        status = "skip" if ok == "skip" else ("n/a" if ok is None else ("pass" if ok else "**MISS**"))
        found.append({"figure": fig, "value": val, "target": target, "reference": ref, "status": status, "note": note})

    def f(x, d=0):
        return "—" if x is None else f"{x:,.{d}f}"

    def g(row, k):
        return (row or {}).get(k)

    r, h, sl, lt = s.get("routerlib", {}), s.get("httpx", {}), s.get("stdlib http.client", {}), s.get("litellm", {})
    if "median_us" in r:
        paired = g(p.get("httpx vs routerlib"), "ratio")
        add("Sequential call, median", f"{f(r['median_us'])} µs = {f(r['x_httpx'], 2)}× httpx",
            "≤ 1.00× raw httpx (same run)",
            f"httpx {f(h.get('median_us'))} µs; http.client {f(sl.get('median_us'))} µs; "
            f"litellm {f(lt.get('median_us'))} µs = {f(lt.get('x_httpx'), 2)}× httpx",
            le(r["x_httpx"], 1.0), f"paired in one process: {f(paired, 2)}× httpx")
        add("Sequential call, p99", f"{f(r['p99_us'])} µs = {f(r['x_httpx_p99'], 2)}× httpx p99",
            "≤ 1.00× raw httpx p99 (same rule as the median)",
            f"httpx {f(h.get('p99_us'))} µs; litellm {f(lt.get('p99_us'))} µs", le(r["x_httpx_p99"], 1.0),
            f"paired in one process: {f(g(p.get('httpx vs routerlib'), 'ratio_p99'), 2)}× httpx p99")
    else:
        add("Sequential call, median", "error", "≤ 1.00× raw httpx", "", False, str(r.get("error")))
    rf = p.get("routerlib vs routerlib retries+fallbacks", {})
    rfs = s.get("routerlib retries+fallbacks", {})
    if "ratio" in rf:
        xproc = within_round(res["sync_raw"], "routerlib retries+fallbacks", "routerlib", "median_us")
        lrf = s.get("litellm retries+fallbacks", {})
        lrf_x = within_round(res["sync_raw"], "litellm retries+fallbacks", "litellm", "median_us")
        add("num_retries=2 + 2 fallbacks, nothing failing",
            f"{f(rfs.get('median_us'))} µs = {f(rf['ratio'], 3)}× plain (paired)", "≤ 1.05× the same call without them",
            f"litellm: {f(lrf.get('median_us'))} µs = {f(lrf_x, 2)}× plain litellm",
            rf["ratio"] <= 1.05, f"separate processes: {f(xproc, 3)}×; p99 paired {f(rf['ratio_p99'], 2)}×")
    cr = c.get("sync", {})
    if "routerlib" in cr and "calls_per_unit" in cr["routerlib"]:
        add("Python function calls per call (cProfile)", f(cr["routerlib"]["calls_per_unit"]), "≤ 2,000",
            f"httpx {f(g(cr.get('httpx'), 'calls_per_unit'))}; "
            f"http.client {f(g(cr.get('stdlib http.client'), 'calls_per_unit'))}; "
            f"litellm {f(g(cr.get('litellm'), 'calls_per_unit'))}", cr["routerlib"]["calls_per_unit"] <= 2000,
            f"retries+fallbacks {f(g(cr.get('routerlib retries+fallbacks'), 'calls_per_unit'))}")
    sr = st.get("routerlib", {})
    if "per_chunk_us" in sr:
        add(f"Streaming, µs per chunk ({res['args']['chunks']} chunks)",
            f"{f(sr['per_chunk_us'], 1)} µs = {f(sr['x_floor'], 2)}× raw SSE", "≤ 2.0× raw httpx SSE parsing",
            f"httpx raw SSE {f(g(st.get('httpx raw SSE'), 'per_chunk_us'), 1)} µs; litellm "
            f"{f(g(st.get('litellm'), 'per_chunk_us'), 1)} µs = {f(g(st.get('litellm'), 'x_floor'), 1)}×",
            le(sr["x_floor"], 2.0))
    for conc, target in (("200", 0.5), ("1000", None)):
        ar = a.get(f"routerlib @{conc}", {})
        fl = a.get(f"aiohttp raw @{conc}", {})
        ll = a.get(f"litellm @{conc}", {})
        if "rps" in ar:
            pct_floor = ar["x_floor_rps"] and ar["x_floor_rps"] * 100
            add(f"Async, {conc} in flight: req/s", f"{f(ar['rps'])} req/s = {f(pct_floor)}% of aiohttp",
                "≥ 50% of raw aiohttp" if target else "— (reported; no target)",
                f"aiohttp {f(fl.get('rps'))} req/s; litellm {f(ll.get('rps'))} req/s",
                (ar["x_floor_rps"] is not None and ar["x_floor_rps"] >= target) if target else None)
    im = res["imports"].get("routerlib", {})
    if "import_ms" in im:
        hx = res["imports"].get("httpx", {})
        add("`import routerlib`: time", f"{f(im['import_ms'])} ms = {f(im['x_httpx'], 2)}× `import httpx`",
            "≤ 3× `import httpx`", f"httpx {f(hx.get('import_ms'))} ms; litellm "
            f"{f(g(res['imports'].get('litellm'), 'import_ms'))} ms", le(im["x_httpx"], 3.0),
            f"{f(im['modules'])} modules loaded")
        add("`import routerlib`: peak RSS", f"{f(im['maxrss_mb'], 1)} MB", "≤ 40 MB",
            f"bare interpreter {f(g(res['imports'].get('(bare interpreter)'), 'maxrss_mb'), 1)} MB; httpx "
            f"{f(hx.get('maxrss_mb'), 1)} MB; litellm {f(g(res['imports'].get('litellm'), 'maxrss_mb'), 1)} MB",
            im["maxrss_mb"] <= 40)
    nc = res["micro"].get("netcheck", {})
    if "import_network_events" in nc:
        add("`import routerlib`: network I/O (audit hook)", f"{nc['import_network_events']} events",
            "0 connect/getaddrinfo/… events", "hook self-check " + ("saw a control lookup" if nc.get("hook_works")
                                                                    else "FAILED (no event seen)"),
            nc["import_network_events"] == 0 and nc.get("hook_works"),
            f"after default_client()+ModelMap+mock call: "
            f"{len(nc['network_events'].get(AFTER_PHASE, []))} events")
    elif nc:
        add("`import routerlib`: network I/O (audit hook)", "error", "0 events", "", False, str(nc.get("error")))
    for key, label in (("sync routerlib", "sync"), ("sync routerlib retries+fallbacks", "sync, retries+fallbacks"),
                       ("async routerlib", "async, 50 in flight"), ("stream routerlib", "stream, 20 chunks")):
        rr = res["rss"].get(key, {})
        if "rss_growth_kb" in rr:
            extra = "" if rr["n"] == 5000 else f" (measured over {rr['n']:,}, scaled)"
            ref = res["rss"].get("async aiohttp raw" if key.startswith("async") else "sync httpx", {})
            add(f"RSS growth per 5,000 calls ({label})", f"{f(rr['rss_growth_kb_per_5k'])} KB{extra}",
                "< 512 KB (< 1 MB per 10,000)",
                f"{'aiohttp raw' if key.startswith('async') else 'httpx'}: {f(ref.get('rss_growth_kb_per_5k'))} KB",
                rr["rss_growth_kb_per_5k"] < 512,
                f"after a {rr['warmup']:,}-call warm-up, per round {rr['samples_kb']} KB; the next 5,000 calls: "
                f"{f(rr['rss_growth2_kb_per_5k'])} KB; Python heap blocks {rr['blocks_growth_per_1k']:+,.0f} then "
                f"{rr['blocks_growth2_per_1k']:+,.0f} per 1k calls")
    cost = res["micro"].get("cost_routerlib", {})
    lcost = res["micro"].get("cost_litellm", {})
    if "compute_cost_us" in cost:
        add("Cost per call: `compute_cost`", f"{f(cost['compute_cost_us'], 2)} µs", "≤ 5 µs",
            f"litellm completion_cost {f(lcost.get('completion_cost_us'), 1)} µs; dict-lookup floor "
            f"{f(lcost.get('dict_lookup_cost_us'), 2)} µs", cost["compute_cost_us"] <= 5,
            f"best batch {f(cost.get('compute_cost_best_us'), 2)} µs; cached+reasoning usage "
            f"{f(cost.get('compute_cost_cached_reasoning_us'), 2)} µs; map load "
            f"{f(cost.get('model_map_load_ms'), 1)} ms (once)")
    led = res["micro"].get("ledger", {})
    if "sqlite_record_us" in led:
        add("SQLiteLedger.record per call", f"{f(led['sqlite_record_us'], 1)} µs", "≤ 200 µs",
            f"MemoryLedger {f(led.get('memory_record_us'), 1)} µs", led["sqlite_record_us"] <= 200,
            f"best batch {f(led.get('sqlite_record_best_us'), 1)} µs; synchronous=FULL: "
            f"{f(led.get('sqlite_record_us_fsync_full'), 1)} µs; SpendRecord() "
            f"{f(led.get('spend_record_build_us'), 1)} µs")
    elif led:
        add("SQLiteLedger.record per call", "skipped", "≤ 200 µs", "", "skip", led.get("skipped") or led.get("error"))
    for prov in ("anthropic", "gemini"):
        name = f"routerlib {prov}"
        if name in skips:
            add(f"{prov.title()} adapter: non-streaming", "skipped", "≤ 1.2× OpenAI-compatible call", "", "skip",
                skips[name])
            add(f"{prov.title()} adapter: streaming per chunk", "skipped", f"≤ 2.0× raw {prov} SSE", "", "skip",
                skips[name])
            continue
        pr = p.get(f"routerlib vs {name}", {})
        if "ratio" in pr:
            add(f"{prov.title()} adapter: non-streaming",
                f"{f(pr['other_median_us'])} µs = {f(pr['ratio'], 2)}× OpenAI call",
                "≤ 1.2× OpenAI-compatible call (paired)", f"OpenAI-compatible {f(pr['base_median_us'])} µs",
                pr["ratio"] <= 1.2, f"separate processes: "
                f"{f(within_round(res['sync_raw'], name, 'routerlib', 'median_us'), 2)}×; calls/call "
                f"{f(g(cr.get(name), 'calls_per_unit'))}")
        sx = st.get(name, {})
        if "per_chunk_us" in sx:
            add(f"{prov.title()} adapter: streaming per chunk",
                f"{f(sx['per_chunk_us'], 1)} µs = {f(sx['x_floor'], 2)}× raw SSE",
                f"≤ 2.0× raw {prov} SSE (httpx)", f"raw {f(g(st.get(sx['floor']), 'per_chunk_us'), 1)} µs",
                le(sx["x_floor"], 2.0))
    # connection reuse: a pooled client opens no new connection per call once warm
    reuse = []
    for label, row in (("sync", s.get("routerlib")), ("sync r+f", s.get("routerlib retries+fallbacks")),
                       ("async@200", a.get("routerlib @200")), ("async@1000", a.get("routerlib @1000")),
                       ("stream", st.get("routerlib")), ("anthropic", s.get("routerlib anthropic")),
                       ("anthropic stream", st.get("routerlib anthropic")), ("gemini", s.get("routerlib gemini")),
                       ("gemini stream", st.get("routerlib gemini"))):
        if row and "conns_per_call" in row:
            reuse.append((label, row["conns_per_call"]))
    if reuse:
        worst = max(v for _, v in reuse)
        add("New connections per call once warm", "; ".join(f"{k} {v:.3f}" for k, v in reuse), "0 (pooled reuse)",
            f"litellm sync {f(g(s.get('litellm'), 'conns_per_call'), 2)}, stream "
            f"{f(g(st.get('litellm'), 'conns_per_call'), 2)}", worst <= 0.005)
    return found


# ---------------------------------------------------------------------------- markdown
def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(res):
    f = lambda x, d=0: "—" if x is None else f"{x:,.{d}f}"  # noqa: E731
    m, e = res["meta"], res["args"]
    out = [f"# routerlib benchmarks: {'quick smoke run' if e['quick'] else 'full run'}\n",
           f"Written by `benchmarks/run.py{' --quick' if e['quick'] else ''}` on {m['date']}; "
           f"{res['elapsed_s']:.0f} s. Floors, routerlib and LiteLLM measured in one run against an instant local "
           "server (`benchmarks/server.py`). "
           "Read `benchmarks/README.md` for the method. Compare ratios, not absolute µs, across runs.\n",
           "## Machine\n", table(["item", "value"], [
               ["CPU", f"{m['cpu']}, {m['nproc']} cores (shared VM)"],
               ["calibration: `sum(range(1000))`", f"{m['calibration_us']:.1f} µs at the start, "
                f"{f(m.get('calibration_end_us'), 1)} µs at the end (anchors machine: 13.6–15.7 µs)"],
               ["load average (1 min) start → end", f"{m['loadavg_start']} → {m['loadavg_end']}"],
               ["OS / Python", f"{m['platform']} / CPython {m['python']}"],
               ["routerlib", f"{m['routerlib']}"],
               ["packages", ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)],
               ["settings", f"rounds={e['rounds']}, n={e['n']} sequential calls/sample, async batches={e['batches']}, "
                            f"streams/sample={e['stream_n']}, RSS calls={e['rss_n']:,}, "
                            f"import samples={e['import_rounds']}"],
               ["floor server", f"{res['server'].get('requests', 0):,} requests, "
                                f"{res['server'].get('cpu_us_per_request', 0):.0f} µs CPU per request"]])]
    out += ["\n## Targets\n", table(["figure", "routerlib", "target", "reference (same run)", "result", "note"],
                                    [[t["figure"], t["value"], t["target"], t["reference"], t["status"], t["note"]]
                                     for t in res["targets"]])]
    if res["skips"]:
        out += ["\nSkipped: " + "; ".join(f"`{k}`: {v}" for k, v in res["skips"].items())]
    s = res["sync"]
    out += ["\n## Sequential non-streaming calls (µs per call, fresh process per sample)\n", table(
        ["client", "median", "p99", "round medians", "× httpx", "× httpx p99", "CPU calling thread",
         "CPU other threads",
         "new conns/call", "cold start ms", "stderr lines"],
        [[n] + ([f"error: {str(r['error'])[:100]}"] if "error" in r else
                [f(r["median_us"]), f(r["p99_us"]), f(r["spread"][0]) + "–" + f(r["spread"][1]), f(r["x_httpx"], 2),
                 f(r["x_httpx_p99"], 2), f(r["main_cpu_us"]), f(r["other_cpu_us"]), f(r["conns_per_call"], 3),
                 f(r["cold_start_ms"]), r["stderr_lines"]]) for n, r in s.items()])]
    out += ["\n## Paired ratios (two clients in one process, calls interleaved)\n", table(
        ["base vs other", "base median µs", "other median µs", "other ÷ base (median)", "per round", "p99 ratio",
         "new conns/call"],
        [[k] + ([f"error: {str(r['error'])[:100]}"] if "error" in r else
                [f(r["base_median_us"]), f(r["other_median_us"]), f(r["ratio"], 3), r["ratios"], f(r["ratio_p99"], 2),
                 f(r["conns_per_call"], 3)]) for k, r in res["pairs"].items()])]
    a = res["async"]
    out += ["\n## Concurrent async calls (one asyncio.gather of N requests; median of warm batches)\n", table(
        ["client @N", "wall ms", "req/s", "× aiohttp req/s", "cold batch ms", "worst warm batch ms", "new conns/req",
         "server CPU busy"],
        [[n] + ([f"error: {str(r['error'])[:100]}"] if "error" in r else
                [f(r["wall_ms"]), f(r["rps"]), f(r["x_floor_rps"], 2), f(r["cold_wall_ms"]), f(r["worst_warm_ms"]),
                 f(r["conns_per_call"], 3), f"{r['server_busy']:.0%}"]) for n, r in a.items()])]
    st = res["stream"]
    out += [f"\n## Streaming, {e['chunks']} content chunks per stream (sync iteration)\n", table(
        ["client", "stream ms", "1-chunk stream ms", "µs/chunk", "marginal µs/chunk", "× its raw SSE floor", "floor",
         "CPU ms/stream", "new conns/stream"],
        [[n] + ([f"error: {str(r['error'])[:100]}"] if "error" in r else
                [f(r["stream_median_us"] / 1e3, 2), f(r["one_chunk_median_us"] / 1e3, 2), f(r["per_chunk_us"], 1),
                 f(r["marginal_per_chunk_us"], 1), f(r["x_floor"], 2), r["floor"] or "(floor)",
                 f(r["cpu_per_stream_us"] / 1e3, 1), f(r["conns_per_call"], 3)]) for n, r in st.items()])]
    c = res["calls"]
    out += ["\n## Python function calls (cProfile; machine-independent)\n", table(
        ["client", "per call (non-streaming)", "profiled µs per call"],
        [[n, f(r.get("calls_per_unit")), f(r.get("profiled_us_per_unit"))] if "error" not in r else
         [n, f"error: {str(r['error'])[:100]}", ""] for n, r in c.get("sync", {}).items()]), "",
        table(["client", f"per streamed chunk ({e['chunks']}-chunk streams)", "profiled µs per chunk"],
              [[n, f(r.get("calls_per_unit")), f(r.get("profiled_us_per_unit"), 1)] if "error" not in r else
               [n, f"error: {str(r['error'])[:100]}", ""] for n, r in c.get("stream", {}).items()])]
    out += ["\n## Memory growth (after a warm-up; gc.collect() at each point; two consecutive windows)\n", table(
        ["mode client", "warm-up", "calls/window", "RSS growth KB, window 1 (median)", "per round", "window 2 KB",
         "per round", "heap blocks per 1k calls (w1, w2)", "new conns/call", "RSS at end MB"],
        [[k] + ([f"error: {str(r['error'])[:100]}"] if "error" in r else
                [f(r["warmup"]), f(r["n"]), f(r["rss_growth_kb"]), r["samples_kb"],
                 f(r["rss_growth2_kb_per_5k"] * r["n"] / 5000), r["samples2_kb"],
                 f"{r['blocks_growth_per_1k']:+,.0f}, {r['blocks_growth2_per_1k']:+,.0f}",
                 f(r["conns_per_call"], 4), f(r["rss_end_mb"], 1)])
         for k, r in res["rss"].items()])]
    im = res["imports"]
    out += ["\n## Import (fresh interpreter per sample)\n", table(
        ["module", "import ms (in-process)", "× httpx", "process wall ms", "peak RSS MB", "modules loaded"],
        [[k] + ([f"error: {str(v['error'])[:100]}"] if "error" in v else
                [f(v["import_ms"]), f(v["x_httpx"], 2), f(v["process_ms"]), f(v["maxrss_mb"], 1), f(v["modules"])])
         for k, v in im.items()])]
    mi = res["micro"]
    rows = []
    for group, d in (("routerlib cost", mi.get("cost_routerlib", {})), ("litellm cost", mi.get("cost_litellm", {})),
                     ("ledger", mi.get("ledger", {}))):
        for k, v in d.items():
            if k not in ("stderr_lines", "stderr_head"):
                rows.append([f"{group}: {k}", (f(v, 2) if abs(v) >= 0.01 else f"{v:.3g}")
                             if isinstance(v, (int, float)) and not isinstance(v, bool) else v])
    nc = mi.get("netcheck", {})
    for phase, evs in (nc.get("phases") or {}).items():
        rows.append([f"audit events: {phase}", ", ".join(sorted({ev[0] for ev in evs})) or "none"])
    out += ["\n## Micro figures\n", table(["figure", "value"], rows)]
    if res.get("profile_note"):
        out += ["\n## Profile\n", res["profile_note"]]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- main
def _ver(p):
    try:
        return metadata.version(p)
    except metadata.PackageNotFoundError:
        return None


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "routerlib"], capture_output=True,
                               text=True).stdout.strip()
        rl = f"0.1.x @ {head}" + (f" + uncommitted changes in {len(dirty.splitlines())} files" if dirty else "")
    except OSError:
        rl = "?"
    return {"cpu": cpu, "nproc": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True), "routerlib": rl, "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "loadavg_start": f"{os.getloadavg()[0]:.2f}",
            "versions": {p: _ver(p) for p in ("litellm", "openai", "httpx", "httpcore", "aiohttp", "pydantic",
                                              "pydantic_core", "tiktoken", "tenacity", "pyinstrument")}}


def probe_adapters(root, names):
    """Which adapter clients work: a real call must reach the provider's own route on the server."""
    skips = {}
    for name in [n for n in names if n in ADAPTER_CLIENTS]:
        prov = ADAPTER_CLIENTS[name]
        for table_ in ("sync", "stream"):
            r = worker("probe", name, root, ["--table", table_], timeout=120)
            if "error" in r:
                skips[name] = f"adapter not usable yet ({table_} call raised: {r['error'][:160]})"
            elif not r["ok"] or not r["routes"].get(prov):
                skips[name] = (f"adapter not there yet: the {table_} call went to {r['routes']} instead of the "
                               f"{prov} route ({r['detail']})")
            if name in skips:
                break
        log(f"  [probe] {name}: {'SKIP: ' + skips[name] if name in skips else 'ok'}")
    return skips


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, small n (~1-2 min)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--n", type=int, help="sequential calls per sync sample")
    ap.add_argument("--only", default="", help="regex: only clients whose name matches (floors always kept)")
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out (faster)")
    ap.add_argument("--modes", default="sync,pairs,async,stream,calls,rss,micro")
    ap.add_argument("--out", help="result name under results/ (default: latest, or quick with --quick)")
    ap.add_argument("--no-profile", action="store_true", help="do not profile routerlib after a miss")
    a = ap.parse_args()
    cfg = dict(QUICK if a.quick else FULL)
    cfg["rounds"] = a.rounds or cfg["rounds"]
    cfg["n"] = a.n or cfg["n"]
    out_name = a.out or ("quick" if a.quick else "latest")
    modes = set(a.modes.split(","))
    t0 = time.time()

    def keep(n):
        if a.no_litellm and n.startswith("litellm"):
            return False
        if a.quick and n == "litellm retries+fallbacks":
            return False
        return n in FLOORS or not a.only or re.search(a.only, n) is not None

    meta = machine()
    meta["calibration_us"] = micro("calibration")["calibration_sum_range_1000_us"]
    res = {"args": {**cfg, "quick": a.quick, "only": a.only, "no_litellm": a.no_litellm, "modes": sorted(modes)},
           "meta": meta, "skips": {}, "sync": {}, "sync_raw": {}, "pairs": {}, "async": {}, "stream": {}, "calls": {},
           "rss": {}, "imports": {}, "micro": {}, "server": {}}
    srv, root = start_server()
    try:
        res["skips"] = probe_adapters(root, [n for n in SYNC if keep(n)])
        live = lambda names: [n for n in names if keep(n) and n not in res["skips"]]  # noqa: E731
        if "sync" in modes:
            raw = rounds_of("sync", live(SYNC), root, ["--n", str(cfg["n"]), "--warmup", str(cfg["warmup"])],
                            cfg["rounds"])
            res["sync_raw"], res["sync"] = raw, agg_sync(raw)
        if "pairs" in modes:
            praw = {}
            for r in range(cfg["rounds"]):
                for base, other in PAIRS:
                    if base in live([base]) and other in live([other]):
                        key = f"{base} vs {other}"
                        praw.setdefault(key, []).append(worker(
                            "pair", base, root, ["--client2", other, "--n", str(cfg["pair_n"]),
                                                 "--warmup", str(cfg["warmup"])]))
                        log(f"  [pair r{r}] {key}: {praw[key][-1].get('error', 'ok')}")
            res["pairs_raw"], res["pairs"] = praw, agg_pairs(praw)
        if "async" in modes:
            raw = rounds_of("async", live(ASYNC), root, ["--conc", cfg["conc"], "--batches", str(cfg["batches"])],
                            cfg["rounds"])
            res["async_raw"], res["async"] = raw, agg_async(raw)
        if "stream" in modes:
            raw = rounds_of("stream", live(STREAM), root, ["--chunks", str(cfg["chunks"]), "--n", str(cfg["stream_n"]),
                                                           "--warmup", "3"], cfg["rounds"])
            res["stream_raw"], res["stream"] = raw, agg_stream(raw)
        if "calls" in modes:
            for table_, names in (("sync", CALLS_SYNC), ("stream", CALLS_STREAM)):
                res["calls"][table_] = {}
                for n in live(names):
                    if a.quick and table_ == "stream" and n.startswith("litellm"):
                        continue
                    res["calls"][table_][n] = worker("calls", n, root, ["--table", table_, "--n", str(cfg["calls_n"]),
                                                                        "--chunks", str(cfg["chunks"])])
                    log(f"  [calls {table_}] {n}: {res['calls'][table_][n].get('error', 'ok')}")
        if "rss" in modes:
            rraw = {}
            for r in range(cfg["rss_rounds"]):
                for table_, n in RSS:
                    if n in live([n]):
                        key = f"{table_} {n}"
                        rraw.setdefault(key, []).append(worker(
                            "rss", n, root, ["--table", table_, "--n", str(cfg["rss_n"]),
                                             "--warmup", str(cfg["rss_warmup"]), "--chunks", "20"]))
                        log(f"  [rss r{r}] {key}: {rraw[key][-1].get('error', 'ok')}")
            res["rss_raw"], res["rss"] = rraw, agg_rss(rraw)
        st = server_stats(root)
        res["server"] = {**st, "cpu_us_per_request": st["cpu_s"] * 1e6 / max(1, st["requests"])}
    finally:
        srv.terminate()
        srv.wait(10)
    if "micro" in modes:
        mods = [m for m in IMPORTS if not (a.no_litellm and m == "litellm")]
        iraw = {m: [] for m in mods}
        for m in mods:
            micro("import", m)  # warm the .pyc and page caches; not counted
        for r in range(cfg["import_rounds"]):
            k = r % len(mods)
            for m in mods[k:] + mods[:k]:
                iraw[m].append(micro("import", m))
            log(f"  [import r{r}] done")
        res["imports_raw"], res["imports"] = iraw, agg_imports(iraw)
        res["micro"]["netcheck"] = micro("netcheck")
        res["micro"]["cost_routerlib"] = micro("cost-routerlib")
        if not a.no_litellm:
            res["micro"]["cost_litellm"] = micro("cost-litellm", client="litellm")
        res["micro"]["ledger"] = micro("ledger")
        log("  [micro] done")
    meta["loadavg_end"] = f"{os.getloadavg()[0]:.2f}"
    meta["calibration_end_us"] = micro("calibration").get("calibration_sum_range_1000_us")
    res["targets"] = targets(res)
    misses = [t["figure"] for t in res["targets"] if "MISS" in t["status"]]
    if misses and not a.quick and not a.no_profile:
        log(f"  [profile] misses: {misses}; profiling routerlib")
        r = subprocess.run([PY, os.path.join(HERE, "profile_routerlib.py")], capture_output=True, text=True,
                           env=env_for("routerlib"), cwd=HERE, timeout=900)
        res["profile_note"] = ("Misses: " + "; ".join(misses) + ". Hot spots: `benchmarks/results/profile.md` "
                               "(written by `benchmarks/profile_routerlib.py`)." if r.returncode == 0 else
                               f"profile_routerlib.py failed: {r.stderr.strip().splitlines()[-1:]}")
    res["elapsed_s"] = time.time() - t0
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", out_name + ".json"), "w") as fh:
        json.dump(res, fh, indent=1, default=str)
    md = markdown(res)
    with open(os.path.join(HERE, "results", out_name + ".md"), "w") as fh:
        fh.write(md)
    print(md)


if __name__ == "__main__":
    main()
