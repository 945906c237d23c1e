"""The markdown report of run.py (results/<name>.md): the machine, the Targets table, then one detailed table
per mode. ``markdown(res)`` reads the same dict that run.py writes as JSON.
"""
from __future__ import annotations

from targets import fmt


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def keyed_rows(d, cells, pad=()):
    """One table row per entry of ``d``: its key, then ``cells(row)``, or the row's error (then ``pad``)."""
    return [[k, *([f"error: {str(r['error'])[:100]}", *pad] if "error" in r else cells(r))] for k, r in d.items()]


def markdown(res):
    sections = (_header, _targets, _sync, _pairs, _async, _stream, _calls, _rss, _imports, _micro, _router,
                _profile)
    return "\n".join(line for section in sections for line in section(res)) + "\n"


def _header(res):
    m, e = res["meta"], res["args"]
    return [f"# routerlib benchmarks: {'quick smoke run' if e['quick'] else 'full run'}\n",
            f"Written by `benchmarks/run.py{' --quick' if e['quick'] else ''}` on {m['date']}; "
            f"{res['elapsed_s']:.0f} s. Floors, routerlib and LiteLLM measured in one run against an instant local "
            "server (`benchmarks/server.py`). "
            "Read `benchmarks/README.md` for the method. Compare ratios, not absolute µs, across runs.\n",
            "## Machine\n", table(["item", "value"], [
                ["CPU", f"{m['cpu']}, {m['nproc']} cores (shared VM)"],
                ["calibration: `sum(range(1000))`", f"{m['calibration_us']:.1f} µs at the start, "
                 f"{fmt(m.get('calibration_end_us'), 1)} µs at the end (anchors machine: 13.6–15.7 µs)"],
                ["load average (1 min) start → end", f"{m['loadavg_start']} → {m['loadavg_end']}"],
                ["OS / Python", f"{m['platform']} / CPython {m['python']}"],
                ["routerlib", f"{m['routerlib']}"],
                ["packages", ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)],
                ["settings", f"rounds={e['rounds']}, n={e['n']} sequential calls/sample, async batches={e['batches']}, "
                             f"streams/sample={e['stream_n']}, RSS calls={e['rss_n']:,}, "
                             f"import samples={e['import_rounds']}"],
                ["floor server", f"{res['server'].get('requests', 0):,} requests, "
                                 f"{res['server'].get('cpu_us_per_request', 0):.0f} µs CPU per request"]])]


def _targets(res):
    out = ["\n## Targets\n", table(["figure", "routerlib", "target", "reference (same run)", "result", "note"],
                                   [[t["figure"], t["value"], t["target"], t["reference"], t["status"], t["note"]]
                                    for t in res["targets"]])]
    if res["skips"]:
        out += ["\nSkipped: " + "; ".join(f"`{k}`: {v}" for k, v in res["skips"].items())]
    return out


def _sync(res):
    return ["\n## Sequential non-streaming calls (µs per call, fresh process per sample)\n", table(
        ["client", "median", "p99", "round medians", "× httpx", "× httpx p99", "CPU calling thread",
         "CPU other threads",
         "new conns/call", "cold start ms", "stderr lines"],
        keyed_rows(res["sync"], lambda r: [
            fmt(r["median_us"]), fmt(r["p99_us"]), fmt(r["spread"][0]) + "–" + fmt(r["spread"][1]),
            fmt(r["x_httpx"], 2), fmt(r["x_httpx_p99"], 2), fmt(r["main_cpu_us"]), fmt(r["other_cpu_us"]),
            fmt(r["conns_per_call"], 3), fmt(r["cold_start_ms"]), r["stderr_lines"]]))]


def _pairs(res):
    return ["\n## Paired ratios (two clients in one process, calls interleaved)\n", table(
        ["base vs other", "base median µs", "other median µs", "other ÷ base (median)", "per round", "p99 ratio",
         "new conns/call"],
        keyed_rows(res["pairs"], lambda r: [
            fmt(r["base_median_us"]), fmt(r["other_median_us"]), fmt(r["ratio"], 3), r["ratios"],
            fmt(r["ratio_p99"], 2), fmt(r["conns_per_call"], 3)]))]


def _async(res):
    return ["\n## Concurrent async calls (one asyncio.gather of N requests; median of warm batches)\n", table(
        ["client @N", "wall ms", "req/s", "× aiohttp req/s", "cold batch ms", "worst warm batch ms", "new conns/req",
         "server CPU busy"],
        keyed_rows(res["async"], lambda r: [
            fmt(r["wall_ms"]), fmt(r["rps"]), fmt(r["x_floor_rps"], 2), fmt(r["cold_wall_ms"]),
            fmt(r["worst_warm_ms"]), fmt(r["conns_per_call"], 3), f"{r['server_busy']:.0%}"]))]


def _stream(res):
    return [f"\n## Streaming, {res['args']['chunks']} content chunks per stream (sync iteration)\n", table(
        ["client", "stream ms", "1-chunk stream ms", "µs/chunk", "marginal µs/chunk", "× its raw SSE floor", "floor",
         "CPU ms/stream", "new conns/stream"],
        keyed_rows(res["stream"], lambda r: [
            fmt(r["stream_median_us"] / 1e3, 2), fmt(r["one_chunk_median_us"] / 1e3, 2), fmt(r["per_chunk_us"], 1),
            fmt(r["marginal_per_chunk_us"], 1), fmt(r["x_floor"], 2), r["floor"] or "(floor)",
            fmt(r["cpu_per_stream_us"] / 1e3, 1), fmt(r["conns_per_call"], 3)]))]


