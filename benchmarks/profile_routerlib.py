"""Where does routerlib spend its time? Writes results/profile.md.

  .venv/bin/python benchmarks/profile_routerlib.py [--calls 300]

1. Non-streaming `routerlib.completion` against the floor server: cProfile top functions by self time,
   routerlib's own functions by inclusive time (file:line), and pyinstrument's sampling view (if installed).
2. The same with num_retries=2 and two fallbacks (nothing failing).
3. `acompletion` at 200 in flight (cProfile over warm batches).
4. A 200-chunk stream.
5. `compute_cost` and `SQLiteLedger.record` (cProfile).
6. `python -X importtime -c "import routerlib"`: slowest modules.
Absolute µs are inflated by the profilers: compare shares and call counts.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
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
           f"{st.total_calls / n:,.0f} function calls per {unit}; profiled time {total / n * 1e6:,.1f} µs per {unit}.\n",
           "Top 12 by self time:\n", "| function | calls/" + unit + " | self µs | self % | incl. µs |", "|---|---|---|---|---|"]
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
            pr = cProfile.Profile()
            pr.enable()
            for _ in range(5):
                await asyncio.gather(*(acall() for _ in range(200)))
            pr.disable()
            return pstats.Stats(pr)
        md += ["## `acompletion`, 200 in flight\n", report(asyncio.run(go()), 1000, "acompletion @200")]
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
