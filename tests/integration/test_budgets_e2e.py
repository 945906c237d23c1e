"""Budgets through completion() under real concurrency: 4 processes on one SQLite file, and
2 clients on separate Redis connections, all calling a real server on 127.0.0.1."""

from __future__ import annotations

import multiprocessing
import threading
from decimal import Decimal
from pathlib import Path

import routerlib
from routerlib.spend import Budget
from routerlib.testing import MockServer

MESSAGES = [{"role": "user", "content": "hi"}]
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}
LIMIT = Decimal("0.003")  # far fewer than the 200 calls below fit


def _calls(client: routerlib.Client, base: str, n: int) -> tuple[int, int]:
    ok = refused = 0
    for _ in range(n):
        try:
            client.completion("openai/gpt-4o-mini", MESSAGES, api_base=base, api_key="k", max_tokens=20,
                              **PRICES)
            ok += 1
        except routerlib.BudgetExceededError:
            refused += 1
    return ok, refused


def _sqlite_worker(path: str, base: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from routerlib.spend import SQLiteLedger

    client = routerlib.Client(ledger=SQLiteLedger(path), budgets=[Budget(LIMIT, scope="global")])
    out.put(_calls(client, base, n))


def test_four_processes_share_one_sqlite_budget(tmp_path: Path) -> None:
    from routerlib.spend import SQLiteLedger

    path = str(tmp_path / "spend.db")
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    with MockServer(reply="a b c d e") as server:
        workers = [context.Process(target=_sqlite_worker, args=(path, server.url, 50, results)) for _ in range(4)]
        for w in workers:
            w.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(timeout=30)
        served = sum(ok for ok, _ in outcomes)
        assert len(server.requests) == served
    ledger = SQLiteLedger(path)
    records = ledger.records()
    assert len(records) == served and sum(refused for _, refused in outcomes) == 200 - served
    assert ledger.total() <= LIMIT
    assert ledger.total() == sum((r.cost for r in records), Decimal(0))  # type: ignore[misc]
    assert served >= 10


def test_two_clients_on_separate_redis_connections_share_a_budget(redis_url: str) -> None:
    from routerlib.spend import RedisLedger

    ledgers = [RedisLedger(redis_url), RedisLedger(redis_url)]
    clients = [routerlib.Client(ledger=ledger, budgets=[Budget(LIMIT, scope="global")]) for ledger in ledgers]
    outcomes: list[tuple[int, int]] = []
    with MockServer(reply="a b c d e") as server:
        threads = [threading.Thread(target=lambda c=c: outcomes.append(_calls(c, server.url, 25)))
                   for c in clients for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        served = sum(ok for ok, _ in outcomes)
        assert len(server.requests) == served
    records = ledgers[0].records()
    assert len(records) == served >= 10
    assert ledgers[1].total() <= LIMIT
    assert ledgers[0].total() == sum((r.cost for r in records), Decimal(0))  # type: ignore[misc]
