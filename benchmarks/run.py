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
import functools
import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from aggregate import agg_async, agg_imports, agg_pairs, agg_rss, agg_stream, agg_sync  # noqa: E402
from bench import server_stats  # noqa: E402
from clients import ADAPTER_CLIENTS  # noqa: E402
from report import markdown  # noqa: E402
from targets import targets  # noqa: E402

PY = sys.executable

# ---------------------------------------------------------------------------- what runs
SYNC = ["stdlib http.client", "httpx", "routerlib", "routerlib retries+fallbacks", "routerlib mock_response",
        "routerlib anthropic", "routerlib gemini", "litellm", "litellm retries+fallbacks"]
ASYNC = ["aiohttp raw", "routerlib", "routerlib redis budget", "routerlib Router", "litellm"]
STREAM = ["httpx raw SSE", "httpx raw SSE anthropic", "httpx raw SSE gemini", "routerlib", "routerlib anthropic",
          "routerlib gemini", "litellm"]
PAIRS = [("httpx", "routerlib"), ("routerlib", "routerlib retries+fallbacks"),
         ("routerlib", "routerlib anthropic"), ("routerlib", "routerlib gemini"),
         ("routerlib distinct", "routerlib cache miss"),
         ("routerlib Client", "routerlib otel sdk disabled"), ("routerlib Client", "routerlib otel no-op"),
         ("routerlib Client", "routerlib otel sdk sampled-out"),
         ("routerlib Client", "routerlib otel sdk recording"), ("routerlib Client", "routerlib Router")]
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


def rotated(names, r):
    """Round r's order: rotated so that no client always runs first."""
    k = r % len(names)
    return names[k:] + names[:k]


def rounds_of(mode, names, root, extra, rounds):
    out = {n: [] for n in names}
    for r in range(rounds):
        for n in rotated(names, r):
            out[n].append(worker(mode, n, root, extra))
            log(f"  [{mode} r{r}] {n}: {'error: ' + out[n][-1]['error'] if 'error' in out[n][-1] else 'ok'}")
    return out


def keyed_rounds(tag, rounds, jobs):
    """``{key: [sample per round]}``: each round runs every ``(key, run)`` of ``jobs`` once, in order."""
    raw = {}
    for r in range(rounds):
        for key, run in jobs:
            raw.setdefault(key, []).append(run())
            log(f"  [{tag} r{r}] {key}: {raw[key][-1].get('error', 'ok')}")
    return raw


# ---------------------------------------------------------------------------- machine and adapter probe
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


# ---------------------------------------------------------------------------- the run
def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, small n (~1-2 min)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--n", type=int, help="sequential calls per sync sample")
    ap.add_argument("--only", default="", help="regex: only clients whose name matches (floors always kept)")
    ap.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out (faster)")
    ap.add_argument("--modes", default="sync,pairs,async,stream,calls,rss,micro,router")
    ap.add_argument("--out", help="result name under results/ (default: latest, or quick with --quick)")
    ap.add_argument("--no-profile", action="store_true", help="do not profile routerlib after a miss")
    return ap.parse_args()


def keeper(a):
    """Which clients this run measures (before the adapter probe's skips)."""
    def keep(n):
        if a.no_litellm and n.startswith("litellm"):
            return False
        if a.quick and n == "litellm retries+fallbacks":
            return False
        return n in FLOORS or not a.only or re.search(a.only, n) is not None
    return keep


def measure_call_modes(res, cfg, modes, root, live):
    """Sequential calls, paired ratios, concurrent async calls and streams: rounds of fresh workers."""
    if "sync" in modes:
        raw = rounds_of("sync", live(SYNC), root, ["--n", str(cfg["n"]), "--warmup", str(cfg["warmup"])],
                        cfg["rounds"])
        res["sync_raw"], res["sync"] = raw, agg_sync(raw)
    if "pairs" in modes:
        extra = ["--n", str(cfg["pair_n"]), "--warmup", str(cfg["warmup"])]
        praw = keyed_rounds("pair", cfg["rounds"], [
            (f"{base} vs {other}", functools.partial(worker, "pair", base, root, ["--client2", other, *extra]))
            for base, other in PAIRS if live([base]) and live([other])])
        res["pairs_raw"], res["pairs"] = praw, agg_pairs(praw)
    if "async" in modes:
        raw = rounds_of("async", live(ASYNC), root, ["--conc", cfg["conc"], "--batches", str(cfg["batches"])],
                        cfg["rounds"])
        res["async_raw"], res["async"] = raw, agg_async(raw)
    if "stream" in modes:
        raw = rounds_of("stream", live(STREAM), root, ["--chunks", str(cfg["chunks"]), "--n", str(cfg["stream_n"]),
                                                       "--warmup", "3"], cfg["rounds"])
        res["stream_raw"], res["stream"] = raw, agg_stream(raw)


def measure_calls_and_rss(res, cfg, modes, root, live, quick):
    """Python function calls per call (cProfile), and RSS growth over windows of calls."""
    if "calls" in modes:
        for table_, names in (("sync", CALLS_SYNC), ("stream", CALLS_STREAM)):
            res["calls"][table_] = {}
            for n in live(names):
                if quick and table_ == "stream" and n.startswith("litellm"):
                    continue
                res["calls"][table_][n] = worker("calls", n, root, ["--table", table_, "--n", str(cfg["calls_n"]),
                                                                    "--chunks", str(cfg["chunks"])])
                log(f"  [calls {table_}] {n}: {res['calls'][table_][n].get('error', 'ok')}")
    if "rss" in modes:
        extra = ["--n", str(cfg["rss_n"]), "--warmup", str(cfg["rss_warmup"]), "--chunks", "20"]
        rraw = keyed_rounds("rss", cfg["rss_rounds"], [
            (f"{table_} {n}", functools.partial(worker, "rss", n, root, ["--table", table_, *extra]))
            for table_, n in RSS if live([n])])
        res["rss_raw"], res["rss"] = rraw, agg_rss(rraw)


