"""Streaming reads for spend reports: the records a query selects, oldest first, one page at a time.

``Ledger.records()`` builds every matching ``SpendRecord`` in one list, which is what a program
wants and what a report over a year of calls does not: ``routerlib spend`` reads pages of plain
record dicts (``SpendRecord.to_dict()`` shape, costs as exact decimal text) and can say how many
there are before it starts, so it can show progress.

The readers open a store the way a report should, and not the way a ledger does:

- ``SQLiteReader`` opens the file read-only (``mode=ro``): a report never creates a file, never
  adds the schema to a database that is not a ledger, and never takes the write lock. It reads
  the storage layout of ``sqlite.py`` (schema v1 and v2, whose records are alike), which is a
  file format and so stays stable.
- ``RedisReader`` reads the keys of ``redis.py`` (``<prefix>records`` and ``<prefix>by_ts``).
- ``LedgerReader`` wraps any ``Ledger`` (``MemoryLedger``, a ledger of your own) through its
  public ``records()``.

``ReportQuery`` adds what ``Filters`` lacks for reports: an end (``until``, exclusive) and a
provider. Errors are ``LedgerReadError`` with a message fit for a person: the path or the Redis
address (its password replaced by ``***``) and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..exceptions import RouterlibError

if TYPE_CHECKING:
    from .base import Ledger

__all__ = ["LedgerReadError", "LedgerReader", "RecordReader", "RedisReader", "ReportQuery", "SQLiteReader",
           "redact_url"]

_PAGE = 1000
_SCHEMA_VERSION = 2  # sqlite.SCHEMA_VERSION, not imported: that would import sqlite3 for every reader
#: The records layout is the same in every version read here (v2 added reservation owners).
_READABLE = (1, 2)


class LedgerReadError(RouterlibError):
    """A ledger could not be read: missing, not a ledger, from a newer routerlib, or unreachable."""


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which records a report reads: ``since <= timestamp < until`` (epoch seconds) and exact filters.

    ``model`` matches the model as recorded ("gpt-4o-mini") or as called ("openai/gpt-4o-mini"),
    as ``Filters.model`` does; ``tag`` matches a record that has that tag among others.
    """

    since: float | None = None
    until: float | None = None
    user: str | None = None
    team: str | None = None
    tag: str | None = None
    model: str | None = None
    provider: str | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        ts = row["timestamp"]
        model = self.model
        return (
            (self.since is None or ts >= self.since)
            and (self.until is None or ts < self.until)
            and (self.user is None or row.get("user") == self.user)
            and (self.team is None or row.get("team") == self.team)
            and (self.tag is None or self.tag in (row.get("tags") or ()))
            and (self.provider is None or row.get("provider") == self.provider)
            and (model is None or model in (row["model"], f"{row['provider']}/{row['model']}"))
        )


class RecordReader(Protocol):
    """A source of record dicts for one query."""

    def count(self) -> int:
        """How many records ``rows()`` will yield (an upper bound for ``RedisReader``, see there)."""
        ...

    def rows(self) -> Iterator[dict[str, Any]]:
        """The matching records as ``SpendRecord.to_dict()`` dicts, oldest first."""
        ...

    def close(self) -> None: ...


