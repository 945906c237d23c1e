"""The HTML spend report of ``routerlib spend --html``: one self-contained page, no script, no network.

What it shows: the totals; spend per day stacked by model (an SVG bar chart, the eight dearest
models in colour and the rest as "other"); spend per day; the top users and teams; and the cost
per pricing bucket (input, cached input, output, ...).

Why it is built this way:

- Everything is inline (CSS in a ``<style>``, the chart as ``<svg>``) and the page sets a
  Content-Security-Policy of ``default-src 'none'``: it opens from a file, a mail attachment or
  an air-gapped machine, and a browser loads nothing else for it, even if a name in the ledger
  tried to make it.
- No JavaScript: the chart is drawn here, so the page renders where scripts are blocked (mail
  clients, file previews) and prints as it shows. Hovering a bar shows its SVG ``<title>``.
- Every amount written as text is the exact ``Decimal`` sum; floats are used only for the
  geometry of the bars (a bar's height is proportional to its cost, to well under a pixel).
- Every name comes from the ledger and is escaped (``html.escape``) wherever it is written.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

from ._output import money
from .spend_summary import Aggregator, Totals, sort_groups

__all__ = ["CHART", "GROUPINGS", "render"]

#: The groupings the page needs, read in the same pass as the command's own.
GROUPINGS: list[tuple[str, ...]] = [("day", "model"), ("day",), ("user",), ("team",)]
CHART = {"width": 960.0, "height": 320.0, "left": 72.0, "right": 16.0, "top": 12.0, "bottom": 44.0}
_TOP = 10
_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")
_OTHER_COLOUR = "#9c9c9c"
_OTHER = "other"
_MAX_DAYS_SPANNED = 400  # beyond this the axis shows only the days that have calls
_BUCKET_NAMES = {"input": "input", "cached_input": "cached input", "cache_creation": "cache writes",
                 "output": "output", "reasoning": "reasoning", "audio": "audio", "time": "per second"}

_STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7; --card: #f5f5f7; }
@media (prefers-color-scheme: dark) { :root { --fg: #f5f5f7; --muted: #a1a1a6; --line: #424245; --card: #1c1c1e; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 2rem auto;
       max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 2rem 0 .5rem; }
.meta { color: var(--muted); margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1.25rem; }
.card { background: var(--card); border-radius: 8px; padding: .6rem .9rem; min-width: 9rem; }
.card .label { color: var(--muted); font-size: .8rem; } .card .value { font-size: 1.2rem; font-weight: 600; }
table { border-collapse: collapse; width: 100%; } th, td { padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
th { text-align: left; color: var(--muted); font-weight: 500; } td.num, th.num { text-align: right;
     font-variant-numeric: tabular-nums; }
.share { width: 28%; } .share span { display: block; height: .6rem; border-radius: 3px; background: #4e79a7; }
svg#chart { max-width: 100%; height: auto; } svg text { fill: var(--muted); font-size: 11px; }
svg .grid { stroke: var(--line); }
.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; margin: .4rem 0 0; padding: 0; list-style: none; }
.legend i { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .35rem;
            vertical-align: -1px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)




def render(agg: Aggregator, *, source: str, query: str = "", now: dt.datetime | None = None) -> str:
    """The whole page for an ``Aggregator`` that was built with ``GROUPINGS`` among its groupings."""
    groups = {g: agg.groups[agg.groupings.index(g)] for g in GROUPINGS}
    generated = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    covered = ""
    if agg.first is not None and agg.last is not None:
        covered = f" · calls from {_day(agg.first)} to {_day(agg.last)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>routerlib spend · {_e(source)}</title><style>{_STYLE}</style></head><body>",
        "<h1>routerlib spend</h1>",
        f'<p class="meta">ledger <b>{_e(source)}</b>{" · " + _e(query) if query else ""}{covered}</p>',
        f'<p class="meta">generated {generated}; amounts in USD, exact; times in UTC</p>',
        _cards(agg.overall),
        "<h2>Spend per day, by model</h2>",
        _chart(groups[("day", "model")], groups[("day",)]),
        "<h2>Spend per day</h2>",
        _day_table(groups[("day",)]),
        "<h2>Top users</h2>",
        _top_table("user", groups[("user",)], agg.overall.cost),
        "<h2>Top teams</h2>",
        _top_table("team", groups[("team",)], agg.overall.cost),
        "<h2>Cost per bucket</h2>",
        _bucket_table(agg.overall),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")


def _cards(total: Totals) -> str:
    cards = [
        ("total-cost", "spend (USD)", money(total.cost)),
        ("total-calls", "calls", f"{total.calls:,}"),
        ("total-prompt", "prompt tokens", f"{total.prompt_tokens:,}"),
        ("total-completion", "completion tokens", f"{total.completion_tokens:,}"),
        ("total-retried", "calls retried", f"{total.retried_calls:,}"),
        ("total-failed", "failed attempts", f"{total.failed_attempts:,}"),
    ]
    if total.unpriced_calls:
        cards.append(("total-unpriced", "calls with no price", f"{total.unpriced_calls:,}"))
    items = "".join(f'<div class="card"><div class="label">{_e(label)}</div>'
                    f'<div class="value" id="{key}">{_e(value)}</div></div>' for key, label, value in cards)
    return f'<div class="cards">{items}</div>'


def _axis_days(days: Sequence[str]) -> list[str]:
    """Every day from the first to the last (gaps shown as gaps), unless that span is very long."""
    if not days:
        return []
    first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    span = (last - first).days + 1
    if span > _MAX_DAYS_SPANNED:
        return list(days)
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(span)]


def _model_colours(by_day_model: Mapping[tuple[str, ...], Totals]) -> dict[str, str]:
    """The dearest models get a colour each; the rest are drawn as "other"."""
    per_model: dict[str, Decimal] = {}
    for (_, model), totals in by_day_model.items():
        per_model[model] = per_model.get(model, Decimal(0)) + totals.cost
    ranked = sorted((m for m in per_model if per_model[m]), key=lambda m: (-per_model[m], m))
    colours = {m: _COLOURS[i] for i, m in enumerate(ranked[: len(_COLOURS)])}
    if len(ranked) > len(_COLOURS):
        colours.update({m: _OTHER_COLOUR for m in ranked[len(_COLOURS):]})
    return colours


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (an axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _stacks(by_day_model: Mapping[tuple[str, ...], Totals], colours: Mapping[str, str]
            ) -> dict[str, list[tuple[str, Decimal]]]:
    """Per day, its (series, cost) pieces, biggest series first; models without a colour merged as "other"."""
    stacks: dict[str, dict[str, Decimal]] = {}
    for (day, model), totals in by_day_model.items():
        if totals.cost:
            series = model if colours.get(model) != _OTHER_COLOUR else _OTHER
            day_stack = stacks.setdefault(day, {})
            day_stack[series] = day_stack.get(series, Decimal(0)) + totals.cost
    order = {m: i for i, m in enumerate(colours)}
    return {day: sorted(pieces.items(), key=lambda p: order.get(p[0], len(order)))
            for day, pieces in stacks.items()}


def _chart(by_day_model: Mapping[tuple[str, ...], Totals], by_day: Mapping[tuple[str, ...], Totals]) -> str:
    days = _axis_days(sorted(day for (day,) in by_day))
    colours = _model_colours(by_day_model)
    stacks = _stacks(by_day_model, colours)
    c = CHART
    plot_w, plot_h = c["width"] - c["left"] - c["right"], c["height"] - c["top"] - c["bottom"]
    peak = max((float(by_day[(d,)].cost) for d in days if (d,) in by_day), default=0.0)
    top = _nice_ceiling(peak)
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.8, 0.5)
    out = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {c["width"]:g} {c["height"]:g}" '
           f'width="{c["width"]:g}" height="{c["height"]:g}" role="img" data-axis-max="{top!r}" '
           f'aria-label="spend per day, stacked by model">']
    for i in range(5):  # grid lines and the axis labels at 0, 1/4 ... of the axis maximum
        y = c["top"] + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{c["left"]:g}" x2="{c["width"] - c["right"]:g}" '
                   f'y1="{y:.3f}" y2="{y:.3f}"/>')
        out.append(f'<text x="{c["left"] - 6:g}" y="{y + 4:.3f}" text-anchor="end">${top * i / 4:.6g}</text>')
    label_every = max(1, math.ceil(len(days) / 12))
    for i, day in enumerate(days):
        x = c["left"] + i * slot + (slot - bar_w) / 2
        base = c["top"] + plot_h
        for series, cost in stacks.get(day, ()):
            height = plot_h * float(cost) / top
            base -= height
            colour = colours.get(series, _OTHER_COLOUR)
            out.append(f'<rect class="bar" data-day="{day}" data-model="{_e(series)}" data-cost="{money(cost)}" '
                       f'x="{x:.3f}" y="{base:.3f}" width="{bar_w:.3f}" height="{height:.3f}" fill="{colour}">'
                       f"<title>{day} · {_e(series)}: ${money(cost)}</title></rect>")
        if i % label_every == 0:
            out.append(f'<text x="{x + bar_w / 2:.3f}" y="{c["height"] - c["bottom"] + 16:g}" '
                       f'text-anchor="middle">{day[5:]}</text>')
    out.append("</svg>")
    legend = [(m, col) for m, col in colours.items() if col != _OTHER_COLOUR]
    if any(col == _OTHER_COLOUR for col in colours.values()):
        legend.append((_OTHER, _OTHER_COLOUR))
    items = "".join(f'<li><i style="background:{col}"></i>{_e(m)}</li>' for m, col in legend)
    return "".join(out) + f'<ul class="legend">{items}</ul>'


def _day_table(by_day: Mapping[tuple[str, ...], Totals]) -> str:
    rows = "".join(f'<tr data-day="{_e(day)}"><td>{_e(day)}</td><td class="num">{t.calls:,}</td>'
                   f'<td class="num">{t.prompt_tokens + t.completion_tokens:,}</td>'
                   f'<td class="num cost">{money(t.cost)}</td></tr>'
                   for (day,), t in sort_groups(by_day, ("day",)))
    return ('<table id="days"><thead><tr><th>day</th><th class="num">calls</th><th class="num">tokens</th>'
            f'<th class="num">cost</th></tr></thead><tbody>{rows}</tbody></table>')


def _share_cell(part: Decimal, whole: Decimal) -> str:
    pct = float(part / whole * 100) if whole else 0.0
    return f'<td class="share" title="{pct:.1f}%"><span style="width:{pct:.2f}%"></span></td>'


def _top_table(key: str, groups: Mapping[tuple[str, ...], Totals], whole: Decimal) -> str:
    ranked = sort_groups(groups, (key,))
    shown, rest = ranked[:_TOP], ranked[_TOP:]
    rows = [f'<tr><td class="name">{_e(name)}</td><td class="num">{t.calls:,}</td>'
            f'<td class="num">{t.prompt_tokens + t.completion_tokens:,}</td>'
            f'<td class="num cost">{money(t.cost)}</td>{_share_cell(t.cost, whole)}</tr>'
            for (name,), t in shown]
    if rest:
        rest_cost = sum((t.cost for _, t in rest), Decimal(0))
        rows.append(f'<tr class="rest"><td>{len(rest)} more</td><td class="num">{sum(t.calls for _, t in rest):,}'
                    f'</td><td></td><td class="num cost">{money(rest_cost)}</td>{_share_cell(rest_cost, whole)}</tr>')
    return (f'<table id="top-{key}s"><thead><tr><th>{key}</th><th class="num">calls</th><th class="num">tokens</th>'
            f'<th class="num">cost</th><th>share</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _bucket_table(total: Totals) -> str:
    order = list(_BUCKET_NAMES)
    buckets = sorted(total.cost_by_bucket.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99,
                                                                   kv[0]))
    rows = "".join(f'<tr data-bucket="{_e(b)}"><td>{_e(_BUCKET_NAMES.get(b, b))}</td>'
                   f'<td class="num cost">{money(amount)}</td>{_share_cell(amount, total.cost)}</tr>'
                   for b, amount in buckets)
    return ('<table id="buckets"><thead><tr><th>bucket</th><th class="num">cost</th><th>share</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")
