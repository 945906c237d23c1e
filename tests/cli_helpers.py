"""Helpers for the ``routerlib`` command's tests: deterministic spend records, and the command run for real.

``run_cli`` starts ``python -m routerlib`` as a subprocess from the repository root (so the
worktree's package is the one tested), with the environment of the test session (its empty
price cache included) plus any overrides, and returns the finished process.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from routerlib.spend import SpendRecord

ROOT = Path(__file__).resolve().parents[1]
#: 2025-12-01T00:00:00Z, a Monday.
T0 = 1_764_547_200.0
DAY = 86_400.0
MODELS = (
    ("openai", "gpt-4o-mini", Decimal("0.00000015"), Decimal("0.0000006")),
    ("openai", "gpt-4o", Decimal("0.0000025"), Decimal("0.00001")),
    ("anthropic", "claude-haiku-4-5", Decimal("0.000001"), Decimal("0.000005")),
    ("gemini", "gemini-2.5-flash", Decimal("0.0000003"), Decimal("0.0000025")),
)
USERS = ("alice", "bob", "carol", "dave")
TEAMS = ("search", "ads", None)
TAGS = ("beta", "batch", "chat")


def make_records(n: int, *, seed: int = 7, days: int = 10, start: float = T0, unpriced_every: int = 0
                 ) -> list[SpendRecord]:
    """``n`` varied records over ``days`` UTC days: four models, users, teams, tags, retries, cached tokens.

    Costs are the exact products of the token counts and the prices above, so sums have many digits.
    """
    rng = random.Random(seed)
    records = []
    for i in range(n):
        provider, model, in_price, out_price = MODELS[i % len(MODELS)] if i < 4 else rng.choice(MODELS)
        prompt, completion = rng.randint(100, 5000), rng.randint(10, 800)
        cached = rng.choice((0, 0, prompt // 2))
        breakdown = {"input": in_price * (prompt - cached), "output": out_price * completion}
        if cached:
            breakdown["cached_input"] = in_price * cached / 10
        unpriced = bool(unpriced_every) and i % unpriced_every == unpriced_every - 1
        records.append(SpendRecord(
            call_id=f"call-{seed}-{i}", timestamp=start + rng.uniform(0, days * DAY), model=model, provider=provider,
            user=rng.choice(USERS), team=rng.choice(TEAMS), tags=tuple(rng.sample(TAGS, rng.randint(0, 2))),
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
            reasoning_tokens=rng.choice((0, 0, completion // 3)),
            cost=None if unpriced else sum(breakdown.values(), Decimal(0)),
            cost_breakdown={} if unpriced else breakdown, attempts=rng.choice((1, 1, 1, 2, 3))))
    return records


def run_cli(*args: str, env: Mapping[str, str] | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m routerlib ARGS`` as a real process; stdin is empty unless ``input`` is given."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "routerlib", *args], cwd=ROOT, env=environment, text=True,
                          capture_output=True, input=input if input is not None else "", timeout=timeout,
                          check=False)


def assert_user_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Exit ``code`` with one clear line on stderr: the needles in it, and no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    for needle in needles:
        assert needle in lines[-1], (needle, result.stderr)
