"""``routerlib demo``: a fallback, its attempts and its cost, with no key and no network."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli

from routerlib.cli import main


def test_demo_shows_the_fallback_the_attempts_and_the_cost(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "answered by: openai/gpt-4o" in out
    assert out.count("ServiceUnavailableError 503") == 2  # the primary, retried once
    assert out.splitlines()[5].split()[2] == "ok"
    assert "cost:     $0.0002 " in out and "model_map" in out


def test_demo_runs_as_the_installed_command_would() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    assert "answered by: openai/gpt-4o" in result.stdout and result.stderr == ""
