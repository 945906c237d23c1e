"""The targets of run.py: every judged figure of a run with its target, same-run reference and status.

``targets(res)`` reads the aggregated results (and ``sync_raw`` for cross-process ratios) and returns one dict
per figure: figure, value (routerlib's), target, reference, status (pass, **MISS**, skip, n/a) and note.
The sections below add their figures in the order of the report's Targets table.
"""
from __future__ import annotations

from aggregate import within_round

AFTER_PHASE = "default_client() + ModelMap.default() + a mock_response call"  # micro.NET_PROBE's second phase


def le(x, limit):
    return x is not None and x <= limit


def fmt(x, d=0):
    return "—" if x is None else f"{x:,.{d}f}"


def at(row, k):
    return (row or {}).get(k)


def targets(res):
    """Every judged figure: (figure, routerlib value, target, reference, status, note)."""
    found = []

    def add(fig, val, target, ref, ok, note=""):
        status = "skip" if ok == "skip" else ("n/a" if ok is None else ("pass" if ok else "**MISS**"))
        found.append({"figure": fig, "value": val, "target": target, "reference": ref, "status": status, "note": note})

    for section in (_sequential, _streaming_and_async, _imports, _memory, _cost_and_ledger, _adapters, _observers,
                    _cache, _reuse, _router):
        section(res, add)
    return found


def _sequential(res, add):
    s, p, c = res["sync"], res["pairs"], res["calls"]
    r, h, sl, lt = s.get("routerlib", {}), s.get("httpx", {}), s.get("stdlib http.client", {}), s.get("litellm", {})
    if "median_us" in r:
        paired = at(p.get("httpx vs routerlib"), "ratio")
        add("Sequential call, median", f"{fmt(r['median_us'])} µs = {fmt(r['x_httpx'], 2)}× httpx",
            "≤ 1.00× raw httpx (same run)",
            f"httpx {fmt(h.get('median_us'))} µs; http.client {fmt(sl.get('median_us'))} µs; "
            f"litellm {fmt(lt.get('median_us'))} µs = {fmt(lt.get('x_httpx'), 2)}× httpx",
            le(r["x_httpx"], 1.0), f"paired in one process: {fmt(paired, 2)}× httpx")
        add("Sequential call, p99", f"{fmt(r['p99_us'])} µs = {fmt(r['x_httpx_p99'], 2)}× httpx p99",
            "≤ 1.00× raw httpx p99 (same rule as the median)",
            f"httpx {fmt(h.get('p99_us'))} µs; litellm {fmt(lt.get('p99_us'))} µs", le(r["x_httpx_p99"], 1.0),
            f"paired in one process: {fmt(at(p.get('httpx vs routerlib'), 'ratio_p99'), 2)}× httpx p99")
    else:
        add("Sequential call, median", "error", "≤ 1.00× raw httpx", "", False, str(r.get("error")))
    rf = p.get("routerlib vs routerlib retries+fallbacks", {})
    rfs = s.get("routerlib retries+fallbacks", {})
    if "ratio" in rf:
        xproc = within_round(res["sync_raw"], "routerlib retries+fallbacks", "routerlib", "median_us")
        lrf = s.get("litellm retries+fallbacks", {})
        lrf_x = within_round(res["sync_raw"], "litellm retries+fallbacks", "litellm", "median_us")
        add("num_retries=2 + 2 fallbacks, nothing failing",
            f"{fmt(rfs.get('median_us'))} µs = {fmt(rf['ratio'], 3)}× plain (paired)",
            "≤ 1.05× the same call without them",
            f"litellm: {fmt(lrf.get('median_us'))} µs = {fmt(lrf_x, 2)}× plain litellm",
            rf["ratio"] <= 1.05, f"separate processes: {fmt(xproc, 3)}×; p99 paired {fmt(rf['ratio_p99'], 2)}×")
    cr = c.get("sync", {})
    if "routerlib" in cr and "calls_per_unit" in cr["routerlib"]:
        add("Python function calls per call (cProfile)", fmt(cr["routerlib"]["calls_per_unit"]), "≤ 2,000",
            f"httpx {fmt(at(cr.get('httpx'), 'calls_per_unit'))}; "
            f"http.client {fmt(at(cr.get('stdlib http.client'), 'calls_per_unit'))}; "
            f"litellm {fmt(at(cr.get('litellm'), 'calls_per_unit'))}", cr["routerlib"]["calls_per_unit"] <= 2000,
            f"retries+fallbacks {fmt(at(cr.get('routerlib retries+fallbacks'), 'calls_per_unit'))}")


