"""Aggregation for run.py: raw worker samples (one per round) -> one row per client, medians over rounds.

Every ``agg_*`` takes ``{key: [sample per round]}`` and returns ``{key: row}``; a key none of whose samples
succeeded gets ``{"error": <the last sample's error>}``. Ratios to a floor are taken within a round, then the
median over rounds (``within_round``).
"""
from __future__ import annotations

import statistics

med = statistics.median

# The raw SSE floor each streaming client is compared with (floors have none).
STREAM_FLOOR = {"routerlib": "httpx raw SSE", "litellm": "httpx raw SSE",
                "routerlib anthropic": "httpx raw SSE anthropic", "routerlib gemini": "httpx raw SSE gemini"}


def ok_samples(ss):
    return [s for s in ss if "error" not in s]


def failed(ss):
    """The row of a key none of whose samples succeeded."""
    return {"error": ss[-1].get("error") if ss else "no sample"}


def rows_by_key(raw, build):
    """``{key: build(key, good samples)}``, or ``failed(...)`` for a key with no good sample."""
    rows = {}
    for key, ss in raw.items():
        ok = ok_samples(ss)
        rows[key] = build(key, ok) if ok else failed(ss)
    return rows


def med_of(ok, key):
    return med(s[key] for s in ok)


def max_of(ok, key):
    return max(s[key] for s in ok)


def within_round(raw, name, floor, key, invert=False):
    """Median over rounds of (name's figure / floor's figure) taken in the same round."""
    ratios = [(f[key] / s[key]) if invert else (s[key] / f[key])
              for s, f in zip(raw.get(name, []), raw.get(floor, []), strict=False)
              if "error" not in s and "error" not in f]
    return med(ratios) if ratios else None


def agg_sync(raw):
    def row(n, ok):
        return {"median_us": med_of(ok, "median_us"), "p99_us": med_of(ok, "p99_us"),
                "spread": (min(s["median_us"] for s in ok), max_of(ok, "median_us")),
                "x_httpx": within_round(raw, n, "httpx", "median_us"),
                "x_httpx_p99": within_round(raw, n, "httpx", "p99_us"),
                "main_cpu_us": med_of(ok, "main_cpu_per_call_us"),
                "other_cpu_us": max(0.0, med(s["cpu_per_call_us"] - s["main_cpu_per_call_us"] for s in ok)),
                "cold_start_ms": med_of(ok, "cold_start_us") / 1e3,
                "conns_per_call": max_of(ok, "conns_per_call"),
                "server_cpu_us": med_of(ok, "server_cpu_us_per_call"),
                "stderr_lines": max_of(ok, "stderr_lines"), "rounds": len(ok)}
    return rows_by_key(raw, row)


def agg_pairs(raw):
    def row(_, ok):
        return {"ratio": med_of(ok, "ratio"), "ratio_p99": med_of(ok, "ratio_p99"),
                "ratios": [round(s["ratio"], 3) for s in ok],
                "base_median_us": med(s["base"]["median_us"] for s in ok),
                "other_median_us": med(s["other"]["median_us"] for s in ok),
                "conns_per_call": max_of(ok, "conns_per_call")}
    return rows_by_key(raw, row)


def agg_async(raw, floor="aiohttp raw"):
    """One row per (client, concurrency): ``"<client> @<N>"``; a client with no good sample keeps one error row."""
    rows = {}
    for n, ss in raw.items():
        ok = ok_samples(ss)
        if not ok:
            rows[n] = failed(ss)
            continue
        for c in sorted({c for s in ok for c in s if c.isdigit()}, key=int):
            pairs = [(s[c], f[c]) for s, f in zip(ss, raw[floor], strict=False) if c in s and c in f]
            okc = [s[c] for s in ok if c in s]
            rows[f"{n} @{c}"] = {"client": n, "conc": int(c), "wall_ms": med_of(okc, "wall_ms"),
                                 "rps": med_of(okc, "rps"),
                                 "x_floor_rps": med(s["rps"] / f["rps"] for s, f in pairs) if pairs else None,
                                 "cold_wall_ms": med_of(okc, "cold_wall_ms"),
                                 "worst_warm_ms": max(max(s["walls_ms"]) for s in okc),
                                 "conns_per_call": max_of(okc, "conns_per_call"),
                                 "server_busy": med_of(okc, "server_busy")}
    return rows


def agg_stream(raw):
    def row(n, ok):
        r = {k: med_of(ok, k) for k in ("stream_median_us", "one_chunk_median_us", "per_chunk_us",
                                        "marginal_per_chunk_us", "cpu_per_stream_us")}
        floor = STREAM_FLOOR.get(n)
        r.update(conns_per_call=max_of(ok, "conns_per_call"), floor=floor,
                 x_floor=within_round(raw, n, floor, "per_chunk_us") if floor else None)
        return r
    return rows_by_key(raw, row)


def agg_imports(raw):
    def row(m, ok):
        r = {k: med_of(ok, k) for k in ("import_ms", "process_ms", "maxrss_mb", "modules")}
        r["x_httpx"] = within_round(raw, m, "httpx", "import_ms")
        return r
    return rows_by_key(raw, row)


def agg_rss(raw):
    def row(_, ok):
        n = ok[0]["n"]
        return {"n": n, "warmup": ok[0]["warmup"], "rss_growth_kb": med_of(ok, "rss_growth_kb"),
                "rss_growth_kb_per_5k": med_of(ok, "rss_growth_kb") * 5000 / n,
                "rss_growth2_kb_per_5k": med_of(ok, "rss_growth2_kb") * 5000 / n,
                "samples_kb": [s["rss_growth_kb"] for s in ok], "samples2_kb": [s["rss_growth2_kb"] for s in ok],
                "blocks_growth_per_1k": med_of(ok, "blocks_growth") * 1000 / n,
                "blocks_growth2_per_1k": med_of(ok, "blocks_growth2") * 1000 / n,
                "conns_per_call": max_of(ok, "conns_per_call"),
                "rss_end_mb": med_of(ok, "rss_end_mb")}
    return rows_by_key(raw, row)
