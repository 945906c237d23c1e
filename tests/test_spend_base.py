"""Tests for routerlib.spend.base and .export: records, filters, exports, and the read/write
contract every ledger backend (memory, SQLite, Redis) must keep."""

from __future__ import annotations

import calendar
import datetime
import io
import os
import pickle
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from routerlib.exceptions import BudgetExceededError, LedgerTimeoutError
from routerlib.spend import Budget, Ledger, MemoryLedger, SpendRecord
from routerlib.spend.base import AsyncLedger, LedgerBase
from routerlib.spend.export import read_csv, read_jsonl, write_csv, write_jsonl
from routerlib.spend.records import Filters, dec_sum, record_buckets, window_ids
from routerlib.types import CompletionTokensDetails, Cost, PromptTokensDetails, Usage

REPO = Path(__file__).resolve().parents[1]
T0 = float(calendar.timegm((2024, 5, 31, 23, 0, 0)))  # one hour before a UTC day and month boundary


def rec(call_id: str, cost: str | None = "0.01", ts: float = T0, **kw: Any) -> SpendRecord:
    return SpendRecord(
        call_id=call_id,
        timestamp=ts,
        model=kw.pop("model", "gpt-4o"),
        provider=kw.pop("provider", "openai"),
        cost=None if cost is None else Decimal(cost),
        **kw,
    )


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerBase]:
    led: LedgerBase
    if request.param == "memory":
        led = MemoryLedger()
    elif request.param == "sqlite":
        from routerlib.spend import SQLiteLedger

        led = SQLiteLedger(tmp_path / "spend.db")
    else:
        from routerlib.spend import RedisLedger

        led = RedisLedger(request.getfixturevalue("redis_url"), prefix=f"t{uuid.uuid4().hex}:")
    yield led
    led.close()


# -- SpendRecord --------------------------------------------------------------------------------


def test_record_json_round_trip_is_exact() -> None:
    r = rec(
        "c1",
        "0.000037500000000000000001",
        user="alice",
        team="t",
        tags=("a", "b"),
        prompt_tokens=10,
        completion_tokens=5,
        cached_tokens=2,
        cache_creation_tokens=1,
        reasoning_tokens=3,
        cost_breakdown={"input": Decimal("0.1"), "output": "2E-7"},
        attempts=2,
        latency=0.123456789,
        estimated=True,
        metadata={"k": [1, "ü", None], "n": {"x": 1.5}},
    )
    back = SpendRecord.from_json(r.to_json())
    assert back == r
    assert back.cost == Decimal("0.000037500000000000000001")
    assert back.cost_breakdown == {"input": "0.1", "output": "0.0000002"}
    assert pickle.loads(pickle.dumps(r)) == r
    assert hash(back) == hash(r)


def test_record_normalises_tags_and_numbers() -> None:
    r = SpendRecord(call_id="c", timestamp=1, model="m", provider="p", tags=["x", "y", "x"], cost=3, latency=1)  # type: ignore[arg-type]
    assert r.tags == ("x", "y")
    assert r.cost == Decimal(3) and isinstance(r.timestamp, float) and isinstance(r.latency, float)
    assert r.buckets == ("global", "tag:x", "tag:y")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"call_id": ""}, ValueError, "call_id"),
        ({"timestamp": float("nan")}, ValueError, "timestamp"),
        ({"timestamp": "now"}, TypeError, "timestamp"),
        ({"user": ""}, ValueError, "user"),
        ({"team": 3}, TypeError, "team"),
        ({"tags": "abc"}, TypeError, "tags"),
        ({"tags": ("ok", "")}, ValueError, "tag"),
        ({"prompt_tokens": -1}, ValueError, "prompt_tokens"),
        ({"completion_tokens": True}, ValueError, "completion_tokens"),
        ({"cost": Decimal("-0.01")}, ValueError, "cost"),
        ({"cost": Decimal("NaN")}, ValueError, "cost"),
        ({"latency": -1.0}, ValueError, "latency"),
        ({"cost_breakdown": {"input": "x"}}, ValueError, "cost_breakdown"),
    ],
)
def test_record_validation_names_the_bad_field(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    base: dict[str, Any] = {"call_id": "c", "timestamp": T0, "model": "m", "provider": "p"}
    with pytest.raises(error, match=match):
        SpendRecord(**{**base, **kwargs})


def test_metadata_that_json_cannot_hold_is_kept_as_text() -> None:
    """Writing a record must never fail (and lose it) because of an odd metadata value."""
    when = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
    r = rec("odd", metadata={"when": when, "nan": float("nan"), 7: (1, Decimal("0.5")), "ok": {"x": [True, None]}})
    assert r.metadata == {"when": str(when), "nan": "nan", "7": [1, "0.5"], "ok": {"x": [True, None]}}
    assert SpendRecord.from_json(r.to_json()) == r
    with pytest.raises(TypeError, match="metadata"):
        rec("bad", metadata=[("a", 1)])


def test_from_usage_takes_usage_and_cost() -> None:
    usage = Usage(
        prompt_tokens=100,
        completion_tokens=50,
        total_tokens=150,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=40, cache_creation_tokens=10),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=20),
    )
    cost = Cost(total=Decimal("0.0015"), input=Decimal("0.001"), output=Decimal("0.0005"), estimated=True)
    r = SpendRecord.from_usage("c", model="m", provider="p", usage=usage, cost=cost, user="u", timestamp=5.0)
    assert (r.prompt_tokens, r.completion_tokens, r.cached_tokens, r.cache_creation_tokens) == (100, 50, 40, 10)
    assert r.reasoning_tokens == 20 and r.cost == Decimal("0.0015") and r.estimated
    assert r.cost_breakdown == {"input": "0.001", "output": "0.0005"}
    unknown = SpendRecord.from_usage("d", model="m", provider="p", usage=None, cost=None)
    assert unknown.cost is None and unknown.prompt_tokens == 0 and unknown.timestamp > 0