def _streaming_and_async(res, add):
    a, st = res["async"], res["stream"]
    sr = st.get("routerlib", {})
    if "per_chunk_us" in sr:
        add(f"Streaming, µs per chunk ({res['args']['chunks']} chunks)",
            f"{fmt(sr['per_chunk_us'], 1)} µs = {fmt(sr['x_floor'], 2)}× raw SSE", "≤ 2.0× raw httpx SSE parsing",
            f"httpx raw SSE {fmt(at(st.get('httpx raw SSE'), 'per_chunk_us'), 1)} µs; litellm "
            f"{fmt(at(st.get('litellm'), 'per_chunk_us'), 1)} µs = {fmt(at(st.get('litellm'), 'x_floor'), 1)}×",
            le(sr["x_floor"], 2.0))
    for conc, target in (("200", 0.5), ("1000", None)):
        ar = a.get(f"routerlib @{conc}", {})
        fl = a.get(f"aiohttp raw @{conc}", {})
        ll = a.get(f"litellm @{conc}", {})
        if "rps" in ar:
            pct_floor = ar["x_floor_rps"] and ar["x_floor_rps"] * 100
            add(f"Async, {conc} in flight: req/s", f"{fmt(ar['rps'])} req/s = {fmt(pct_floor)}% of aiohttp",
                "≥ 50% of raw aiohttp" if target else "— (reported; no target)",
                f"aiohttp {fmt(fl.get('rps'))} req/s; litellm {fmt(ll.get('rps'))} req/s",
                (ar["x_floor_rps"] is not None and ar["x_floor_rps"] >= target) if target else None)
    for conc in ("200",):
        ar, br = a.get(f"routerlib @{conc}", {}), a.get(f"routerlib redis budget @{conc}", {})
        if "rps" in ar and "rps" in br:
            add(f"Async, {conc} in flight with a RedisLedger budget: req/s",
                f"{fmt(br['rps'])} req/s = {fmt(br['rps'] / ar['rps'] * 100)}% of the same without a budget",
                "— (reported; no target)", f"without a budget {fmt(ar['rps'])} req/s; two Redis round trips "
                f"per call (reserve, settle), neither on the event loop", None)


