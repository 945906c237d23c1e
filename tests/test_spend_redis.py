"""Tests for RedisLedger against a real redis-server: two clients racing for one budget,
exact integer counters beyond 2**53, key layout, and the lazy redis import."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from loopback_server import free_port
from spend_helpers import LagMeter, Proxy, proxy_process, redis_server

from routerlib.exceptions import BudgetExceededError, LedgerError, LedgerTimeoutError, LedgerUnavailableError
from routerlib.spend import Budget, SpendRecord
from routerlib.spend.redis import RedisLedger, from_pico, redact_url, to_pico

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


# -- async twins: the same scripts, the same keys --------------------------------------------------


async def test_sync_and_async_writers_share_state_exactly(ledger: RedisLedger, redis_url: str, prefix: str) -> None:
    other = RedisLedger(redis_url, prefix=prefix)
    budgets = [Budget("1", "global")]
    ledger.reserve("a", Decimal("0.6"), user="u", budgets=budgets, now=T0)
    with pytest.raises(BudgetExceededError) as info:
        await other.areserve("b", Decimal("0.5"), budgets=budgets, now=T0)  # sees the sync hold
    assert info.value.reserved == Decimal("0.6")
    assert await other.asettle("a", rec("a", "0.25", user="u")) is True  # drops the sync hold
    assert ledger.reserved(now=T0) == {}
    await other.areserve("b", Decimal("0.75"), budgets=budgets, now=T0)
    ledger.release("b")
    assert await other.arecord(rec("c", "0.5")) is True and ledger.record(rec("c", "0.5")) is False
    assert ledger.total() == Decimal("0.75") == await other.atotal() == await other.atotal(model="m")
    assert await other.atotal(user="u") == Decimal("0.25")
    assert ledger.verify()
    await other.aclose()


def _async_worker(url: str, prefix: str, worker: int, start: Any, results: Any) -> None:
    """In a spawned process: 25 concurrent async calls against one budget."""
    import asyncio

    async def main() -> tuple[int, int]:
        led = RedisLedger(url, prefix=prefix)
        budgets = [Budget("1.00", "global")]
        settled = refused = 0

        async def call(i: int) -> None:
            nonlocal settled, refused
            call_id = f"w{worker}-{i}"
            try:
                await led.areserve(call_id, Decimal("0.01"), budgets=budgets, timeout=30)
            except BudgetExceededError:
                refused += 1
                return
            await asyncio.sleep(0.001)
            await led.asettle(call_id, rec(call_id, Decimal("0.006") + Decimal("0.001") * (i % 5), time.time()))
            settled += 1

        await asyncio.gather(*(call(i) for i in range(40)))
        await led.aclose()
        return settled, refused

    start.wait()
    results.put(asyncio.run(main()))


def test_async_writers_in_four_processes_never_overspend(redis_url: str, prefix: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_async_worker, args=(redis_url, prefix, w, start, results)) for w in range(4)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
        assert proc.exitcode == 0
    led = RedisLedger(redis_url, prefix=prefix)
    assert sum(r for _, r in outcomes) > 0, "the budget must allow fewer than 160 calls"
    assert len(led.records()) == sum(s for s, _ in outcomes)
    assert led.total() <= Decimal("1.00") and led.reserved() == {} and led.verify()
    led.close()


# -- under faults ----------------------------------------------------------------------------------


@pytest.fixture
def proxy(redis_url: str) -> Iterator[Proxy]:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    prox = Proxy(port, delay=0.1)
    yield prox
    prox.close()


async def test_slow_redis_never_blocks_the_event_loop(redis_url: str, prefix: str) -> None:
    """50 budgeted calls against a Redis 100 ms away each way (200 ms per operation): the loop keeps
    ticking on time. A blocking ledger would stall it 200 ms per operation."""
    delay = 0.1
    with proxy_process(int(redis_url.rsplit(":", 1)[1].split("/")[0]), delay=delay) as port:
        led = RedisLedger(f"redis://127.0.0.1:{port}/0", prefix=prefix)
        budgets = [Budget("1", "global")]

        async def call(i: int) -> None:
            await led.areserve(f"c{i}", Decimal("0.02"), budgets=budgets, timeout=30)
            await led.asettle(f"c{i}", rec(f"c{i}", "0.01", time.time()))

        try:
            with LagMeter() as meter:
                await asyncio.gather(*(call(i) for i in range(50)))
        finally:
            await led.aclose()
        assert meter.worst < 2 * delay / 4, meter.worst
        # The same meter sees a blocking call: the sync twin on the loop stalls it for the whole round trip.
        with LagMeter() as control:
            await asyncio.sleep(0.02)
            led.release("c0")
            await asyncio.sleep(0.02)
        assert control.worst > delay
    led2 = RedisLedger(redis_url, prefix=prefix)
    assert led2.total() == Decimal("0.50") and led2.reserved() == {}
    led.close()
    led2.close()


@pytest.mark.parametrize("fresh", [True, False], ids=["new-connection", "pooled-connection"])
async def test_a_redis_that_stops_answering_times_out_typed_and_bounded(proxy: Proxy, prefix: str, fresh: bool
                                                                        ) -> None:
    led = RedisLedger(proxy.url, prefix=prefix, timeout=30)  # the ceiling is far above the call's bound
    if not fresh:
        led.reserve("warm", Decimal("0.01"))
        await led.areserve("warm", Decimal("0.01"))
    proxy.set_mode("swallow")
    started = time.monotonic()
    with pytest.raises(LedgerTimeoutError) as info:
        led.reserve("c", Decimal("0.01"), timeout=0.5)
    sync_took = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(LedgerTimeoutError) as ainfo:
        await led.areserve("c", Decimal("0.01"), timeout=0.5)
    async_took = time.monotonic() - started
    assert max(sync_took, async_took) < 30 / 10  # bounded by the call's 0.5 s, not the 30 s ceiling
    for err in (info.value, ainfo.value):
        assert err.operation == "reserve" and err.where == f"RedisLedger('redis://127.0.0.1:{proxy.port}/0')"
        assert isinstance(err.__cause__, Exception)
    proxy.set_mode("pass")
    await led.aclose()


async def test_a_settle_that_fails_is_spooled_and_written_later(proxy: Proxy, prefix: str) -> None:
    led = RedisLedger(proxy.url, prefix=prefix)
    budgets = [Budget("1", "global")]
    led.reserve("a", Decimal("0.5"), budgets=budgets)
    await led.areserve("b", Decimal("0.5"), budgets=budgets)
    proxy.set_mode("refuse")  # Redis goes away while both providers answer
    with pytest.raises(LedgerUnavailableError):
        led.settle("a", rec("a", "0.25", time.time()))
    with pytest.raises(LedgerUnavailableError):
        await led.asettle("b", rec("b", "0.25", time.time()))
    with pytest.raises(LedgerUnavailableError):
        led.release("x")  # a failed release raises a LedgerError, nothing else
    assert [r.call_id for r in led.pending()] == ["a", "b"]
    proxy.set_mode("pass")
    assert led.reserved() == {"global": Decimal("1.0")}  # the holds stay until the records land
    assert await led.arecord(rec("c", "0.125", time.time())) is True  # the next good write flushes
    assert led.pending() == [] and led.reserved() == {}
    assert led.total() == Decimal("0.625") and led.verify()
    proxy.set_mode("refuse")
    with pytest.raises(LedgerUnavailableError):
        led.record(rec("d", "0.125", time.time()))
    proxy.set_mode("pass")
    assert led.flush_pending() == 1 and led.total() == Decimal("0.75")
    await led.aclose()


def test_errors_never_show_the_password(prefix: str) -> None:
    password = "s3cret-Pa55word"
    dead = f"redis://admin:{password}@127.0.0.1:{free_port()}/0?password={password}"
    with redis_server("--requirepass", "right-one") as port:
        wrong = f"redis://:{password}@127.0.0.1:{port}/0"
        for url, error in ((dead, LedgerUnavailableError), (wrong, LedgerUnavailableError)):
            led = RedisLedger(url, prefix=prefix, timeout=2)
            for attempt in (partial(led.reserve, "c", Decimal(1)), led.total, led.records):
                with pytest.raises(error) as info:
                    attempt()
                text = "".join(traceback.format_exception(info.value))
                assert password not in text and password not in repr(info.value.__cause__)
                assert "admin" not in str(info.value) and info.value.where is not None
                assert info.value.where.startswith("RedisLedger('redis://127.0.0.1:")

            async def attempt_async(led: RedisLedger = led) -> None:
                try:
                    await led.areserve("c", Decimal(1))
                finally:
                    await led.aclose()

            with pytest.raises(LedgerError) as ainfo:
                asyncio.run(attempt_async())
            assert password not in "".join(traceback.format_exception(ainfo.value))
            assert led.pending() == []


def test_redact_url() -> None:
    assert redact_url("redis://u:p@h:1/0?password=x#f") == "redis://h:1/0"
    assert redact_url("rediss://:p@[::1]:6380/2") == "rediss://[::1]:6380/2"
    assert redact_url("unix:///tmp/r.sock?db=1") == "unix:///tmp/r.sock"
    assert redact_url("redis://h:notaport/0") == "<unparseable redis URL>"



async def test_a_burst_of_async_calls_queues_for_connections_instead_of_failing(redis_url: str, prefix: str) -> None:
    """300 concurrent budgeted reserves on one loop: more than the pool holds, none refused."""
    led = RedisLedger(redis_url, prefix=prefix)
    budgets = [Budget("100", "global")]
    try:
        await asyncio.gather(*(led.areserve(f"burst{i}", Decimal("0.01"), budgets=budgets, timeout=30)
                               for i in range(300)))
        assert sum(led.reserved().values(), Decimal(0)) == Decimal("3.00")
        await asyncio.gather(*(led.arelease(f"burst{i}") for i in range(300)))
    finally:
        await led.aclose()
        led.close()