def test_buckets_and_windows_are_utc() -> None:
    assert record_buckets("u", None, ["a", "a", "b"]) == ("global", "user:u", "tag:a", "tag:b")
    assert window_ids(T0) == ("day:2024-05-31", "month:2024-05", "total")
    assert window_ids(T0 + 3600) == ("day:2024-06-01", "month:2024-06", "total")


def test_filters_and_single_bucket() -> None:
    r = rec("c", user="u", team="t", tags=("x",))
    assert Filters(user="u", tag="x", since=T0).matches(r)
    assert not Filters(since=T0 + 1).matches(r) and not Filters(model="other").matches(r)
    assert Filters().single_bucket() == "global"
    assert Filters(tag="x").single_bucket() == "tag:x"
    assert Filters(user="u", team="t").single_bucket() is None
    assert Filters(user="u", since=0).single_bucket() is None
    assert dec_sum([Decimal("0.1")] * 3) == Decimal("0.3")


# -- exports ------------------------------------------------------------------------------------

TRICKY = [
    rec("a,1", "0.1", user='al"ice', tags=("x,y", "ü"), metadata={"note": 'line1\nline2, "quoted"'}),
    rec("b", None, ts=T0 + 0.1, team="t", model=""),
    rec("c", "1E-20", ts=T0 + 0.2, cost_breakdown={"time": "1E-20"}, estimated=True, latency=0.1 + 0.2),
]


@pytest.mark.parametrize(("write", "read"), [(write_jsonl, read_jsonl), (write_csv, read_csv)])
def test_exports_round_trip_through_files_and_paths(write: Any, read: Any, tmp_path: Path) -> None:
    path = tmp_path / "out"
    assert write(path, TRICKY) == 3
    assert list(read(path)) == TRICKY
    buffer = io.StringIO()
    write(buffer, TRICKY)
    buffer.seek(0)
    assert list(read(buffer)) == TRICKY