def _imports(res, add):
    im = res["imports"].get("routerlib", {})
    if "import_ms" in im:
        hx = res["imports"].get("httpx", {})
        add("`import routerlib`: time", f"{fmt(im['import_ms'])} ms = {fmt(im['x_httpx'], 2)}× `import httpx`",
            "≤ 3× `import httpx`", f"httpx {fmt(hx.get('import_ms'))} ms; litellm "
            f"{fmt(at(res['imports'].get('litellm'), 'import_ms'))} ms", le(im["x_httpx"], 3.0),
            f"{fmt(im['modules'])} modules loaded")
        add("`import routerlib`: peak RSS", f"{fmt(im['maxrss_mb'], 1)} MB", "≤ 40 MB",
            f"bare interpreter {fmt(at(res['imports'].get('(bare interpreter)'), 'maxrss_mb'), 1)} MB; httpx "
            f"{fmt(hx.get('maxrss_mb'), 1)} MB; litellm {fmt(at(res['imports'].get('litellm'), 'maxrss_mb'), 1)} MB",
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


def _memory(res, add):
    for key, label in (("sync routerlib", "sync"), ("sync routerlib retries+fallbacks", "sync, retries+fallbacks"),
                       ("async routerlib", "async, 50 in flight"), ("stream routerlib", "stream, 20 chunks")):
        rr = res["rss"].get(key, {})
        if "rss_growth_kb" in rr:
            extra = "" if rr["n"] == 5000 else f" (measured over {rr['n']:,}, scaled)"
            ref = res["rss"].get("async aiohttp raw" if key.startswith("async") else "sync httpx", {})
            add(f"RSS growth per 5,000 calls ({label})", f"{fmt(rr['rss_growth_kb_per_5k'])} KB{extra}",
                "< 512 KB (< 1 MB per 10,000)",
                f"{'aiohttp raw' if key.startswith('async') else 'httpx'}: {fmt(ref.get('rss_growth_kb_per_5k'))} KB",
                rr["rss_growth_kb_per_5k"] < 512,
                f"after a {rr['warmup']:,}-call warm-up, per round {rr['samples_kb']} KB; the next 5,000 calls: "
                f"{fmt(rr['rss_growth2_kb_per_5k'])} KB; Python heap blocks {rr['blocks_growth_per_1k']:+,.0f} then "
                f"{rr['blocks_growth2_per_1k']:+,.0f} per 1k calls")


def _cost_and_ledger(res, add):
    cost = res["micro"].get("cost_routerlib", {})
    lcost = res["micro"].get("cost_litellm", {})
    if "compute_cost_us" in cost:
        add("Cost per call: `compute_cost`", f"{fmt(cost['compute_cost_us'], 2)} µs", "≤ 5 µs",
            f"litellm completion_cost {fmt(lcost.get('completion_cost_us'), 1)} µs; dict-lookup floor "
            f"{fmt(lcost.get('dict_lookup_cost_us'), 2)} µs", cost["compute_cost_us"] <= 5,
            f"best batch {fmt(cost.get('compute_cost_best_us'), 2)} µs; cached+reasoning usage "
            f"{fmt(cost.get('compute_cost_cached_reasoning_us'), 2)} µs; map load "
            f"{fmt(cost.get('model_map_load_ms'), 1)} ms (once)")
    led = res["micro"].get("ledger", {})
    if "sqlite_record_us" in led:
        add("SQLiteLedger.record per call", f"{fmt(led['sqlite_record_us'], 1)} µs", "≤ 200 µs",
            f"MemoryLedger {fmt(led.get('memory_record_us'), 1)} µs", led["sqlite_record_us"] <= 200,
            f"best batch {fmt(led.get('sqlite_record_best_us'), 1)} µs; synchronous=FULL: "
            f"{fmt(led.get('sqlite_record_us_fsync_full'), 1)} µs; SpendRecord() "
            f"{fmt(led.get('spend_record_build_us'), 1)} µs")
    elif led:
        add("SQLiteLedger.record per call", "skipped", "≤ 200 µs", "", "skip", led.get("skipped") or led.get("error"))


def _adapters(res, add):
    p, st, skips = res["pairs"], res["stream"], res["skips"]
    cr = res["calls"].get("sync", {})
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
                f"{fmt(pr['other_median_us'])} µs = {fmt(pr['ratio'], 2)}× OpenAI call",
                "≤ 1.2× OpenAI-compatible call (paired)", f"OpenAI-compatible {fmt(pr['base_median_us'])} µs",
                pr["ratio"] <= 1.2, f"separate processes: "
                f"{fmt(within_round(res['sync_raw'], name, 'routerlib', 'median_us'), 2)}×; calls/call "
                f"{fmt(at(cr.get(name), 'calls_per_unit'))}")
        sx = st.get(name, {})
        if "per_chunk_us" in sx:
            add(f"{prov.title()} adapter: streaming per chunk",
                f"{fmt(sx['per_chunk_us'], 1)} µs = {fmt(sx['x_floor'], 2)}× raw SSE",
                f"≤ 2.0× raw {prov} SSE (httpx)", f"raw {fmt(at(st.get(sx['floor']), 'per_chunk_us'), 1)} µs",
                le(sx["x_floor"], 2.0))


