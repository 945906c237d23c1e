"""The HTML spend report: escaped, self-contained, and, loaded in a real headless Chromium, rendering bars
whose number and heights match the ledger and totals that equal the ledger's exact totals, with no request
to anything but the file itself."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, chromium_binary
from cli_helpers import make_records, run_cli

from routerlib.cli.spend_html import CHART, GROUPINGS, render
from routerlib.cli.spend_summary import Aggregator
from routerlib.spend import SpendRecord, SQLiteLedger

RECORDS = make_records(240, seed=5, days=12, unpriced_every=17)
# Eleven models, so the cheapest three are drawn as "other".
MANY_MODELS = [SpendRecord(call_id=f"m{i}", timestamp=1_764_547_200.0 + i * 86_400, model=f"model-{i:02d}",
                           provider="acme", user="u", cost=Decimal(i + 1) / 1000,
                           cost_breakdown={"output": str(Decimal(i + 1) / 1000)}) for i in range(11)]


def build(records: list[SpendRecord], **kw: Any) -> str:
    agg = Aggregator(*GROUPINGS)
    agg.add_all(r.to_dict() for r in records)
    return render(agg, source="spend.db", now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), **kw)


def test_page_is_self_contained() -> None:
    page = build(RECORDS)
    assert "default-src 'none'" in page and "<script" not in page
    assert not re.search(r"""(?:src|href)\s*=|url\(|@import""", page)  # nothing to fetch, not even a font
    assert page.count("<svg") == 1 and page.rstrip().endswith("</html>")


def test_an_empty_ledger_still_makes_a_page() -> None:
    page = build([])
    assert 'id="total-cost">0<' in page and 'class="bar"' not in page and page.rstrip().endswith("</html>")


def test_names_from_the_ledger_are_escaped() -> None:
    evil = SpendRecord(call_id="x", timestamp=1_764_547_200.0, model='m"><img src=x onerror=alert(1)>',
                       provider="p", user="<script>alert(1)</script>", team="a&b", cost=Decimal("0.5"),
                       cost_breakdown={"input": "0.5"})
    page = build([evil], query="user=<i>x</i>")
    assert "<script>alert" not in page and "<img" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a&amp;b" in page


def test_other_models_are_merged_in_the_chart() -> None:
    page = build(MANY_MODELS)
    assert len(re.findall(r'class="bar"', page)) == 11  # one call a day: each its own bar
    assert page.count('data-model="other"') == 3 and 'data-model="acme/model-10"' in page
    assert "acme/model-00" not in page.split("<ul class=\"legend\">")[1].split("</ul>")[0]


@pytest.fixture(scope="module")
def chromium() -> Iterator[str]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium on PATH: install Debian's chromium package (.ci/run does) to test the HTML report "
                    "in a real browser")
    yield binary


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SQLiteLedger]:
    folder = tmp_path_factory.mktemp("html")
    ledger = SQLiteLedger(folder / "spend.db")
    for rec in RECORDS:
        ledger.record(rec)
    page = folder / "report.html"
    result = run_cli("spend", "--ledger", str(folder / "spend.db"), "--html", str(page))
    assert result.returncode == 0, result.stderr
    return page, ledger


BARS = """Array.from(document.querySelectorAll('#chart rect.bar')).map(r => {
  const box = r.getBoundingClientRect();
  return {day: r.dataset.day, model: r.dataset.model, cost: r.dataset.cost, height: box.height, bottom: box.bottom};
})"""


def test_chromium_renders_the_report(chromium: str, report: tuple[Path, SQLiteLedger]) -> None:
    page, ledger = report
    with Browser(chromium) as browser:
        browser.load(page.as_uri())
        bars = browser.evaluate(BARS)
        svg = browser.evaluate("(() => { const b = document.getElementById('chart').getBoundingClientRect();"
                               " return {width: b.width, height: b.height}; })()")
        axis_max = float(browser.evaluate("document.getElementById('chart').dataset.axisMax"))
        text = browser.evaluate("""({
            total: document.getElementById('total-cost').textContent,
            calls: document.getElementById('total-calls').textContent,
            days: Array.from(document.querySelectorAll('#days tbody tr')).map(
                tr => [tr.dataset.day, tr.querySelector('.cost').textContent]),
            users: Array.from(document.querySelectorAll('#top-users tbody tr')).map(
                tr => [tr.querySelector('.name').textContent, tr.querySelector('.cost').textContent]),
            teams: document.querySelectorAll('#top-teams tbody tr').length,
            buckets: Array.from(document.querySelectorAll('#buckets tbody tr')).map(
                tr => [tr.dataset.bucket, tr.querySelector('.cost').textContent]),
        })""")
        requests, console = browser.requests, browser.console

    # Nothing but the file itself was requested; nothing complained.
    assert requests == [page.as_uri()] and console == []
    # Totals in the page are the ledger's exact totals.
    assert Decimal(text["total"]) == ledger.total() and text["calls"] == f"{len(RECORDS):,}"
    assert {day: Decimal(cost) for day, cost in text["days"]} == ledger.totals_by_day()
    assert all(Decimal(cost) == ledger.total(user=user) for user, cost in text["users"]) and len(text["users"]) == 4
    assert text["teams"] == 3  # search, ads and "(none)"
    buckets = {b: Decimal(c) for b, c in text["buckets"]}
    assert sum(buckets.values()) == ledger.total() and set(buckets) == {"input", "cached_input", "output"}

    # One bar per day and model that cost something, each as tall as its cost on the axis.
    expected: dict[tuple[str, str], Decimal] = {}
    for rec in ledger.records():
        if rec.cost:
            key = (dt.datetime.fromtimestamp(rec.timestamp, dt.timezone.utc).date().isoformat(),
                   f"{rec.provider}/{rec.model}")
            expected[key] = expected.get(key, Decimal(0)) + rec.cost
    assert {(b["day"], b["model"]): Decimal(b["cost"]) for b in bars} == expected
    scale = svg["width"] / CHART["width"]  # the chart may be drawn narrower than its viewBox
    plot_height = (CHART["height"] - CHART["top"] - CHART["bottom"]) * scale
    for bar in bars:
        assert bar["height"] == pytest.approx(plot_height * float(bar["cost"]) / axis_max, abs=0.05)
    # Bars of one day are stacked: the tallest stack reaches most of the axis, none goes past it.
    per_day: dict[str, float] = {}
    for bar in bars:
        per_day[bar["day"]] = per_day.get(bar["day"], 0.0) + bar["height"]
    assert 0.4 * plot_height < max(per_day.values()) <= plot_height + 0.05
