"""Where does routerlib spend its time? Writes results/profile.md.

  .venv/bin/python benchmarks/profile_routerlib.py [--calls 300]

1. Non-streaming `routerlib.completion` against the floor server: cProfile top functions by self time,
   routerlib's own functions by inclusive time (file:line), and pyinstrument's sampling view (if installed).
2. The same with num_retries=2 and two fallbacks (nothing failing).
3. `acompletion` at 200 in flight: cProfile over warm batches with the cyclic GC off (so that collections are
   not charged to whichever function happened to allocate), then the GC's own cost: time per generation
   (gc.callbacks) over the same batches with the GC on, beside raw aiohttp.
   Objects left in reference cycles per call (sync, async, stream), with their types.
4. A 200-chunk stream.
5. `compute_cost` and `SQLiteLedger.record` (cProfile).
6. `python -X importtime -c "import routerlib"`: slowest modules.
Absolute µs are inflated by the profilers: compare shares and call counts.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, REPO)
import clients  # noqa: E402
from run import start_server  # noqa: E402

SITE = re.compile(r".*?site-packages[\\/]|.*?lib[\\/]python3\.\d+[\\/]")


def short(fn):
    path, line, name = fn
    if path == "~":
        return name
    path = path.replace(REPO + os.sep, "")
    return f"{SITE.sub('', path)}:{line}({name})"


def profile(run, n):
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        run()
    pr.disable()
    return pstats.Stats(pr)


def report(st, n, label, unit="call"):
    total = st.total_tt
    out = [f"#### {label}\n",
           f"{st.total_calls / n:,.0f} function calls per {unit}; "
           f"profiled time {total / n * 1e6:,.1f} µs per {unit}.\n",
           "Top 12 by self time:\n", "| function | calls/" + unit + " | self µs | self % | incl. µs |",
           "|---|---|---|---|---|"]
    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:12]
    out += [f"| `{short(fn)}` | {v[1] / n:,.1f} | {v[2] / n * 1e6:,.1f} | {v[2] / total * 100:.1f}% | "
            f"{v[3] / n * 1e6:,.1f} |" for fn, v in rows]
    own = [(fn, v) for fn, v in st.stats.items() if "routerlib" in fn[0] and os.sep + "benchmarks" not in fn[0]]
    own.sort(key=lambda kv: -kv[1][3])
    out += ["", "routerlib's own functions, top 15 by inclusive time:\n",
            "| function | calls/" + unit + " | incl. µs | incl. % | self µs |", "|---|---|---|---|---|"]
    out += [f"| `{short(fn)}` | {v[1] / n:,.1f} | {v[3] / n * 1e6:,.1f} | {v[3] / total * 100:.1f}% | "
            f"{v[2] / n * 1e6:,.1f} |" for fn, v in own[:15]]
    return "\n".join(out) + "\n"


def pyinstrument_self(run, n):
    try:
        from pyinstrument import Profiler
        from pyinstrument.frame import SELF_TIME_FRAME_IDENTIFIER as SELF
    except ImportError:
        return "(pyinstrument not installed: `.venv/bin/python -m pip install pyinstrument` for this view)\n"
    p = Profiler(interval=0.0005)
    p.start()
    for _ in range(n):
        run()
    p.stop()
    root, acc = p.last_session.root_frame(), {}

    def walk(f):
        key = f"{SITE.sub('', (f.file_path or '').replace(REPO + os.sep, ''))}:{f.line_no}({f.function})"
        if not f.children:
            acc[key] = acc.get(key, 0) + f.time
        for c in f.children:
            if c.identifier == SELF:
                acc[key] = acc.get(key, 0) + c.time
            else:
                walk(c)
    walk(root)
    rows = sorted(acc.items(), key=lambda kv: -kv[1])[:15]
    out = ["pyinstrument (sampling, 0.5 ms), top 15 by self time:\n", "| function | % of sampled time (self) |",
           "|---|---|"]
    out += [f"| `{k}` | {v / root.time * 100:.1f}% |" for k, v in rows]
    return "\n".join(out) + "\n"


def _gc_worker(code, root):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    r = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, env=env, cwd=HERE,
                       timeout=300)
    return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else f"error: {r.stderr.strip()[-300:]}"


GC_TIME = """import asyncio, gc, json, os, sys, time
sys.path.insert(0, os.getcwd())
import clients
stats = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
t0 = [0.0]
def cb(phase, info):
    if phase == "start":
        t0[0] = time.perf_counter()
    else:
        s = stats[info["generation"]]; s[0] += 1; s[1] += time.perf_counter() - t0[0]
