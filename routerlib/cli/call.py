"""``routerlib call``: one chat completion from the shell, streamed to stdout; attempts and cost on stderr.

The answer alone goes to stdout, so ``routerlib call m "..." > answer.txt`` and pipes get just
the text; what routerlib did (every attempt, usage, the exact cost) goes to stderr. Keys come from
the environment as in code (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``...) or from the variable that
``--api-key-env`` names: never from an argument, which would sit in the shell history and in
``ps`` output. On a terminal, control characters in the answer other than newlines and tabs are
shown escaped, so a model cannot send escape sequences to it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, TYPE_CHECKING, Any

from ._output import CommandError, UsageError, money, safe, safe_text

if TYPE_CHECKING:
    from ..client import Client
    from ..types import Attempt, Cost, Usage

__all__ = ["register", "run"]

HELP = "one completion from the shell, streamed; attempts and cost on stderr"
EPILOG = """\
examples:
  routerlib call openai/gpt-4o-mini "Name three primes."
  echo "Summarise: ..." | routerlib call anthropic/claude-haiku-4-5 --max-tokens 200
  routerlib call gpt-4o --fallback gpt-4o-mini --num-retries 1 "Hello" 2>attempts.txt
  routerlib call openai/my-model --api-base http://127.0.0.1:8000/v1 --api-key-env LOCAL_KEY "Hi"
  routerlib call gpt-4o-mini --mock-response "Hi there" "Hello"        no network: validated and priced

Keys come from the provider's environment variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...).
The prompt is read from stdin when it is "-" or left out. With --ledger the call is recorded,
so `routerlib spend --ledger` shows it.
"""


def register(commands: Any) -> None:
    parser = commands.add_parser("call", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help='"provider/model", or a bare name the price map knows')
    parser.add_argument("prompt", nargs="?", default="-", help='the user message; "-" or nothing reads stdin')
    parser.add_argument("--system", help="a system message")
    parser.add_argument("--api-base", help="the provider's base URL (any OpenAI-compatible server)")
    parser.add_argument("--api-version", help="the API version (Azure OpenAI)")
    parser.add_argument("--api-key-env", metavar="VAR", help="read the key from this environment variable")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-tokens", type=int, metavar="N")
    parser.add_argument("--timeout", type=float, metavar="S", help="seconds per attempt")
    parser.add_argument("--deadline", type=float, metavar="S", help="seconds for the whole call, waits included")
    parser.add_argument("--num-retries", type=int, metavar="N", help="retries per model for retryable errors")
    parser.add_argument("--fallback", action="append", default=[], metavar="MODEL",
                        help="a model to try when the first fails (repeatable, in order)")
    parser.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    parser.add_argument("--mock-response", metavar="TEXT", help="answer TEXT without any network call")
    parser.add_argument("--ledger", metavar="PATH", help="record the call's spend in this SQLite ledger")
    parser.add_argument("--user", help="the user to record the spend under")
    parser.add_argument("--team", help="the team to record the spend under")
    parser.add_argument("--tag", action="append", default=[], help="a tag to record (repeatable)")
    parser.set_defaults(run=run)


def _prompt(args: argparse.Namespace) -> str:
    if args.prompt != "-":
        return str(args.prompt)
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError('give a prompt, or pipe one on stdin (e.g. echo "Hello" | routerlib call MODEL)')
    text = sys.stdin.read()
    if not text.strip():
        raise UsageError("the prompt on stdin is empty")
    return text


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("api_base", "api_version", "temperature", "max_tokens", "timeout", "deadline", "num_retries",
                 "mock_response"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise UsageError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
        params["api_key"] = key
    if args.fallback:
        params["fallbacks"] = list(args.fallback)
    metadata = {k: v for k, v in (("user", args.user), ("team", args.team), ("tags", args.tag)) if v}
    if metadata:
        params["metadata"] = metadata
    return params


def _client(args: argparse.Namespace) -> Client:
    from ..client import Client

    if args.ledger is None:
        return Client()
    from ..spend import SQLiteLedger

    try:
        ledger = SQLiteLedger(args.ledger)
    except Exception as exc:  # sqlite3.Error, OSError: a path that cannot hold a ledger
        raise UsageError(f"cannot open the ledger {args.ledger}: {exc}") from None
    return Client(ledger=ledger)


def run(args: argparse.Namespace) -> int:
    from ..exceptions import APIError, InvalidRequestError, RouterlibError

    messages = ([{"role": "system", "content": args.system}] if args.system else [])
    messages.append({"role": "user", "content": _prompt(args)})
    params = _params(args)
    client = _client(args)
    out = sys.stdout
    terminal = out.isatty()
    try:
        if args.no_stream:
            response: Any = client.completion(args.model, messages, **params)
            _write(out, response.choices[0].message.content or "", terminal, end=True)
            _report(response.attempts, response.usage, response.cost)
            return 0
        stream: Any = client.completion(args.model, messages, stream=True, **params)
        last = ""
        with stream:
            for chunk in stream:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece:
                    _write(out, piece, terminal)
                    last = piece
        if not last.endswith("\n"):
            out.write("\n")
        out.flush()
        _report(stream.attempts, stream.usage, stream.cost)
        return 0
    except InvalidRequestError as exc:
        raise UsageError(str(exc)) from None
    except APIError as exc:
        out.flush()
        _report(exc.attempts, None, None, header=False)
        raise CommandError(str(exc)) from None
    except RouterlibError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()


def _write(out: IO[str], text: str, terminal: bool, *, end: bool = False) -> None:
    out.write(safe_text(text) if terminal else text)
    if end and not text.endswith("\n"):
        out.write("\n")
    out.flush()


def _report(attempts: tuple[Attempt, ...], usage: Usage | None, cost: Cost | None, *, header: bool = True) -> None:
    """What routerlib did, on stderr: every attempt, then the usage and the exact cost."""
    err = sys.stderr
    if not attempts:
        return
    print("attempts:", file=err)
    labels = [f"{safe(a.provider)}/{safe(a.model)}" for a in attempts]
    width = max(len(label) for label in labels)
    for n, (attempt, label) in enumerate(zip(attempts, labels, strict=True), 1):
        outcome = "ok" if attempt.outcome == "ok" else safe(attempt.summary().split(" ", 1)[-1])
        if attempt.outcome == "error":
            outcome = f"{attempt.error} {attempt.status_code or ''}".strip()
        waited = f" (waited {attempt.waited * 1000:.0f} ms)" if attempt.waited else ""
        print(f"  {n}. {label:<{width}}  {outcome}  {attempt.latency * 1000:.0f} ms{waited}", file=err)
    if not header:
        return
    if usage is not None:
        print(f"usage: {usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion tokens"
              + (" (estimated)" if usage.estimated else ""), file=err)
    if cost is not None and cost.total is not None:
        print(f"cost: ${money(cost.total)} (input ${money(cost.input + cost.cached_input + cost.cache_creation)}, "
              f"output ${money(cost.output + cost.reasoning)}; {cost.source}"
              + (f": {cost.priced_as}" if cost.priced_as else "") + ")", file=err)
    else:
        print("cost: unknown (no price for this model; `routerlib models` lists the priced ones)", file=err)