def measure_micro(res, cfg, no_litellm):
    """Import time and RSS (fresh interpreters, rotated rounds), the import network check, cost and ledger."""
    mods = [m for m in IMPORTS if not (no_litellm and m == "litellm")]
    iraw = {m: [] for m in mods}
    for m in mods:
        micro("import", m)  # warm the .pyc and page caches; not counted
    for r in range(cfg["import_rounds"]):
        for m in rotated(mods, r):
            iraw[m].append(micro("import", m))
        log(f"  [import r{r}] done")
    res["imports_raw"], res["imports"] = iraw, agg_imports(iraw)
    res["micro"]["netcheck"] = micro("netcheck")
    res["micro"]["cost_routerlib"] = micro("cost-routerlib")
    if not no_litellm:
        res["micro"]["cost_litellm"] = micro("cost-litellm", client="litellm")
    res["micro"]["ledger"] = micro("ledger")
    res["micro"]["cache"] = micro("cache")
    log("  [micro] done")


def measure_router(res, root, no_litellm):
    """routerlib.Router: picking at 100 and 1,000 deployments, Redis-shared state, the chaos run (with LiteLLM's
    Router beside it unless --no-litellm). Each in a fresh process (router_bench.py)."""
    script = os.path.join(HERE, "router_bench.py")
    res["router"]["pick"] = spawn([script, "pick"], "routerlib", timeout=900)
    log(f"  [router] pick: {res['router']['pick'].get('error', 'ok')}")
    res["router"]["redis"] = spawn([script, "redis", "--root", root], "routerlib", timeout=900)
    log(f"  [router] redis: {res['router']['redis'].get('error', 'ok')}")
    if not no_litellm:
        res["router"]["chaos"] = spawn([script, "chaos"], "routerlib", timeout=1800)
        log(f"  [router] chaos: {res['router']['chaos'].get('error', 'ok')}")


def profile_misses(res):
    """After a run that misses a target: profile routerlib (results/profile.md) and say so in the report."""
    misses = [t["figure"] for t in res["targets"] if "MISS" in t["status"]]
    if not misses:
        return
    log(f"  [profile] misses: {misses}; profiling routerlib")
    r = subprocess.run([PY, os.path.join(HERE, "profile_routerlib.py")], capture_output=True, text=True,
                       env=env_for("routerlib"), cwd=HERE, timeout=900)
    res["profile_note"] = ("Misses: " + "; ".join(misses) + ". Hot spots: `benchmarks/results/profile.md` "
                           "(written by `benchmarks/profile_routerlib.py`)." if r.returncode == 0 else
                           f"profile_routerlib.py failed: {r.stderr.strip().splitlines()[-1:]}")


def write_results(res, out_name):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", out_name + ".json"), "w") as fh:
        json.dump(res, fh, indent=1, default=str)
    md = markdown(res)
    with open(os.path.join(HERE, "results", out_name + ".md"), "w") as fh:
        fh.write(md)
    print(md)


def main():
    a = parse_args()
    cfg = dict(QUICK if a.quick else FULL)
    cfg["rounds"] = a.rounds or cfg["rounds"]
    cfg["n"] = a.n or cfg["n"]
    modes = set(a.modes.split(","))
    t0 = time.time()
    keep = keeper(a)
    meta = machine()
    meta["calibration_us"] = micro("calibration")["calibration_sum_range_1000_us"]
    res = {"args": {**cfg, "quick": a.quick, "only": a.only, "no_litellm": a.no_litellm, "modes": sorted(modes)},
           "meta": meta, "skips": {}, "sync": {}, "sync_raw": {}, "pairs": {}, "async": {}, "stream": {}, "calls": {},
           "rss": {}, "imports": {}, "micro": {}, "server": {}, "router": {}}
    srv, root = start_server()
    try:
        res["skips"] = probe_adapters(root, [n for n in SYNC if keep(n)])
        live = lambda names: [n for n in names if keep(n) and n not in res["skips"]]  # noqa: E731
        measure_call_modes(res, cfg, modes, root, live)
        measure_calls_and_rss(res, cfg, modes, root, live, a.quick)
        if "router" in modes:
            measure_router(res, root, a.no_litellm)
        st = server_stats(root)
        res["server"] = {**st, "cpu_us_per_request": st["cpu_s"] * 1e6 / max(1, st["requests"])}
    finally:
        srv.terminate()
        srv.wait(10)
    if "micro" in modes:
        measure_micro(res, cfg, a.no_litellm)
    meta["loadavg_end"] = f"{os.getloadavg()[0]:.2f}"
    meta["calibration_end_us"] = micro("calibration").get("calibration_sum_range_1000_us")
    res["targets"] = targets(res)
    if not a.quick and not a.no_profile:
        profile_misses(res)
    res["elapsed_s"] = time.time() - t0
    write_results(res, a.out or ("quick" if a.quick else "latest"))


if __name__ == "__main__":
    main()