async def main(name):
    call = await clients.ASYNC[name](sys.argv[1])
    for _ in range(3):
        await asyncio.gather(*(call() for _ in range(200)))
    gc.collect()
    gc.callbacks.append(cb)
    t = time.perf_counter()
    for _ in range(10):
        await asyncio.gather(*(call() for _ in range(200)))
    wall = time.perf_counter() - t
    gc.callbacks.remove(cb)
    return {"wall_ms": wall * 1e3, "gc": {k: list(v) for k, v in stats.items()}}
out = {}
for name in ("aiohttp raw", "routerlib"):
    for v in stats.values():
        v[:] = [0, 0.0]
    out[name] = asyncio.run(main(name))
print(json.dumps(out))
os._exit(0)"""

CYCLES = """import asyncio, gc, json, os, sys
from collections import Counter
sys.path.insert(0, os.getcwd())
import clients
root = sys.argv[1]
def measure(run, n=200):
    gc.collect(); gc.disable(); gc.set_debug(gc.DEBUG_SAVEALL)
    run(n)
    found = gc.collect()
    kinds = Counter(type(o).__name__ for o in gc.garbage)
    gc.set_debug(0); gc.garbage.clear(); gc.enable()
    return found / n, [f"{k} {v / n:g}" for k, v in kinds.most_common(12)]
out = {}
for name in ("httpx", "routerlib", "routerlib retries+fallbacks"):
    call = clients.SYNC[name](root)
    for _ in range(20):
        call()
    out["sync " + name] = measure(lambda n: [call() for _ in range(n)])
s = clients.STREAM["routerlib"](clients.stream_root(root, 20))
s()
out["stream routerlib (20 chunks)"] = measure(lambda n: [s() for _ in range(n)])
for name in ("aiohttp raw", "routerlib"):
    loop = asyncio.new_event_loop()
    acall = loop.run_until_complete(clients.ASYNC[name](root))
    for _ in range(20):
        loop.run_until_complete(acall())
    out["async " + name] = measure(lambda n: [loop.run_until_complete(acall()) for _ in range(n)])
