"""The ``routerlib`` command as a whole: every command has --help with an example, exit statuses are
0 / 1 / 2, a user error is one line (never a traceback), and `python -m routerlib` is the command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_helpers import ROOT, assert_user_error, run_cli

from routerlib.cli import build_parser, main

COMMANDS = (["demo"], ["spend"], ["models"], ["price"], ["prices"], ["prices", "update"], ["prices", "clear"],
            ["call"])


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*words, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: routerlib {' '.join(words)}")
    assert "example" in out and f"routerlib {words[0]}" in out.split("example", 1)[1]


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("demo", "spend", "models", "price", "prices", "call"):
        assert f"\n    {name} " in out
    assert build_parser().prog == "routerlib"


def test_python_dash_m_routerlib_is_the_command() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip().startswith("routerlib 0.")
    legacy = subprocess.run([sys.executable, "-m", "routerlib.cli", "--version"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert legacy.returncode == 0 and legacy.stdout == result.stdout


def test_unknown_command_is_bad_usage() -> None:
    result = run_cli("bogus")
    assert result.returncode == 2
    assert "invalid choice: 'bogus'" in result.stderr and "Traceback" not in result.stderr


def test_missing_command_is_bad_usage() -> None:
    result = run_cli()
    assert result.returncode == 2 and "usage: routerlib" in result.stderr


def test_bad_option_value_is_bad_usage_in_one_line() -> None:
    assert_user_error(run_cli("spend", "--ledger", "x.db", "--since", "yesterday-ish"), 2,
                      "'yesterday-ish' is not a time")


def test_main_returns_instead_of_exiting_on_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["price", "gpt-4o", "--prompt", "-3", "--completion", "1"]) == 2
    assert "a token count cannot be negative" in capsys.readouterr().err