def redact_url(url: str) -> str:
    """``url`` with any password (and user name) replaced by ``***``: for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"***@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class SQLiteReader:
    """Reads an ``SQLiteLedger`` file read-only (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], query: ReportQuery) -> None:
        import sqlite3
        from urllib.parse import quote

        self.path = os.fspath(path)
        self.query = query
        if not os.path.isfile(self.path):
            raise LedgerReadError(f"no ledger file at {self.path}" if not os.path.exists(self.path)
                                  else f"{self.path} is not a file")
        uri = "file:" + quote(os.path.abspath(self.path)) + "?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=30.0)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise LedgerReadError(f"{self.path} is not a routerlib spend ledger ({exc})") from None
        self._where, self._params = self._build_where()

    def _check_schema(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version > _SCHEMA_VERSION:
            raise LedgerReadError(f"{self.path} has spend schema v{version}; this routerlib reads v{_SCHEMA_VERSION}")
        if version not in _READABLE or not {"records", "record_tags"} <= tables:
            raise LedgerReadError(f"{self.path} is not a routerlib spend ledger (no v{_SCHEMA_VERSION} records table)")

    def _build_where(self) -> tuple[str, list[object]]:
        q = self.query
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("user", q.user), ("team", q.team), ("provider", q.provider)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if q.model is not None:
            clauses.append("(model = ? OR provider || '/' || model = ?)")
            params += [q.model, q.model]
        if q.since is not None:
            clauses.append("ts >= ?")
            params.append(q.since)
        if q.until is not None:
            clauses.append("ts < ?")
            params.append(q.until)
        if q.tag is not None:
            clauses.append("call_id IN (SELECT call_id FROM record_tags WHERE tag = ?)")
            params.append(q.tag)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def count(self) -> int:
        import sqlite3

        try:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM records{self._where}", self._params).fetchone()[0])
        except sqlite3.Error as exc:
            raise LedgerReadError(f"cannot read {self.path}: {exc}") from None

    def rows(self) -> Iterator[dict[str, Any]]:
        import sqlite3

        try:
            cursor = self._conn.execute(f"SELECT json FROM records{self._where} ORDER BY ts, call_id", self._params)
            while page := cursor.fetchmany(_PAGE):
                for (text,) in page:
                    yield json.loads(text)
        except sqlite3.Error as exc:  # a damaged page, or the file replaced under us
            raise LedgerReadError(f"cannot read {self.path}: {exc}") from None

    def close(self) -> None:
        self._conn.close()


class RedisReader:
    """Reads a ``RedisLedger``'s records under ``prefix``; filters other than time are applied here.

    ``count()`` counts the records in the time range, before the other filters: Redis keeps no
    index by user or model, and counting exactly would mean reading everything twice.
    """

    def __init__(self, url: str, query: ReportQuery, *, prefix: str = "routerlib:") -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the environment
            raise LedgerReadError("reading a Redis ledger needs the redis package: pip install 'routerlib[redis]'"
                                  ) from None
        self.url = url
        self.query = query
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._redis: Any = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=10,
                                                    socket_timeout=60)
        except ValueError as exc:
            raise LedgerReadError(f"bad Redis URL {redact_url(url)}: {exc}") from None
        self._records, self._by_ts = prefix + "records", prefix + "by_ts"
        self._low = "-inf" if query.since is None else repr(query.since)
        self._high = "+inf" if query.until is None else "(" + repr(query.until)

    def _failed(self, exc: BaseException) -> LedgerReadError:
        return LedgerReadError(f"cannot read the Redis ledger at {redact_url(self.url)}: {exc}")

    def count(self) -> int:
        try:
            return int(self._redis.zcount(self._by_ts, self._low, self._high))
        except self._errors as exc:
            raise self._failed(exc) from None

    def rows(self) -> Iterator[dict[str, Any]]:
        try:
            ids: list[str] = self._redis.zrangebyscore(self._by_ts, self._low, self._high)
            for start in range(0, len(ids), _PAGE):
                for raw in self._redis.hmget(self._records, ids[start : start + _PAGE]):
                    if raw is not None:
                        row = json.loads(raw)
                        if self.query.matches(row):
                            yield row
        except self._errors as exc:
            raise self._failed(exc) from None

    def close(self) -> None:
        self._redis.close()


class LedgerReader:
    """Any ``Ledger`` through its public ``records()`` (all at once: for in-process ledgers)."""

    def __init__(self, ledger: Ledger, query: ReportQuery) -> None:
        self.ledger = ledger
        self.query = query
        found = ledger.records(user=query.user, team=query.team, tag=query.tag, model=query.model,
                               since=query.since)
        self._rows = [row for row in (rec.to_dict() for rec in found) if query.matches(row)]

    def count(self) -> int:
        return len(self._rows)

    def rows(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)

    def close(self) -> None:
        """The ledger belongs to the caller: it is left open."""
