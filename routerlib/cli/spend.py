"""``routerlib spend``: what calls cost, from an SQLite or Redis ledger, as a table, CSV, JSON or an HTML page.

The ledger is read through ``routerlib.spend.report`` (an SQLite file read-only, so a report
never changes it), one page of records at a time, into ``spend_summary.Aggregator``: exact
``Decimal`` sums per group. Reading shows a progress bar on stderr once it takes a moment.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from . import _args
from ._output import Column, CommandError, UsageError, csv_cell, money, print_table, progress
from .spend_summary import TOKEN_FIELDS, Aggregator, Totals, sort_groups

if TYPE_CHECKING:
    from ..spend.report import RecordReader, ReportQuery

__all__ = ["register", "run"]

HELP = "spend totals from a ledger, grouped by day/week/month and by user/team/tag/model/provider"
EPILOG = """\
examples:
  routerlib spend --ledger spend.db                      spend per day
  routerlib spend --ledger spend.db --by month,team --since 2026-01-01
  routerlib spend --ledger spend.db --by model --user alice --format csv > alice.csv
  routerlib spend --redis redis://127.0.0.1:6379/0 --by week --format json
  routerlib spend --ledger spend.db --since 30d --html report.html

Times are UTC. --since is inclusive; --until is exclusive, except that a bare date includes its
whole day. Costs are exact decimal USD; calls with no known price are counted as unpriced.
"""
_COST_BUCKETS = ("input", "cached_input", "cache_creation", "output", "reasoning", "audio", "time")
_BATCH = 256
_ZERO = Decimal(0)


def register(commands: Any) -> None:
    parser = commands.add_parser("spend", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ledger", metavar="PATH", help="an SQLiteLedger file (opened read-only)")
    source.add_argument("--redis", metavar="URL", help="a RedisLedger's server, e.g. redis://host:6379/0")
    parser.add_argument("--prefix", default="routerlib:", help="the RedisLedger's key prefix (default: %(default)s)")
    parser.add_argument("--by", type=_args.grouping, default=("day",), metavar="KEYS",
                        help="group by day|week|month and/or user|team|tag|model|provider, comma-separated, "
                             "or total (default: day)")
    parser.add_argument("--since", type=_args.since_time, metavar="TIME", help="from this time (inclusive)")
    parser.add_argument("--until", type=_args.until_time, metavar="TIME", help="up to this time (exclusive)")
    for name in ("user", "team", "tag", "model", "provider"):
        parser.add_argument(f"--{name}", metavar=name.upper(), help=f"only calls with this {name}")
    parser.add_argument("--format", choices=("table", "csv", "json"),
                        help="output format on stdout (default: table; none when --html is given)")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML report to FILE")
    parser.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                        help="progress bar on stderr: on a terminal when reading takes a moment (auto)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..spend.report import ReportQuery

    if args.since is not None and args.until is not None and args.since >= args.until:
        raise UsageError("--since must be before --until")
    query = ReportQuery(since=args.since, until=args.until, user=args.user, team=args.team, tag=args.tag,
                        model=args.model, provider=args.provider)
    reader = _open(args, query)
    fmt = args.format or (None if args.html else "table")
    groupings: list[tuple[str, ...]] = [args.by]
    if args.html:
        from .spend_html import GROUPINGS

        groupings += GROUPINGS
    try:
        agg = _read(reader, groupings, args.progress)
    finally:
        reader.close()
    source = args.ledger if args.ledger is not None else _redacted(args.redis)
    if args.html:
        _write_html(args, agg, source, query)
    if fmt is not None:
        _print(fmt, args.by, agg, query, source, sys.stdout)
    return 0


def _redacted(url: str) -> str:
    from ..spend.report import redact_url

    return redact_url(url)


def _open(args: argparse.Namespace, query: ReportQuery) -> RecordReader:
    from ..spend.report import LedgerReadError, RedisReader, SQLiteReader, redact_url

    try:
        if args.ledger is not None:
            return SQLiteReader(args.ledger, query)
    except LedgerReadError as exc:
        raise UsageError(str(exc)) from None
    from urllib.parse import urlsplit

    if urlsplit(args.redis).scheme not in ("redis", "rediss", "unix"):
        raise UsageError(f"--redis takes a redis://, rediss:// or unix:// URL, not {redact_url(args.redis)!r}")
    try:
        return RedisReader(args.redis, query, prefix=args.prefix)
    except LedgerReadError as exc:
        raise UsageError(str(exc)) from None  # construction only parses the URL: a bad one is bad usage


def _read(reader: RecordReader, groupings: list[tuple[str, ...]], mode: str) -> Aggregator:
    """Every matching record into an ``Aggregator``, advancing the progress bar in batches."""
    from ..spend.report import LedgerReadError

    agg = Aggregator(*groupings)
    try:
        total = reader.count()
        with progress(total, f"reading {total:,} records", mode=mode) as advance:
            pending = 0
            for row in reader.rows():
                agg.add(row)
                pending += 1
                if pending == _BATCH:
                    advance(pending)
                    pending = 0
            advance(pending)
    except LedgerReadError as exc:
        raise CommandError(str(exc)) from None
    return agg


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def describe(query: ReportQuery) -> str:
    """The query in words, for titles: "2026-11-01T00:00:00Z to ..., user=alice"."""
    parts = []
    if query.since is not None or query.until is not None:
        parts.append(f"{_iso(query.since) or 'the start'} to {_iso(query.until) or 'now'}")
    for name in ("user", "team", "tag", "model", "provider"):
        value = getattr(query, name)
        if value is not None:
            parts.append(f"{name}={value}")
    return ", ".join(parts)


def _print(fmt: str, keys: tuple[str, ...], agg: Aggregator, query: ReportQuery, source: str, out: IO[str]) -> None:
    rows = sort_groups(agg.groups[0], keys)
    if fmt == "json":
        doc = {
            "ledger": source,
            "query": {"since": _iso(query.since), "until": _iso(query.until),
                      **{n: getattr(query, n) for n in ("user", "team", "tag", "model", "provider")}},
            "by": list(keys),
            "groups": [{**dict(zip(keys, combo, strict=True)), **totals.to_dict()} for combo, totals in rows],
            "total": agg.overall.to_dict(),
        }
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "csv":
        _csv(keys, rows, out)
    else:
        _table(keys, rows, agg.overall, query, out)


#: (header, field, drop): on a narrow terminal the highest ``drop`` goes first (see ``Column``).
_TABLE_COUNTS = (("calls", "calls", 0), ("retried", "retried_calls", 4), ("failed att.", "failed_attempts", 5),
                 ("prompt", "prompt_tokens", 3), ("completion", "completion_tokens", 3),
                 ("cached", "cached_tokens", 6), ("cache write", "cache_creation_tokens", 7),
                 ("reasoning", "reasoning_tokens", 7), ("unpriced", "unpriced_calls", 0))
_ALWAYS = ("calls", "retried_calls", "failed_attempts", "prompt_tokens", "completion_tokens")
_CSV_COUNTS = ("calls", "attempts", "retried_calls", "failed_attempts", "unpriced_calls", "estimated_calls")


def _csv(keys: tuple[str, ...], rows: list[tuple[tuple[str, ...], Totals]], out: IO[str]) -> None:
    """One row per group (no total row: a spreadsheet sums the column without counting it twice)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*keys, *_CSV_COUNTS, *TOKEN_FIELDS, "cost", *(f"cost_{b}" for b in _COST_BUCKETS)])
    for combo, totals in rows:
        data = totals.to_dict()
        writer.writerow([*map(csv_cell, combo), *(data[c] for c in _CSV_COUNTS), *(data[t] for t in TOKEN_FIELDS),
                         data["cost"], *(money(totals.cost_by_bucket.get(b, _ZERO)) for b in _COST_BUCKETS)])