def test_csv_has_a_header_and_readable_columns(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(path, TRICKY[1:])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("call_id,timestamp,day_utc,model,provider,user,team,tags,")
    assert ",2024-05-31,,openai,,t,[]," in lines[1]
    assert "0.00000000000000000001" in lines[2]  # plain decimal text, no exponent


# -- the ledger contract, on every backend -------------------------------------------------------


def test_ledger_satisfies_the_protocol(ledger: LedgerBase) -> None:
    assert isinstance(ledger, Ledger)


def test_record_is_idempotent_per_call_id(ledger: LedgerBase) -> None:
    assert ledger.record(rec("c1", "0.25", user="u", tags=("x",))) is True
    assert ledger.record(rec("c1", "0.25", user="u", tags=("x",))) is False
    assert ledger.record(rec("c1", "9.99")) is False  # first write wins
    assert ledger.total() == Decimal("0.25")
    assert ledger.total(user="u") == ledger.total(tag="x") == Decimal("0.25")
    assert len(ledger.records()) == 1
    assert ledger.verify()


def test_unpriced_records_are_stored_and_count_zero(ledger: LedgerBase) -> None:
    ledger.record(rec("priced", "0.5"))
    ledger.record(rec("unpriced", None, ts=T0 + 1))
    assert [r.call_id for r in ledger.records()] == ["priced", "unpriced"]
    assert ledger.records()[1].cost is None
    assert ledger.total() == ledger.total(model="gpt-4o") == Decimal("0.5")
    assert ledger.totals_by_day() == {"2024-05-31": Decimal("0.5")}


def test_filters_totals_and_order(ledger: LedgerBase) -> None:
    ledger.record(rec("r3", "0.3", ts=T0 + 7200, user="bob", team="t2", model="claude", tags=("prod",)))
    ledger.record(rec("r1", "0.1", ts=T0, user="alice", team="t1", tags=("prod", "eu")))
    ledger.record(rec("r2", "0.2", ts=T0 + 3600, user="alice", team="t2"))
    ledger.record(rec("r4", "0.4", ts=T0 - 86400 * 40, user="carol"))
    assert [r.call_id for r in ledger.records()] == ["r4", "r1", "r2", "r3"]
    assert [r.call_id for r in ledger.records(limit=2)] == ["r2", "r3"]  # the newest two, oldest first
    assert ledger.records(limit=0) == []
    assert ledger.total() == Decimal("1.0")
    assert ledger.total(user="alice") == Decimal("0.3")
    assert ledger.total(team="t2") == Decimal("0.5")
    assert ledger.total(tag="prod") == Decimal("0.4")
    assert ledger.total(tag="eu") == Decimal("0.1")
    assert ledger.total(model="claude") == Decimal("0.3")
    assert ledger.total(user="alice", team="t2") == Decimal("0.2")
    assert ledger.total(since=T0 + 3600) == Decimal("0.5")
    assert ledger.total(user="nobody") == Decimal(0)
    assert [r.call_id for r in ledger.records(tag="prod", since=T0 + 1)] == ["r3"]
    assert ledger.totals_by_day() == {
        "2024-04-21": Decimal("0.4"),
        "2024-05-31": Decimal("0.1"),
        "2024-06-01": Decimal("0.5"),
    }
    assert ledger.totals_by_day(user="alice") == {"2024-05-31": Decimal("0.1"), "2024-06-01": Decimal("0.2")}
    assert ledger.verify()


def test_total_equals_the_sum_of_records_exactly(ledger: LedgerBase) -> None:
    for i in range(30):
        ledger.record(rec(f"c{i}", "0.1", ts=T0 + i, user=f"u{i % 3}"))
    assert ledger.total() == Decimal("3.0")  # 0.1 * 30 with no float drift
    assert ledger.total() == sum((r.cost or Decimal(0) for r in ledger.records()), Decimal(0))
    assert ledger.total(user="u1") == Decimal("1.0")


def test_ledger_exports_round_trip(ledger: LedgerBase, tmp_path: Path) -> None:
    for r in TRICKY:
        ledger.record(r)
    assert ledger.export_jsonl(tmp_path / "all.jsonl") == 3
    assert list(read_jsonl(tmp_path / "all.jsonl")) == TRICKY
    assert ledger.export_csv(tmp_path / "t.csv", team="t") == 1
    assert list(read_csv(tmp_path / "t.csv")) == [TRICKY[1]]
    with pytest.raises(TypeError):
        ledger.export_csv(tmp_path / "x.csv", colour="red")  # type: ignore[call-arg]


def test_import_from_an_export_rebuilds_the_same_totals(ledger: LedgerBase, tmp_path: Path) -> None:
    source = MemoryLedger()
    for i in range(10):
        source.record(rec(f"c{i}", f"0.0{i}", ts=T0 + i * 1000, user="u", tags=("a",)))
    source.export_jsonl(tmp_path / "x.jsonl")
    for r in read_jsonl(tmp_path / "x.jsonl"):
        ledger.record(r)
    assert ledger.totals_by_day() == source.totals_by_day()
    assert ledger.total(tag="a") == source.total(tag="a") == Decimal("0.45")


def test_settle_checks_the_call_id(ledger: LedgerBase) -> None:
    with pytest.raises(ValueError, match="'other'"):
        ledger.settle("mine", rec("other"))


def test_importing_the_package_is_cheap() -> None:
    code = (
        "import sys, routerlib.spend as s\n"
        "assert 'sqlite3' not in sys.modules and 'redis' not in sys.modules, sorted(sys.modules)\n"
        "assert s.SQLiteLedger.__name__ == 'SQLiteLedger' and 'sqlite3' in sys.modules\n"
        "assert 'redis' not in sys.modules\n"
        "print(sorted(s.__all__))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "MemoryLedger" in out.stdout


def test_unknown_attribute_raises_attribute_error() -> None:
    import routerlib.spend

    with pytest.raises(AttributeError, match="Nope"):
        routerlib.spend.Nope  # noqa: B018


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_model_filter_takes_the_name_as_recorded_or_as_called(backend: str, tmp_path: Path) -> None:
    from routerlib.spend import MemoryLedger, SQLiteLedger

    ledger = MemoryLedger() if backend == "memory" else SQLiteLedger(tmp_path / "m.db")
    ledger.record(SpendRecord(call_id="x", timestamp=1.0, model="gpt-4o-mini", provider="openai",
                              cost=Decimal("2")))
    assert ledger.total(model="gpt-4o-mini") == ledger.total(model="openai/gpt-4o-mini") == Decimal("2")
    assert ledger.total(model="anthropic/gpt-4o-mini") == Decimal("0")


# -- the async twins, ttl, estimated spend, on every backend ---------------------------------------


def test_ledger_satisfies_the_async_protocol(ledger: LedgerBase) -> None:
    assert isinstance(ledger, AsyncLedger)


async def test_async_twins_do_what_the_sync_methods_do(ledger: LedgerBase) -> None:
    budgets = [Budget("1", "user")]
    await ledger.areserve("a", Decimal("0.75"), user="u", budgets=budgets, now=T0, timeout=5)
    with pytest.raises(BudgetExceededError):
        await ledger.areserve("b", Decimal("0.5"), user="u", budgets=budgets, now=T0)
    assert await ledger.asettle("a", rec("a", "0.5", user="u"), timeout=5) is True
    await ledger.areserve("b", Decimal("0.5"), user="u", budgets=budgets, now=T0)
    await ledger.arelease("b", timeout=5)
    await ledger.arelease("b")  # idempotent
    assert await ledger.arecord(rec("c", "0.25", user="v"), timeout=5) is True
    assert await ledger.arecord(rec("c", "0.25", user="v")) is False
    assert await ledger.atotal() == Decimal("0.75") == ledger.total()
    assert await ledger.atotal(user="v") == Decimal("0.25") and await ledger.atotal(model="gpt-4o") == Decimal("0.75")
    assert ledger.reserved(now=T0) == {} and ledger.verify()
    with pytest.raises(ValueError, match="'other'"):
        await ledger.asettle("mine", rec("other"))
    await ledger.aclose()


def test_reservations_lapse_after_the_calls_ttl(ledger: LedgerBase) -> None:
    budgets = [Budget(1, "global")]
    ledger.reserve("a", Decimal("0.9"), budgets=budgets, now=T0, ttl=5)
    with pytest.raises(BudgetExceededError):
        ledger.reserve("b", Decimal("0.9"), budgets=budgets, now=T0 + 4.9)
    ledger.reserve("b", Decimal("0.9"), budgets=budgets, now=T0 + 5, ttl=5)  # "a" could no longer be running
    assert ledger.reserved(now=T0 + 5) == {"global": Decimal("0.9")}
    ledger.reserve("c", Decimal("0.05"), budgets=budgets, now=T0 + 5)  # no ttl: reservation_ttl
    assert ledger.reserved(now=T0 + 5 + ledger.reservation_ttl - 1) == {"global": Decimal("0.05")}


def test_a_worst_case_settle_is_estimated_spend_that_counts(ledger: LedgerBase) -> None:
    """A call cancelled after its request was sent keeps its worst case as spend (issue 10, item 18)."""
    budgets = [Budget("0.01", "global")]
    ledger.reserve("sent", Decimal("0.006"), budgets=budgets, now=T0)
    record = SpendRecord.worst_case("sent", model="gpt-4o", provider="openai", amount=Decimal("0.006"),
                                    reason="timeout", user="u", timestamp=T0, metadata={"k": 1})
    assert record.estimated and record.cost == Decimal("0.006")
    assert record.metadata == {"k": 1, "estimated_reason": "timeout"}
    ledger.settle("sent", record)
    assert ledger.total() == ledger.total(user="u") == Decimal("0.006") and ledger.reserved(now=T0) == {}
    with pytest.raises(BudgetExceededError):
        ledger.reserve("next", Decimal("0.006"), budgets=budgets, now=T0)  # the budget counts it
    (stored,) = ledger.records()
    assert stored == record and ledger.verify()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"timeout": "1"}, "timeout"), ({"timeout": float("nan")}, "timeout"), ({"timeout": True}, "timeout"),
     ({"ttl": 0}, "ttl"), ({"ttl": float("inf")}, "ttl"), ({"ttl": "5"}, "ttl")],
)
def test_bad_timeouts_and_ttls_are_refused(kwargs: dict[str, Any], match: str) -> None:
    ledger = MemoryLedger()
    with pytest.raises(ValueError, match=match):
        ledger.reserve("c", Decimal(1), **kwargs)
    ledger.reserve("c", Decimal(1), timeout=float("inf"))  # no bound
    with pytest.raises(LedgerTimeoutError):
        ledger.reserve("d", Decimal(1), timeout=-1)  # no time left
