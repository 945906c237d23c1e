"""The ``routerlib`` command: the demo shows a fallback, its attempts and its cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from routerlib.cli import main


def test_demo_shows_the_fallback_the_attempts_and_the_cost(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "answered by: openai/gpt-4o" in out
    assert out.count("ServiceUnavailableError 503") == 2  # the primary, retried once
    assert out.splitlines()[5].split()[2] == "ok"
    assert "cost:     $0.0002 " in out and "model_map" in out


def test_unknown_command_is_refused_with_usage() -> None:
    result = subprocess.run([sys.executable, "-m", "routerlib.cli", "bogus"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice: 'bogus'" in result.stderr