def _calls(res):
    c = res["calls"]
    return ["\n## Python function calls (cProfile; machine-independent)\n", table(
        ["client", "per call (non-streaming)", "profiled µs per call"],
        keyed_rows(c.get("sync", {}), lambda r: [fmt(r.get("calls_per_unit")), fmt(r.get("profiled_us_per_unit"))],
                   pad=("",))), "",
        table(["client", f"per streamed chunk ({res['args']['chunks']}-chunk streams)", "profiled µs per chunk"],
              keyed_rows(c.get("stream", {}),
                         lambda r: [fmt(r.get("calls_per_unit")), fmt(r.get("profiled_us_per_unit"), 1)],
                         pad=("",)))]


def _rss(res):
    return ["\n## Memory growth (after a warm-up; gc.collect() at each point; two consecutive windows)\n", table(
        ["mode client", "warm-up", "calls/window", "RSS growth KB, window 1 (median)", "per round", "window 2 KB",
         "per round", "heap blocks per 1k calls (w1, w2)", "new conns/call", "RSS at end MB"],
        keyed_rows(res["rss"], lambda r: [
            fmt(r["warmup"]), fmt(r["n"]), fmt(r["rss_growth_kb"]), r["samples_kb"],
            fmt(r["rss_growth2_kb_per_5k"] * r["n"] / 5000), r["samples2_kb"],
            f"{r['blocks_growth_per_1k']:+,.0f}, {r['blocks_growth2_per_1k']:+,.0f}",
            fmt(r["conns_per_call"], 4), fmt(r["rss_end_mb"], 1)]))]


def _imports(res):
    return ["\n## Import (fresh interpreter per sample)\n", table(
        ["module", "import ms (in-process)", "× httpx", "process wall ms", "peak RSS MB", "modules loaded"],
        keyed_rows(res["imports"], lambda v: [
            fmt(v["import_ms"]), fmt(v["x_httpx"], 2), fmt(v["process_ms"]), fmt(v["maxrss_mb"], 1),
            fmt(v["modules"])]))]


def _micro(res):
    mi = res["micro"]
    rows = []
    for group, d in (("routerlib cost", mi.get("cost_routerlib", {})), ("litellm cost", mi.get("cost_litellm", {})),
                     ("ledger", mi.get("ledger", {}))):
        for k, v in d.items():
            if k not in ("stderr_lines", "stderr_head"):
                rows.append([f"{group}: {k}", (fmt(v, 2) if abs(v) >= 0.01 else f"{v:.3g}")
                             if isinstance(v, (int, float)) and not isinstance(v, bool) else v])
    nc = mi.get("netcheck", {})
    for phase, evs in (nc.get("phases") or {}).items():
        rows.append([f"audit events: {phase}", ", ".join(sorted({ev[0] for ev in evs})) or "none"])
    return ["\n## Micro figures\n", table(["figure", "value"], rows)]


def _router(res):
    r = res.get("router") or {}
    out = []
    pick = r.get("pick") or {}
    if pick and "error" not in pick:
        sizes = sorted({int(k.rsplit("@", 1)[1]) for k in pick if "@" in k})
        names = sorted({k.rsplit(" @", 1)[0] for k in pick if "@" in k})
        out += ["\n## Router: picking a deployment (µs per pick, reservation included; median of batches)\n",
                table(["strategy", *[f"{n} deployments" for n in sizes]],
                      [[name, *[fmt(pick.get(f"{name} @{n}", {}).get("pick_us"), 1) for n in sizes]]
                       for name in names])]
    rd = r.get("redis") or {}
    if "median_us" in rd:
        out += ["\n## Router: Redis-shared state (paired in one process, calls interleaved)\n",
                table(["client", "median µs", "p99 µs"], [[k, fmt(v), fmt(rd["p99_us"][k])]
                                                         for k, v in rd["median_us"].items()]),
                f"\nRedis round trips per call: {rd['redis_round_trips_per_call']:.2f} (one to pick and reserve, "
                "one to report)."]
    chaos = r.get("chaos") or {}
    if "settings" in chaos:
        st = chaos["settings"]
        prof = "; ".join(f"{k}: {v['latency_ms']:g} ms, {v['failure_rate']:.0%} failing"
                         for k, v in st["profiles"].items())
        rows = [[k, f"{v['success_rate']:.2%}", fmt(v["p50_ms"]), fmt(v["p99_ms"]), fmt(v["upstream_per_success"], 3),
                 ", ".join(f"{d} {x:.0%}" for d, x in v["share"].items()), fmt(v["wall_s"], 1)]
                if "success_rate" in v else [k, f"error: {v.get('error')}", "", "", "", "", ""]
                for k, v in chaos.items() if k != "settings" and isinstance(v, dict)]
        out += [f"\n## Router: chaos run ({st['calls']:,} calls, {st['concurrency']} concurrent, "
                f"num_retries={st['num_retries']}; {prof})\n",
                table(["router strategy", "success", "p50 ms", "p99 ms", "upstream requests per success",
                       "traffic share", "wall s"], rows)]
    return out


def _profile(res):
    return ["\n## Profile\n", res["profile_note"]] if res.get("profile_note") else []
