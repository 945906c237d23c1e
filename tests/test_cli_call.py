"""``routerlib call`` against real servers on 127.0.0.1 (routerlib's MockServer and llmock): the answer
streamed to stdout, attempts and the exact cost on stderr, the prompt from stdin, keys from the environment
(never printed), spend recorded with --ledger, and exit statuses 0 / 1 / 2 with no traceback."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_user_error, run_cli

from routerlib.cli import main
from routerlib.testing import MockServer

REPLY = "Two, three and five are primes."
KEY = {"OPENAI_API_KEY": "sk-test-key-123"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(reply=REPLY) as mock:
        yield mock


def sent(server: MockServer) -> dict[str, Any]:
    """The JSON body of the last request the server received."""
    body: dict[str, Any] = server.requests[-1]["body"]
    return body


def sent_messages(server: MockServer) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = sent(server)["messages"]
    return messages


def test_a_streamed_answer_then_attempts_and_cost(server: MockServer) -> None:
    result = run_cli("call", "openai/gpt-4o-mini", "--api-base", server.url, "Name three primes.", env=KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout == REPLY + "\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "attempts:" and re.fullmatch(r"  1\. openai/gpt-4o-mini  ok  \d+ ms", lines[1])
    usage = re.fullmatch(r"usage: (\d+) prompt \+ (\d+) completion tokens", lines[2])
    assert usage is not None
    cost = re.match(r"cost: \$(\S+) \(input \$\S+, output \$\S+; model_map: gpt-4o-mini\)$", lines[3])
    assert cost is not None
    expected = Decimal("0.00000015") * int(usage.group(1)) + Decimal("0.0000006") * int(usage.group(2))
    assert Decimal(cost.group(1)) == expected
    assert sent_messages(server) == [{"role": "user", "content": "Name three primes."}]
    assert sent(server)["stream"] is True


@pytest.mark.parametrize("prompt_args", [[], ["-"]], ids=["absent", "dash"])
def test_the_prompt_from_stdin(server: MockServer, prompt_args: list[str]) -> None:
    result = run_cli("call", "openai/gpt-4o-mini", *prompt_args, "--api-base", server.url, "--system", "Be brief.",
                     env=KEY, input="Summarise this:\nline two\n")
    assert result.returncode == 0, result.stderr
    assert sent_messages(server) == [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Summarise this:\nline two\n"}]


def test_an_empty_stdin_is_bad_usage() -> None:
    assert_user_error(run_cli("call", "openai/gpt-4o-mini", env=KEY, input=""), 2, "the prompt on stdin is empty")


def test_no_stream(server: MockServer) -> None:
    result = run_cli("call", "openai/gpt-4o-mini", "hi", "--api-base", server.url, "--no-stream", env=KEY)
    assert result.returncode == 0 and result.stdout == REPLY + "\n"
    assert "stream" not in sent(server) and "cost: $" in result.stderr


def test_key_from_a_named_variable_is_sent_and_never_shown(server: MockServer) -> None:
    env = {"LOCAL_LLM_KEY": "secret-local-key-456", "OPENAI_API_KEY": ""}
    result = run_cli("call", "openai/gpt-4o-mini", "hi", "--api-base", server.url, "--api-key-env", "LOCAL_LLM_KEY",
                     env=env)
    assert result.returncode == 0, result.stderr
    headers = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
    assert headers["authorization"] == "Bearer secret-local-key-456"
    assert "secret-local-key-456" not in result.stdout + result.stderr
    assert_user_error(run_cli("call", "openai/gpt-4o-mini", "hi", "--api-key-env", "NOT_SET_ANYWHERE"), 2,
                      "--api-key-env NOT_SET_ANYWHERE: that environment variable is not set")


def test_a_missing_key_is_a_failure_naming_the_variable(server: MockServer) -> None:
    before = len(server.requests)
    result = run_cli("call", "openai/gpt-4o-mini", "hi", "--api-base", server.url, env={"OPENAI_API_KEY": ""})
    assert_user_error(result, 1, "routerlib call: error:", "set OPENAI_API_KEY")
    assert len(server.requests) == before  # nothing was sent


def test_every_attempt_failing_is_a_failure_with_the_attempts(server: MockServer) -> None:
    result = run_cli("call", "openai/gpt-4o-mini", "hi", "--api-base", server.failing_url(503), "--num-retries", "1",
                     "--fallback", "openai/gpt-4o", env=KEY)
    assert_user_error(result, 1, "4 attempts on 2 models")
    assert result.stderr.count("ServiceUnavailableError 503") == 4 and result.stdout == ""
    assert "sk-test-key-123" not in result.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["--temperature", "7"], "temperature=7.0"),
    (["--max-tokens", "lots"], "invalid int value: 'lots'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_requests_are_bad_usage(args: list[str], needle: str) -> None:
    assert_user_error(run_cli("call", "openai/gpt-4o-mini", "hi", *args, env=KEY), 2, needle)


def test_options_after_the_prompt_are_still_options(server: MockServer) -> None:
    result = run_cli("call", "openai/gpt-4o-mini", "Hello there", "--api-base", server.url, "--temperature", "0.5",
                     env=KEY)
    assert result.returncode == 0, result.stderr
    body = sent(server)
    assert body["temperature"] == 0.5 and body["messages"][-1]["content"] == "Hello there"


def test_spend_is_recorded_with_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "spend.db"
    result = run_cli("call", "gpt-4o-mini", "Hello", "--mock-response", "Hi there", "--ledger", str(ledger),
                     "--user", "zed", "--team", "cli", "--tag", "try")
    assert result.returncode == 0 and result.stdout == "Hi there\n"
    cost = re.search(r"^cost: \$(\S+) ", result.stderr, re.M)
    report = run_cli("spend", "--ledger", str(ledger), "--by", "user,team,tag", "--format", "json")
    group = json.loads(report.stdout)["groups"]
    assert cost is not None and [(g["user"], g["team"], g["tag"], g["calls"]) for g in group] == [
        ("zed", "cli", "try", 1)]
    assert Decimal(group[0]["cost"]) == Decimal(cost.group(1))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_escape_sequences_in_an_answer_do_not_reach_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    hostile = "ok\x1b]0;owned\x07\x1b[2J\nnext\tline"
    with MockServer(reply=hostile) as mock:
        out = Terminal()
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        assert main(["call", "openai/gpt-4o-mini", "hi", "--api-base", mock.url]) == 0
        piped = run_cli("call", "openai/gpt-4o-mini", "hi", "--api-base", mock.url, env={"OPENAI_API_KEY": "k"})
    shown = out.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b]0;owned\\x07\\x1b[2J\nnext\tline" in shown
    assert hostile in piped.stdout  # a pipe gets the answer as it came


def test_a_retry_against_llmock_is_shown() -> None:
    from integration.servers import llmock

    with llmock() as server:
        server.scenario({"type": "fail", "status": 429, "retry_after": 0.05, "times": 1})
        result = run_cli("call", "openai/gpt-4o-mini", "Say hello", "--api-base", server.openai, env=KEY)
        journal = server.requests()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    attempts = [line for line in result.stderr.splitlines() if re.match(r"  \d\. ", line)]
    assert len(attempts) == 2 and "RateLimitError 429" in attempts[0] and " ok " in attempts[1]
    assert re.search(r"\(waited \d+ ms\)$", attempts[1])
    assert len(journal) == 2
