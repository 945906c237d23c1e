"""``routerlib spend`` run for real against SQLite ledger files and a redis-server: exact totals, groupings,
filters and time ranges, CSV and JSON, a progress bar, and one clear line (never a traceback) for a user error."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import DAY, T0, assert_user_error, make_records, run_cli

from routerlib.cli import main
from routerlib.spend import SQLiteLedger

RECORDS = make_records(300, unpriced_every=13)


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("spend") / "spend.db"
    with SQLiteLedger(path) as ledger:
        for rec in RECORDS:
            ledger.record(rec)
    yield path


@pytest.fixture(scope="module")
def ledger(ledger_path: Path) -> Iterator[SQLiteLedger]:
    with SQLiteLedger(ledger_path) as led:
        yield led


def spend_json(*args: str) -> dict[str, Any]:
    result = run_cli("spend", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_json_by_day_equals_the_ledger_exactly(ledger_path: Path, ledger: SQLiteLedger) -> None:
    data = spend_json("--ledger", str(ledger_path))
    assert Decimal(data["total"]["cost"]) == ledger.total()
    assert {g["day"]: Decimal(g["cost"]) for g in data["groups"]} == ledger.totals_by_day()
    assert data["total"]["calls"] == len(RECORDS) and data["by"] == ["day"]
    assert data["total"]["unpriced_calls"] == sum(r.cost is None for r in RECORDS) > 0
    assert data["total"]["failed_attempts"] == sum(r.attempts - 1 for r in RECORDS)
    assert data["total"]["prompt_tokens"] == sum(r.prompt_tokens for r in RECORDS)


@pytest.mark.parametrize(("by", "filter_name"), [("user", "user"), ("team", "team"), ("tag", "tag"),
                                                 ("model", "model")])
def test_json_by_dimension_equals_the_ledgers_filtered_totals(ledger_path: Path, ledger: SQLiteLedger, by: str,
                                                               filter_name: str) -> None:
    data = spend_json("--ledger", str(ledger_path), "--by", by)
    groups = {g[by]: g for g in data["groups"]}
    for name, group in groups.items():
        if name == "(none)":
            continue
        assert Decimal(group["cost"]) == ledger.total(**{filter_name: name})
        assert group["calls"] == len(ledger.records(**{filter_name: name}))
    costs = [Decimal(g["cost"]) for g in data["groups"]]
    assert costs == sorted(costs, reverse=True)


def test_filters_and_time_range(ledger_path: Path) -> None:
    since, until = "2025-12-03", "2025-12-05"  # the 3rd, 4th and 5th: --until includes its day
    data = spend_json("--ledger", str(ledger_path), "--by", "day,provider", "--since", since, "--until", until,
                      "--user", "alice", "--provider", "openai")
    chosen = [r for r in RECORDS if T0 + 2 * DAY <= r.timestamp < T0 + 5 * DAY and r.user == "alice"
              and r.provider == "openai"]
    assert chosen and data["total"]["calls"] == len(chosen)
    assert Decimal(data["total"]["cost"]) == sum((r.cost for r in chosen if r.cost is not None), Decimal(0))
    assert {g["day"] for g in data["groups"]} <= {"2025-12-03", "2025-12-04", "2025-12-05"}
    assert {g["provider"] for g in data["groups"]} == {"openai"}
    assert data["query"]["since"] == "2025-12-03T00:00:00Z" and data["query"]["until"] == "2025-12-06T00:00:00Z"


def test_week_and_month_and_total(ledger_path: Path, ledger: SQLiteLedger) -> None:
    weeks = spend_json("--ledger", str(ledger_path), "--by", "week")
    assert [g["week"] for g in weeks["groups"]] == ["2025-W49", "2025-W50"]
    assert sum(Decimal(g["cost"]) for g in weeks["groups"]) == ledger.total()
    month = spend_json("--ledger", str(ledger_path), "--by", "month,team")
    assert {g["month"] for g in month["groups"]} == {"2025-12"}
    total = spend_json("--ledger", str(ledger_path), "--by", "total")
    assert total["groups"] == [{**total["total"]}] and Decimal(total["total"]["cost"]) == ledger.total()


def test_csv_has_one_row_per_group_and_exact_costs(ledger_path: Path, ledger: SQLiteLedger) -> None:
    result = run_cli("spend", "--ledger", str(ledger_path), "--by", "user", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["user"] for r in rows} == {"alice", "bob", "carol", "dave"}
    for row in rows:
        assert Decimal(row["cost"]) == ledger.total(user=row["user"])
        assert Decimal(row["cost"]) == sum(Decimal(row[f"cost_{b}"]) for b in ("input", "cached_input", "output"))
    assert sum(int(r["calls"]) for r in rows) == len(RECORDS)


def test_table_on_a_pipe_is_plain_aligned_text(ledger_path: Path, ledger: SQLiteLedger) -> None:
    result = run_cli("spend", "--ledger", str(ledger_path), "--by", "model")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "spend by model" and lines[1].split()[:3] == ["model", "calls", "retried"]
    assert lines[-1].split()[0] == "total" and Decimal(lines[-1].split()[-1]) == ledger.total()
    assert len(lines) == 2 + 4 + 1  # title, header, the four models, total
    assert "\x1b" not in result.stdout


def test_html_is_written_and_the_table_only_when_asked(ledger_path: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = run_cli("spend", "--ledger", str(ledger_path), "--html", str(page))
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.startswith(f"wrote {page}: 300 calls, $")
    assert "<svg" in page.read_text(encoding="utf-8")
    both = run_cli("spend", "--ledger", str(ledger_path), "--html", str(page), "--format", "json")
    assert json.loads(both.stdout)["total"]["calls"] == 300


def test_no_matching_calls(ledger_path: Path) -> None:
    result = run_cli("spend", "--ledger", str(ledger_path), "--user", "nobody")
    assert result.returncode == 0 and result.stdout == "" and result.stderr.startswith("no calls match (user=nobody")
    assert spend_json("--ledger", str(ledger_path), "--since", "2030-01-01")["groups"] == []


def test_progress_bar_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    with SQLiteLedger(path) as led:
        for rec in make_records(3000, seed=11, days=60):
            led.record(rec)
    result = run_cli("spend", "--ledger", str(path), "--by", "month", "--progress", "always", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "reading 3,000 records" in result.stderr and "3000/3000" in result.stderr
    assert sum(int(row["calls"]) for row in csv.DictReader(io.StringIO(result.stdout))) == 3000
    quiet = run_cli("spend", "--ledger", str(path), "--format", "csv")
    assert quiet.stderr == ""  # auto: no bar when stderr is not a terminal


def test_a_missing_ledger_is_bad_usage_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    assert_user_error(run_cli("spend", "--ledger", str(missing)), 2, "routerlib spend: error: no ledger file at",
                      str(missing))
    assert not missing.exists()


def test_a_file_that_is_not_a_ledger_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    assert_user_error(run_cli("spend", "--ledger", str(other)), 2, "is not a routerlib spend ledger")
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(("args", "needle"), [
    (["--since", "last tuesday"], "is not a time"),
    (["--until", "2025-02-30"], "is not a date"),
    (["--by", "day,week"], "one period at most"),
    (["--by", "colour"], "cannot group by colour"),
    (["--format", "xml"], "invalid choice: 'xml'"),
    (["--since", "2025-12-05", "--until", "2025-12-01"], "--since must be before --until"),
])
def test_bad_usage_is_one_line_and_exit_2(ledger_path: Path, args: list[str], needle: str) -> None:
    assert_user_error(run_cli("spend", "--ledger", str(ledger_path), *args), 2, needle)


def test_a_ledger_is_required() -> None:
    assert_user_error(run_cli("spend"), 2, "one of the arguments --ledger --redis is required")


def test_redis_ledger(redis_url: str, ledger: SQLiteLedger) -> None:
    from routerlib.spend.redis import RedisLedger

    prefix = f"t{uuid.uuid4().hex}:"
    with RedisLedger(redis_url, prefix=prefix) as red:
        for rec in RECORDS:
            red.record(rec)
        data = spend_json("--redis", redis_url, "--prefix", prefix, "--by", "team")
        assert Decimal(data["total"]["cost"]) == red.total() == ledger.total()
        for group in data["groups"]:
            if group["team"] != "(none)":
                assert Decimal(group["cost"]) == red.total(team=group["team"])
    assert data["ledger"] == redis_url


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "127.0.0.1:6379", "redis://:pw@host:port/0"])
def test_a_bad_redis_url_is_bad_usage(url: str) -> None:
    result = run_cli("spend", "--redis", url)
    assert_user_error(result, 2, "routerlib spend: error:")
    assert ":pw@" not in result.stderr


def test_redis_unreachable_is_a_failure_that_hides_the_password() -> None:
    from loopback_server import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = run_cli("spend", "--redis", url)
    assert_user_error(result, 1, "cannot read the Redis ledger at redis://***@127.0.0.1:")
    assert "hunter2" not in result.stderr + result.stdout


def test_main_in_process(ledger_path: Path, ledger: SQLiteLedger, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spend", "--ledger", str(ledger_path), "--by", "total", "--format", "json"]) == 0
    assert Decimal(json.loads(capsys.readouterr().out)["total"]["cost"]) == ledger.total()


def test_csv_names_cannot_run_as_spreadsheet_formulas(tmp_path: Path) -> None:
    from routerlib.spend import SpendRecord

    path = tmp_path / "evil.db"
    with SQLiteLedger(path) as led:
        for i, user in enumerate(("=HYPERLINK(\"http://x\")", "+1", "@SUM(A1)", "-2", "plain")):
            led.record(SpendRecord(call_id=str(i), timestamp=T0, model="m", provider="p", user=user,
                                   cost=Decimal("0.1")))
    result = run_cli("spend", "--ledger", str(path), "--by", "user", "--format", "csv")
    users = sorted(row["user"] for row in csv.DictReader(io.StringIO(result.stdout)))
    assert users == ["'+1", "'-2", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "plain"]