def _observers(res, add):
    """routerlib.otel.OpenTelemetryObserver: paired with the same Client without observers."""
    p = res["pairs"]
    for other, target, limit in (("routerlib otel sdk disabled", "≤ 1.02× the call without it (paired)", 1.02),
                                 ("routerlib otel no-op", "≤ 1.02× the call without it (paired)", 1.02),
                                 ("routerlib otel sdk sampled-out", "reported (no span; metrics recorded)", None),
                                 ("routerlib otel sdk recording", "reported (spans and metrics recorded)", None)):
        pr = p.get(f"routerlib Client vs {other}", {})
        if "ratio" not in pr:
            continue
        label = {"routerlib otel sdk disabled": "OpenTelemetry observer, SDK's no-op tracer (OTEL_SDK_DISABLED)",
                 "routerlib otel no-op": "OpenTelemetry observer, API no-op tracer and meter providers",
                 "routerlib otel sdk sampled-out": "OpenTelemetry observer, SDK sampling nothing, metrics on",
                 "routerlib otel sdk recording": "OpenTelemetry observer, SDK recording"}[other]
        extra = pr["other_median_us"] - pr["base_median_us"]
        add(label, f"{fmt(pr['other_median_us'])} µs = {fmt(pr['ratio'], 3)}× ({extra:+.1f} µs)",
            target, f"Client() without observers {fmt(pr['base_median_us'])} µs",
            None if limit is None else pr["ratio"] <= limit, f"p99 paired {fmt(pr['ratio_p99'], 2)}×; per round "
            f"{pr['ratios']}")


def _cache(res, add):
    """The response cache: a hit in memory and in Redis (micro.py cache), a miss paired with the same call."""
    c = res["micro"].get("cache", {})
    if "memory_hit_us" in c:
        add("Cache hit, MemoryCache: a whole completion()", f"{fmt(c['memory_hit_us'], 1)} µs", "≤ 50 µs",
            f"the same completion() through an in-memory transport, no cache: "
            f"{fmt(c.get('in_memory_transport_call_no_cache_us'), 1)} µs", c["memory_hit_us"] <= 50,
            f"best batch {fmt(c.get('memory_hit_best_us'), 1)} µs; SQLiteCache hit {fmt(c.get('sqlite_hit_us'), 1)} µs")
    if "redis_roundtrips_per_hit" in c:
        rt = c["redis_roundtrips_per_hit"]
        add("Cache hit, RedisCache: round trips per hit", f"{fmt(rt, 2)} ({fmt(c.get('redis_hit_us'), 1)} µs)",
            "≤ 1 Redis round trip", f"one raw redis-py GET: {fmt(c.get('redis_roundtrip_us'), 1)} µs", rt <= 1.0,
            f"counted on the client's connection; best batch {fmt(c.get('redis_hit_best_us'), 1)} µs")
    elif c.get("redis_skipped"):
        add("Cache hit, RedisCache: round trips per hit", "skipped", "≤ 1 Redis round trip", "", "skip",
            c["redis_skipped"])
    pr = res["pairs"].get("routerlib distinct vs routerlib cache miss", {})
    if "ratio" in pr:
        extra = pr["other_median_us"] - pr["base_median_us"]
        add("Cache miss (MemoryCache): looked up, sent, stored",
            f"{fmt(pr['other_median_us'])} µs = {fmt(pr['ratio'], 3)}× ({extra:+.1f} µs)",
            "≤ 1.03× the same call without a cache (paired)", f"no cache {fmt(pr['base_median_us'])} µs",
            pr["ratio"] <= 1.03, f"p99 paired {fmt(pr['ratio_p99'], 2)}×; per round {pr.get('ratios')}")


def _reuse(res, add):
    """Connection reuse: a pooled client opens no new connection per call once warm."""
    s, a, st = res["sync"], res["async"], res["stream"]
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
            f"litellm sync {fmt(at(s.get('litellm'), 'conns_per_call'), 2)}, stream "
            f"{fmt(at(st.get('litellm'), 'conns_per_call'), 2)}", worst <= 0.005)


PICK_STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing",
                   "usage-based-routing")


