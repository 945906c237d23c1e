"""Budgets under faults, through completion() against real servers and a real SQLite file:
a provider that hangs is charged its worst case, a locked ledger never holds a call past its
deadline, and a ledger that fails at settle time never costs the caller its answer."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import routerlib
from routerlib.observe import AttemptEnd, Observer
from routerlib.spend import Budget, SQLiteLedger
from routerlib.testing import MockServer

MESSAGES = [{"role": "user", "content": "hi"}]
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}


class _Hang(BaseHTTPRequestHandler):
    """Reads the whole request, then answers nothing for a long while (the provider is working)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.seen += 1  # type: ignore[attr-defined]
        time.sleep(3)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hanging_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hang)
    server.seen = 0  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_a_call_timing_out_after_sending_is_charged_its_worst_case(hanging_server: ThreadingHTTPServer,
                                                                 tmp_path: Path) -> None:
    """The provider bills a request it received even if the answer never arrives: under a budget the
    held worst case is kept as spend, marked estimated, so fifty such calls cannot spend unchecked."""
    ledger = SQLiteLedger(tmp_path / "spend.db")
    client = routerlib.Client(ledger=ledger, budgets=[Budget("1", scope="global")])
    base = f"http://127.0.0.1:{hanging_server.server_port}/v1"
    with pytest.raises(routerlib.APITimeoutError):
        client.completion("openai/gpt-4o-mini", MESSAGES, api_base=base, api_key="k", max_tokens=100,
                          timeout=0.3, num_retries=0, **PRICES)
    assert hanging_server.seen == 1  # type: ignore[attr-defined]
    (record,) = ledger.records()
    assert record.estimated and record.metadata.get("estimated_reason") == "timeout"
    assert record.cost is not None and record.cost >= Decimal(100) * Decimal("0.000002")
    assert ledger.reserved() == {}


def test_a_refused_connection_is_released_not_charged(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "spend.db")
    client = routerlib.Client(ledger=ledger, budgets=[Budget("1", scope="global")])
    with pytest.raises(routerlib.APIConnectionError):
        client.completion("openai/gpt-4o-mini", MESSAGES, api_base="http://127.0.0.1:9/v1", api_key="k",
                          max_tokens=100, num_retries=0, **PRICES)
    assert ledger.records() == [] and ledger.reserved() == {}


def test_a_locked_ledger_never_holds_a_call_past_its_deadline(tmp_path: Path) -> None:
    path = tmp_path / "spend.db"
    ledger = SQLiteLedger(path)
    client = routerlib.Client(ledger=ledger, budgets=[Budget("1", scope="global")])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write lock
    try:
        with MockServer(reply="hi") as server:
            started = time.monotonic()
            with pytest.raises(routerlib.LedgerError):
                client.completion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key="k",
                                  max_tokens=10, deadline=0.5, **PRICES)
            elapsed = time.monotonic() - started
            assert server.requests == []  # a budget that cannot be checked refuses, before sending
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert elapsed < 15, "bounded by the deadline, not SQLite's 30 s default busy timeout"


class _LockWhenAnswered(Observer):
    """Takes the ledger file's write lock the moment the provider's answer is in (before settling)."""

    def __init__(self, holder: sqlite3.Connection) -> None:
        self.holder = holder

    def on_attempt_end(self, event: AttemptEnd) -> None:
        self.holder.execute("BEGIN IMMEDIATE")


def test_a_ledger_failing_at_settle_time_keeps_the_answer_and_the_record(tmp_path: Path) -> None:
    """The provider answered (and billed): the answer is returned, the failure is reported beside
    it, and the record waits in the ledger's spool until the store takes writes again."""
    path = tmp_path / "spend.db"
    ledger = SQLiteLedger(path)
    holder = sqlite3.connect(path, isolation_level=None)
    client = routerlib.Client(ledger=ledger, budgets=[Budget("1", scope="global")],
                              observers=[_LockWhenAnswered(holder)])
    with MockServer(reply="the answer") as server:
        response = client.completion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key="k",
                                     max_tokens=10, deadline=1, **PRICES)
    assert isinstance(response, routerlib.ModelResponse)
    assert response.choices[0].message.content == "the answer"
    assert isinstance(response.ledger_error, routerlib.LedgerError)
    assert len(ledger.pending()) == 1
    holder.execute("ROLLBACK")
    holder.close()
    assert ledger.flush_pending() == 1
    (record,) = ledger.records()
    assert record.cost == response.cost.total  # type: ignore[union-attr]
    assert ledger.reserved() == {}
