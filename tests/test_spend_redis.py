"""Tests for RedisLedger against a real redis-server: two clients racing for one budget,
exact integer counters beyond 2**53, key layout, and the lazy redis import."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from routerlib.exceptions import BudgetExceededError
from routerlib.spend import Budget, SpendRecord
from routerlib.spend.redis import RedisLedger, from_pico, to_pico

T0 = 1_717_200_000.0


def rec(call_id: str, cost: str | Decimal, ts: float = T0, **kw: Any) -> SpendRecord:
    return SpendRecord(call_id=call_id, timestamp=ts, model="m", provider="p", cost=Decimal(cost), **kw)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex}:"


@pytest.fixture
def ledger(redis_url: str, prefix: str) -> Iterator[RedisLedger]:
    led = RedisLedger(redis_url, prefix=prefix, reservation_ttl=60)
    yield led
    led.close()


# -- tests --------------------------------------------------------------------------------------


def test_pico_conversion_rounds_safely() -> None:
    assert to_pico(Decimal("0.0000375"), up=True) == 37_500_000
    assert to_pico(Decimal("1E-13"), up=True) == 1  # a hold or a spend is never rounded away
    assert to_pico(Decimal("1.0000000000009"), up=False) == 1_000_000_000_000  # a limit rounds down
    assert from_pico("250000000000") == Decimal("0.25") and str(from_pico("250000000000")) == "0.25"
    assert str(from_pico(10**15)) == "1000" and from_pico(None) == 0 and from_pico("0") == 0


def test_key_layout(ledger: RedisLedger, prefix: str) -> None:
    ledger.reserve("r", Decimal("0.5"), user="u", now=T0)
    ledger.record(rec("c", "0.25", user="u", tags=("x",)))
    keys = set(ledger._redis.keys(prefix + "*"))
    assert {prefix + k for k in ("records", "by_ts", "res", "res_exp", "reserved:global", "reserved:user:u")} <= keys
    assert prefix + "spent:day:2024-06-01:tag:x" in keys and prefix + "spent:month:2024-06:user:u" in keys
    assert ledger._redis.get(prefix + "spent:total:global") == "250000000000"
    assert ledger._redis.get(prefix + "reserved:user:u") == "500000000000"
    ledger.release("r")
    assert prefix + "reserved:user:u" not in set(ledger._redis.keys(prefix + "*"))  # emptied counters go


def test_prefixes_isolate_ledgers(redis_url: str) -> None:
    a = RedisLedger(redis_url, prefix=f"a{uuid.uuid4().hex}:")
    b = RedisLedger(redis_url, prefix=f"b{uuid.uuid4().hex}:")
    a.record(rec("c", "1"))
    assert b.total() == 0 and b.records() == [] and a.total() == 1
    a.close()
    b.close()


def test_budget_check_is_exact_beyond_two_to_the_53(ledger: RedisLedger) -> None:
    """Counters above 2**53 pico-dollars (~$9007) cannot be compared as Lua doubles."""
    limit = Decimal("20000.000000000001")
    ledger.record(rec("big", "19999.999999999999"))
    budgets = [Budget(limit, "global")]
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("c", Decimal("0.000000000003"), budgets=budgets, now=T0)
    assert info.value.spent == Decimal("19999.999999999999") and info.value.limit == limit
    ledger.reserve("c", Decimal("0.000000000002"), budgets=budgets, now=T0)  # lands exactly on the limit
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("d", Decimal("0.000000000001"), budgets=budgets, now=T0)
    assert info.value.reserved == Decimal("0.000000000002")
    assert ledger.total() == Decimal("19999.999999999999")


def test_re_reserve_subtracts_the_old_hold_exactly(ledger: RedisLedger) -> None:
    budgets = [Budget("9000000.000000000001", "global")]
    ledger.reserve("a", Decimal("9000000.000000000001"), budgets=budgets, now=T0)
    ledger.reserve("a", Decimal("9000000.000000000001"), budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError):
        ledger.reserve("b", Decimal("0.000000000001"), budgets=budgets, now=T0)


def test_counters_go_past_int64(ledger: RedisLedger) -> None:
    """$9.3 million is more than 2**63 pico-dollars: INCRBY would fail; the Lua arithmetic does not."""
    budgets = [Budget("20000000.000000000001", "global")]
    ledger.reserve("a", Decimal("9300000.000000000001"), budgets=budgets, now=T0)
    ledger.settle("a", rec("a", "9300000.000000000001"))
    ledger.record(rec("b", "9300000.000000000001", user="u"))
    assert ledger.total() == Decimal("18600000.000000000002") == ledger.total(model="m")
    ledger.reserve("c", Decimal("1399999.999999999999"), budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("d", Decimal("0.000000000001"), budgets=budgets, now=T0)
    assert info.value.reserved == Decimal("1399999.999999999999")
    assert ledger.verify()
    with pytest.raises(ValueError, match="Redis ledger counter"):
        ledger.reserve("e", Decimal("1000000000001"), now=T0)


def test_expired_reservations_are_pruned_from_the_counters(ledger: RedisLedger, prefix: str) -> None:
    budgets = [Budget(1, "global")]
    ledger.reserve("a", Decimal("0.7"), user="u", budgets=budgets, now=T0)
    ledger.reserve("b", Decimal("0.3"), user="u", budgets=budgets, now=T0 + 30)
    assert ledger.reserved(now=T0 + 61) == {"global": Decimal("0.3"), "user:u": Decimal("0.3")}
    ledger.reserve("c", Decimal("0.7"), budgets=budgets, now=T0 + 60)  # "a" expired at T0 + 60
    assert ledger._redis.get(prefix + "reserved:user:u") == "300000000000"
    assert ledger._redis.hexists(prefix + "res", "a") == 0


def test_verify_detects_a_drifted_counter(ledger: RedisLedger, prefix: str) -> None:
    for i in range(5):
        ledger.record(rec(f"c{i}", "0.1", ts=T0 + 86400 * i, team="t"))
    assert ledger.verify()
    ledger._redis.incrby(prefix + "spent:total:team:t", 1)
    assert not ledger.verify()


def test_scripts_are_loaded_once_and_run_by_sha(ledger: RedisLedger) -> None:
    ledger._redis.script_flush()
    ledger.reserve("a", Decimal(1), now=T0)  # NOSCRIPT -> EVAL, which caches the script
    ledger.settle("a", rec("a", "1"))
    ledger.release("a")
    assert all(ledger._redis.script_exists(s.sha)[0] for s in ledger._scripts)
    assert ledger.total() == 1 and ledger.reserved() == {}


def test_two_clients_never_overspend(redis_url: str, prefix: str) -> None:
    ledgers = [RedisLedger(redis_url, prefix=prefix), RedisLedger(redis_url, prefix=prefix)]
    limit, user_limit = Decimal("1.00"), Decimal("0.60")
    budgets = [Budget(limit, "global"), Budget(user_limit, "user", "day")]
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        led, call_id, user = ledgers[i % 2], f"c{i}", f"u{i % 3 % 2}"
        try:
            led.reserve(call_id, Decimal("0.01"), user=user, budgets=budgets)
        except BudgetExceededError:
            outcome = "refused"
        else:
            time.sleep(0.001)  # the provider call
            if i % 7 == 3:
                led.release(call_id)
                outcome = "released"
            else:
                led.settle(call_id, rec(call_id, Decimal("0.006") + Decimal("0.001") * (i % 5), time.time(), user=user))
                outcome = "settled"
        with lock:
            outcomes.append(outcome)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(200)))
    led = ledgers[0]
    records = ledgers[1].records()
    assert len(outcomes) == 200 and outcomes.count("refused") > 0
    assert len(records) == outcomes.count("settled")
    assert led.total() <= limit
    assert led.total(user="u0") <= user_limit and led.total(user="u1") <= user_limit
    assert led.total() == sum((r.cost or Decimal(0) for r in records), Decimal(0))
    assert led.reserved() == {}
    assert led.verify()
    for each in ledgers:
        each.close()


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install routerlib\[redis\]"):
        RedisLedger("redis://127.0.0.1:1/0")