print(json.dumps(out))
os._exit(0)"""


def _worker_table(code, root, head, row):
    """Run ``code`` in a fresh interpreter; its JSON answer as markdown: ``head`` lines, then ``row(k, v)`` per
    entry (or the worker's error line)."""
    import json
    line = _gc_worker(code, root)
    if line.startswith("error"):
        return line + "\n"
    return "\n".join(head + [row(k, v) for k, v in json.loads(line).items()]) + "\n"


def _gc_row(name, r):
    g = r["gc"]
    total = sum(v[1] for v in g.values()) * 1e3
    return (f"| {name} | {r['wall_ms']:,.0f} | " + " | ".join(f"{g[k][0]} / {g[k][1] * 1e3:,.1f}" for k in "012")
            + f" | {total / r['wall_ms']:.0%} |")


def gc_table(root):
    return _worker_table(GC_TIME, root, [
        "Ten warm batches of 200 concurrent calls, GC on; time inside collections per generation "
        "(`gc.callbacks`):\n",
        "| client | wall ms (10 batches) | gen0 runs / ms | gen1 runs / ms | gen2 runs / ms | "
        "GC share of wall |", "|---|---|---|---|---|---|"], _gc_row)


def cycles_table(root):
    return _worker_table(CYCLES, root, [
        "Objects left in reference cycles per call (found by `gc.collect()` after 200 calls with the GC off; "
        "they live until the next collection of their generation):\n",
        "| calls | objects in cycles per call | most common types per call |", "|---|---|---|"],
        lambda k, v: f"| {k} | {v[0]:.1f} | {', '.join(v[1])} |")


def importtime():
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import routerlib"], capture_output=True,
                       text=True, env=env, cwd="/")
    rows = []
    for ln in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", ln)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)))
    total = max(c for _, c, _, n in rows if n == "routerlib")
    own = sorted(((s, n) for s, _, _, n in rows), reverse=True)[:12]
    top = sorted(((c, n) for _, c, d, n in rows if d <= 3 and n != "routerlib"), reverse=True)[:12]
    out = [f"`import routerlib`: {total / 1e3:.0f} ms under -X importtime (inflated), {len(rows)} modules.\n",
           "| slowest modules by self time | self ms |", "|---|---|"]
    out += [f"| {n} | {s / 1e3:.1f} |" for s, n in own]
    out += ["", "| direct imports (cumulative) | ms |", "|---|---|"]
    out += [f"| {n} | {c / 1e3:.1f} |" for c, n in top]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    a = ap.parse_args()
    n = a.calls
    srv, root = start_server()
    md = ["# routerlib profiles\n", "Written by `benchmarks/profile_routerlib.py`. cProfile inflates absolute times "
          "(roughly 2x); compare shares and call counts. Main thread only.\n"]
    try:
        call = clients.SYNC["routerlib"](root)
        rf = clients.SYNC["routerlib retries+fallbacks"](root)
        stream = clients.STREAM["routerlib"](clients.stream_root(root, 200))
        for _ in range(50):
            call()
            rf()
        stream()
        md += ["## Non-streaming `routerlib.completion`\n", report(profile(call, n), n, "completion"),
               pyinstrument_self(call, n * 3)]
        md += ["## With num_retries=2 and two fallbacks (nothing failing)\n",
               report(profile(rf, n), n, "completion, retries+fallbacks")]
        md += ["## Streaming, 200 chunks\n", report(profile(stream, 10), 10 * 200, "stream", unit="chunk"),
               pyinstrument_self(stream, 30)]

        async def go():
            acall = await clients.ASYNC["routerlib"](root)
            await asyncio.gather(*(acall() for _ in range(200)))
            gc.collect()
            gc.disable()
            pr = cProfile.Profile()
            pr.enable()
            for _ in range(5):
                await asyncio.gather(*(acall() for _ in range(200)))
            pr.disable()
            gc.enable()
            return pstats.Stats(pr)
        md += ["## `acompletion`, 200 in flight\n", report(asyncio.run(go()), 1000, "acompletion @200, GC off")]
        md += ["### Garbage collection under async load\n", gc_table(root), "", cycles_table(root)]
    finally:
        srv.terminate()
        srv.wait(10)
    from decimal import Decimal

    from routerlib.cost import ModelMap, compute_cost
    from routerlib.types import Usage
    info = ModelMap.default().get("gpt-4o-mini")
    usage = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    compute_cost(usage, info)
    md += ["## `compute_cost`\n", report(profile(lambda: compute_cost(usage, info), 20000), 20000, "compute_cost")]
    try:
        import time

        from routerlib.spend import SpendRecord, SQLiteLedger
        with tempfile.TemporaryDirectory() as d:
            led = SQLiteLedger(os.path.join(d, "s.db"))
            ts = time.time()
            recs = iter([SpendRecord(call_id=f"c{i}", timestamp=ts + i, model="gpt-4o-mini", provider="openai",
                                     user="alice", team="core", tags=("bench",), prompt_tokens=10,
                                     completion_tokens=5, cost=Decimal("0.0000045")) for i in range(2100)])
            for _ in range(100):
                led.record(next(recs))
            md += ["## `SQLiteLedger.record`\n", report(profile(lambda: led.record(next(recs)), 2000), 2000,
                                                         "SQLiteLedger.record", unit="record")]
    except Exception as exc:  # the ledger is being finished by another engineer
        md += [f"## `SQLiteLedger.record`\n\nskipped: {type(exc).__name__}: {exc}\n"]
    md += ["## Import\n", importtime()]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "profile.md"), "w") as fh:
        fh.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
