"""JSONL and CSV export of spend records, and the readers that load them back.

Written once for every backend (``LedgerBase.export_jsonl`` / ``export_csv`` call these).
Both formats round-trip exactly: costs are decimal text, timestamps are ``repr`` of the float.
In CSV, nested values (tags, cost_breakdown, metadata) are JSON text in one cell, and an empty
cell means None, which is unambiguous because user, team and cost are never empty strings.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterable, Iterator
from typing import IO, Any

from .records import SpendRecord, utc_day

__all__ = ["CSV_COLUMNS", "read_csv", "read_jsonl", "write_csv", "write_jsonl"]

CSV_COLUMNS = (
    "call_id",
    "timestamp",
    "day_utc",
    "model",
    "provider",
    "user",
    "team",
    "tags",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "cost",
    "cost_breakdown",
    "attempts",
    "latency",
    "estimated",
    "metadata",
    "cache_hit",
    "saved",
)
_JSON_CELLS = ("tags", "cost_breakdown", "metadata")


@contextlib.contextmanager
def _opened(path_or_file: str | os.PathLike[str] | IO[str], mode: str) -> Iterator[IO[str]]:
    """A text file: the one given (left open), or the path opened as UTF-8 (closed afterwards)."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, mode, encoding="utf-8", newline="") as f:
            yield f
    else:
        yield path_or_file


def write_jsonl(path_or_file: str | os.PathLike[str] | IO[str], records: Iterable[SpendRecord]) -> int:
    """One ``SpendRecord.to_json()`` per line; returns the number of records written."""
    count = 0
    with _opened(path_or_file, "w") as f:
        for rec in records:
            f.write(rec.to_json())
            f.write("\n")
            count += 1
    return count


def read_jsonl(path_or_file: str | os.PathLike[str] | IO[str]) -> Iterator[SpendRecord]:
    """The records of a JSONL export (blank lines skipped)."""
    with _opened(path_or_file, "r") as f:
        for line in f:
            if line.strip():
                yield SpendRecord.from_json(line)


def _csv_row(rec: SpendRecord) -> dict[str, Any]:
    data = rec.to_dict()
    row: dict[str, Any] = {k: ("" if v is None else v) for k, v in data.items() if k not in _JSON_CELLS}
    for key in _JSON_CELLS:
        row[key] = json.dumps(data[key], separators=(",", ":"), ensure_ascii=False)
    row["timestamp"] = repr(rec.timestamp)
    row["latency"] = repr(rec.latency)
    row["estimated"] = "true" if rec.estimated else "false"
    row["cache_hit"] = "true" if rec.cache_hit else "false"
    row["day_utc"] = utc_day(rec.timestamp)
    return row


def write_csv(path_or_file: str | os.PathLike[str] | IO[str], records: Iterable[SpendRecord]) -> int:
    """A header row then one row per record (columns: ``CSV_COLUMNS``); returns the record count."""
    count = 0
    with _opened(path_or_file, "w") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for rec in records:
            writer.writerow(_csv_row(rec))
            count += 1
    return count


def read_csv(path_or_file: str | os.PathLike[str] | IO[str]) -> Iterator[SpendRecord]:
    """The records of a CSV export (extra columns such as ``day_utc`` are ignored)."""
    with _opened(path_or_file, "r") as f:
        for row in csv.DictReader(f):
            data: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items()}
            for key in _JSON_CELLS:
                data[key] = json.loads(row[key]) if row.get(key) else None
            data["estimated"] = row.get("estimated") == "true"
            data["cache_hit"] = row.get("cache_hit") == "true"
            data["model"], data["provider"] = row["model"], row["provider"]  # may be "", never None
            yield SpendRecord.from_dict(data)
