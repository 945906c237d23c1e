"""The streaming report readers read exactly what the ledgers wrote, read-only, with filters and an end time."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import DAY, T0, make_records

from routerlib.spend import MemoryLedger, SQLiteLedger
from routerlib.spend.report import LedgerReader, LedgerReadError, RedisReader, ReportQuery, SQLiteReader, redact_url

RECORDS = make_records(120, unpriced_every=9)
QUERIES = [
    ReportQuery(),
    ReportQuery(since=T0 + 2 * DAY, until=T0 + 5 * DAY),
    ReportQuery(user="alice"),
    ReportQuery(team="search", tag="beta"),
    ReportQuery(model="openai/gpt-4o"),
    ReportQuery(model="gpt-4o"),
    ReportQuery(provider="anthropic", until=T0 + 3 * DAY),
    ReportQuery(user="nobody"),
]


def expected(query: ReportQuery) -> list[dict[str, Any]]:
    matching = [r.to_dict() for r in sorted(RECORDS, key=lambda r: (r.timestamp, r.call_id))]
    return [row for row in matching if query.matches(row)]


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "spend.db"
    with SQLiteLedger(path) as ledger:
        for rec in RECORDS:
            ledger.record(rec)
    return path


def test_query_matches_what_the_ledger_filters_match() -> None:
    ledger = MemoryLedger()
    for rec in RECORDS:
        ledger.record(rec)
    for user, model, tag in (("bob", None, None), (None, "openai/gpt-4o-mini", None), (None, None, "chat")):
        from_ledger = [r.call_id for r in ledger.records(user=user, model=model, tag=tag)]
        mine = [row["call_id"] for row in expected(ReportQuery(user=user, model=model, tag=tag))]
        assert mine == from_ledger and mine


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_sqlite_reader_yields_the_matching_records_oldest_first(ledger_file: Path, query: ReportQuery) -> None:
    reader = SQLiteReader(ledger_file, query)
    try:
        rows = list(reader.rows())
        assert reader.count() == len(rows)
    finally:
        reader.close()
    assert rows == expected(query)


def test_sqlite_reader_pages_through_more_than_one_page(tmp_path: Path) -> None:
    records = make_records(2500, seed=3)
    with SQLiteLedger(tmp_path / "big.db") as ledger:
        for rec in records:
            ledger.record(rec)
    reader = SQLiteReader(tmp_path / "big.db", ReportQuery())
    ids = [row["call_id"] for row in reader.rows()]
    reader.close()
    assert len(ids) == 2500 and set(ids) == {r.call_id for r in records}


def test_sqlite_reader_never_writes(ledger_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    with pytest.raises(LedgerReadError, match="is not a routerlib spend ledger"):
        SQLiteReader(other, ReportQuery())
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before  # no schema added to someone else's file
    with pytest.raises(LedgerReadError, match="no ledger file at"):
        SQLiteReader(tmp_path / "missing.db", ReportQuery())
    assert not (tmp_path / "missing.db").exists()  # and no empty ledger created by a typo
    (tmp_path / "text.db").write_text("not sqlite at all")
    with pytest.raises(LedgerReadError, match="is not a routerlib spend ledger"):
        SQLiteReader(tmp_path / "text.db", ReportQuery())


def test_sqlite_reader_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerReadError, match="schema v9; this routerlib reads v2"):
        SQLiteReader(path, ReportQuery())


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_redis_reader_yields_the_matching_records(redis_url: str, query: ReportQuery) -> None:
    from routerlib.spend.redis import RedisLedger

    prefix = f"t{uuid.uuid4().hex}:"
    with RedisLedger(redis_url, prefix=prefix) as ledger:
        for rec in RECORDS:
            ledger.record(rec)
    reader = RedisReader(redis_url, query, prefix=prefix)
    try:
        rows = list(reader.rows())
        in_range = sum(1 for r in RECORDS if ReportQuery(since=query.since, until=query.until).matches(r.to_dict()))
        assert reader.count() == in_range  # the time range: Redis has no other index
    finally:
        reader.close()
    assert rows == expected(query)  # oldest first: by_ts orders equal times by member, the call id


def test_redis_reader_failure_names_the_server_but_not_its_password() -> None:
    from loopback_server import free_port

    url = f"redis://user:s3cret-pw@127.0.0.1:{free_port()}/0"
    reader = RedisReader(url, ReportQuery())
    with pytest.raises(LedgerReadError) as caught:
        reader.count()
    message = str(caught.value)
    assert "s3cret-pw" not in message and "redis://***@127.0.0.1:" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_ledger_reader_wraps_any_ledger() -> None:
    ledger = MemoryLedger()
    for rec in RECORDS:
        ledger.record(rec)
    query = ReportQuery(since=T0 + DAY, until=T0 + 4 * DAY, provider="openai")
    reader = LedgerReader(ledger, query)
    assert list(reader.rows()) == expected(query) and reader.count() == len(expected(query)) > 0


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:pw@host:6379/0", "redis://***@host:6379/0"),
    ("rediss://u:pw@[::1]:7000/1?x=1", "rediss://***@[::1]:7000/1?x=1"),
    ("redis://host:6379", "redis://host:6379"),
    ("redis://u:pw@host:notaport/0", "redis://***@host/0"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