def _table(keys: tuple[str, ...], rows: list[tuple[tuple[str, ...], Totals]], overall: Totals,
           query: ReportQuery, out: IO[str]) -> None:
    if not rows:
        print("no calls match" + (f" ({describe(query)})" if describe(query) else ""), file=sys.stderr)
        return
    # Columns that are zero for every row say nothing (CSV and JSON keep them all, for stable columns).
    counts = [(h, f, d) for h, f, d in _TABLE_COUNTS if f in _ALWAYS or getattr(overall, f)]
    columns = [Column(k) for k in keys] or [Column("")]
    columns += [Column(header, numeric=True, drop=drop) for header, _, drop in counts]
    columns.append(Column("cost (USD)", numeric=True))

    def cells(label: list[str], t: Totals) -> list[str]:
        return [*label, *(f"{getattr(t, f):,}" for _, f, _ in counts), money(t.cost)]

    body = [cells(list(combo), t) for combo, t in rows] if keys else []
    footer = cells(["total", *[""] * (max(len(keys), 1) - 1)], overall)
    title = "spend" + (f" by {', '.join(keys)}" if keys else "") + (f" ({describe(query)})" if describe(query) else "")
    print_table(columns, body, title=title, footer=footer, stream=out)


def _write_html(args: argparse.Namespace, agg: Aggregator, source: str, query: ReportQuery) -> None:
    from .spend_html import render

    page = render(agg, source=source, query=describe(query))
    try:
        with open(args.html, "w", encoding="utf-8") as fh:
            fh.write(page)
    except OSError as exc:
        raise CommandError(f"cannot write {args.html}: {exc.strerror or exc}") from None
    print(f"wrote {args.html}: {agg.overall.calls:,} calls, ${money(agg.overall.cost)}", file=sys.stderr)
