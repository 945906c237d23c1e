"""Shared output: rich tables on a terminal and plain columns elsewhere, names that cannot restyle or
take over a terminal, a progress bar only when asked or when work takes a moment, and plain text
with a hint when the ``cli`` extra (rich) is missing."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from cli_helpers import ROOT

from routerlib.cli._output import Column, money, print_table, progress, safe, safe_text

COLUMNS = [Column("user"), Column("cost", numeric=True)]
HOSTILE = ["[red]alice[/red]", "bob\x1b[2J\x1b]0;pwned\x07", "carol\nnext"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_safe_escapes_control_characters() -> None:
    assert safe("a\x1b[2Jb\x07\n\t\x9b") == "a\\x1b[2Jb\\x07\\x0a\\x09\\x9b"
    assert safe_text("line one\n\tline\x1b[31m two") == "line one\n\tline\\x1b[31m two"
    assert safe("名前 ok") == "名前 ok"


@pytest.mark.parametrize(("amount", "text"), [
    (Decimal("0.00003000"), "0.00003"), (Decimal("100"), "100"), (Decimal("1E+2"), "100"),
    (Decimal("3.75E-5"), "0.0000375"), (Decimal(0), "0"), (Decimal("0.000"), "0"),
    (Decimal("0.3000000000000000000000000000001"), "0.3000000000000000000000000000001"),
])
def test_money_is_exact_plain_text(amount: Decimal, text: str) -> None:
    assert money(amount) == text and Decimal(text) == amount


def test_plain_table_when_not_a_terminal() -> None:
    out = io.StringIO()
    print_table(COLUMNS, [["alice", "1.5"], ["bob", "0.25"]], title="spend", footer=["total", "1.75"], stream=out)
    assert out.getvalue().splitlines() == ["spend", "user   cost", "alice   1.5", "bob    0.25", "total  1.75"]


def test_rich_table_on_a_terminal_shows_names_as_text() -> None:
    out = Terminal()
    print_table(COLUMNS, [[name, "1"] for name in HOSTILE], footer=["total", "3"], stream=out)
    text = out.getvalue()
    assert "───" in text and "\x1b[1m" in text  # a rich table: a rule under bold headers
    assert "[red]alice[/red]" in text  # not read as markup
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\\x1b[2J" in text
    assert "carol\\x0anext" in text


def test_progress_always_draws_a_bar_that_ends_complete() -> None:
    err = io.StringIO()
    with progress(1000, "reading 1,000 records", mode="always", stream=err) as advance:
        for _ in range(10):
            advance(100)
    shown = err.getvalue()
    assert "reading 1,000 records" in shown and "1000/1000" in shown


@pytest.mark.parametrize("mode", ["auto", "never"])
def test_no_bar_when_not_a_terminal_or_not_wanted(mode: str) -> None:
    err = io.StringIO()
    with progress(1000, "reading", mode=mode, stream=err) as advance:
        advance(1000)
    assert err.getvalue() == ""


def test_auto_bar_waits_for_the_work_to_take_a_moment() -> None:
    err = Terminal()
    with progress(10, "quick", mode="auto", stream=err) as advance:
        advance(10)  # done well before the delay: no bar flashes
    assert err.getvalue() == ""


def test_without_rich_tables_are_plain_and_a_hint_says_how_to_get_them() -> None:
    code = (
        "import io, sys\n"
        "sys.modules['rich'] = None  # as if the cli extra were not installed\n"
        "from routerlib.cli._output import Column, print_table, progress\n"
        "class T(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "out = T()\n"
        "for _ in range(2):\n"
        "    print_table([Column('user'), Column('n', numeric=True)], [['[b]x', '1']], stream=out)\n"
        "with progress(5, 'work', mode='always') as advance:\n"
        "    advance(5)\n"
        "sys.stdout.write(out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["user  n", "[b]x  1", "user  n", "[b]x  1"]
    assert result.stderr.splitlines() == [
        "routerlib: plain output; pip install 'routerlib[cli]' for tables and progress bars"]  # once


def test_a_narrow_terminal_drops_optional_columns_and_never_crops_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "75")
    columns = [Column("model"), Column("calls", numeric=True), *(Column(f"extra{i}", numeric=True, drop=i)
                                                                  for i in range(1, 6)),
               Column("cost (USD)", numeric=True)]
    row = ["anthropic/claude-haiku-4-5", "123,456", *(f"{i}0,000,000" for i in range(1, 6)), "0.000000123456789"]
    out = Terminal()
    print_table(columns, [row], stream=out)
    text = out.getvalue()
    assert "0.000000123456789" in text and "123,456" in text and "extra1" in text
    assert "extra2" not in text  # the highest drops went first, and only as many as needed
    assert max(len(line) for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()) <= 75