def _router(res, add):
    """routerlib.Router (issue 11): picking, the call through a Router, async, Redis state, the chaos run."""
    r = res.get("router", {})
    pick = r.get("pick", {})
    for strategy in PICK_STRATEGIES:
        at100, at1000 = pick.get(f"{strategy} @100"), pick.get(f"{strategy} @1000")
        if not at100 or not at1000:
            continue
        growth = at1000["pick_us"] / at100["pick_us"]
        add(f"Router pick, {strategy}, 100 deployments", f"{fmt(at100['pick_us'], 1)} µs",
            "≤ 10 µs at 100; ≤ 10× that at 1,000 (linear)", "LiteLLM's stateful strategies: 580 µs at 100, "
            "51,000 µs at 1,000 (#21270)", at100["pick_us"] <= 10 and growth <= 10,
            f"1,000 deployments: {fmt(at1000['pick_us'], 1)} µs ({growth:.1f}×); best batches "
            f"{fmt(at100['best_us'], 1)} / {fmt(at1000['best_us'], 1)} µs")
    pr = res["pairs"].get("routerlib Client vs routerlib Router", {})
    if "ratio" in pr:
        add("A call through the Router (in-memory state)",
            f"{fmt(pr['other_median_us'])} µs = {fmt(pr['ratio'], 3)}× the direct call (paired)",
            "≤ 1.05× the same direct routerlib call", f"Client {fmt(pr['base_median_us'])} µs",
            pr["ratio"] <= 1.05, f"per round {pr['ratios']}; p99 {fmt(pr['ratio_p99'], 2)}×")
    rd = r.get("redis", {})
    if "redis_ratio" in rd:
        add("A call through the Router (Redis state)", f"{fmt(rd['redis_ratio'], 2)}× the direct call; "
            f"{fmt(rd['redis_round_trips_per_call'], 2)} Redis round trips per call", "reported; ≤ 2 round trips",
            f"in-memory in the same process: {fmt(rd['memory_ratio'], 3)}×",
            rd["redis_round_trips_per_call"] <= 2.0,
            f"medians µs: {', '.join(f'{k} {fmt(v)}' for k, v in rd['median_us'].items())}")
    elif rd:
        add("A call through the Router (Redis state)", "skipped", "reported", "", "skip",
            rd.get("skipped") or rd.get("error"))
    ar, direct = res["async"].get("routerlib Router @200", {}), res["async"].get("routerlib @200", {})
    if "rps" in ar and "rps" in direct:
        share = ar["rps"] / direct["rps"]
        add("Async, 200 in flight through the Router", f"{fmt(ar['rps'])} req/s = {share:.0%} of direct",
            "≥ 80% of the direct routerlib figure", f"routerlib {fmt(direct['rps'])} req/s", share >= 0.8)
    _chaos(r.get("chaos", {}), add)


def _chaos(chaos, add):
    for strategy in ("simple-shuffle", "latency-based-routing"):
        mine, theirs = chaos.get(f"routerlib {strategy}", {}), chaos.get(f"litellm {strategy}", {})
        if "success_rate" not in mine:
            continue
        ok_theirs = "success_rate" in theirs
        shares = ", ".join(f"{k} {v:.0%}" for k, v in mine["share"].items())
        better = (ok_theirs and mine["upstream_per_success"] < theirs["upstream_per_success"]
                  and mine["p99_ms"] < theirs["p99_ms"])
        add(f"Chaos run ({strategy}): 2,000 calls at 50 concurrent, num_retries=2",
            f"{mine['success_rate']:.2%} ok; p50 {fmt(mine['p50_ms'])} ms, p99 {fmt(mine['p99_ms'])} ms; "
            f"{fmt(mine['upstream_per_success'], 3)} upstream requests per success",
            "100% success; fewer upstream requests per success and a lower p99 than LiteLLM",
            (f"LiteLLM Router: {theirs['success_rate']:.2%} ok; p50 {fmt(theirs['p50_ms'])} ms, p99 "
             f"{fmt(theirs['p99_ms'])} ms; {fmt(theirs['upstream_per_success'], 3)} per success"
             if ok_theirs else f"LiteLLM: {theirs.get('error', 'not run')}"),
            mine["success_rate"] == 1.0 and better, f"routerlib traffic: {shares}")
