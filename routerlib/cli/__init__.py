"""The ``routerlib`` command: spend reports, prices, one call from the shell, and the demo.

::

    routerlib demo                                  a call with a fallback, against a local mock server
    routerlib spend --ledger spend.db [--html F]    spend per day/week/month and user/team/tag/model/provider
    routerlib models [QUERY]                        the price map's models, prices and limits
    routerlib price MODEL --prompt N --completion M what a request costs, exactly
    routerlib prices update [--from FILE|URL]       refresh the price map into the per-user cache
    routerlib call MODEL [PROMPT|-]                 one completion, streamed; attempts and cost on stderr

One module per command group (``demo``, ``spend``, ``models``, ``prices``, ``call``), each with
``register(subparsers)``; a command imports what it needs when it runs, so ``--help`` is quick
and ``import routerlib`` never imports any of this (nor rich, the ``cli`` extra).

Exit status: 0 success; 1 the work failed (a provider error, Redis unreachable, a bad download);
2 bad usage (an unknown option or model, a bad date, a ledger file that is not there). A user
error is one line on stderr, never a traceback; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from ..exceptions import RouterlibError
from ._output import CommandError

__all__ = ["build_parser", "main"]

_DESCRIPTION = "routerlib: an in-process LLM router. Spend reports, model prices, and one call from the shell."
_EPILOG = """\
examples:
  routerlib demo
  routerlib spend --ledger spend.db --by month,user
  routerlib models claude-haiku
  routerlib price gpt-4o-mini --prompt 1200 --completion 300 --cached 1000
  routerlib prices update
  echo "Say hi" | routerlib call openai/gpt-4o-mini

Run `routerlib COMMAND --help` for each command's options and examples.
"""


#: Commands whose positionals may come after options (`call MODEL --api-base URL "prompt"`): argparse
#: assigns positionals greedily at the first of them, so these are parsed with parse_intermixed_args.
_INTERMIXED = ("call",)


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from . import call, demo, models, prices, spend

    parser = argparse.ArgumentParser(prog="routerlib", description=_DESCRIPTION, epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"routerlib {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, spend, models, prices, call):
        module.register(commands)
    return parser, dict(commands.choices)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (every command registered)."""
    return _build()[0]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser, subparsers = _build()
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in _INTERMIXED:
        args = subparsers[words[0]].parse_intermixed_args(words[1:])
        args.command = words[0]
        return args
    return parser.parse_args(words)


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns its exit status (argparse's own exits are returned, not raised)."""
    try:
        args = _parse(argv)
    except SystemExit as exc:  # --help, --version, or bad usage (argparse printed it)
        return exc.code if isinstance(exc.code, int) else 2
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        return int(args.run(args))
    except CommandError as exc:
        print(f"routerlib {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RouterlibError as exc:  # a library error a command did not translate: still one line
        print(f"routerlib {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`routerlib spend | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        warnings.showwarning = shown


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """A warning as one line on stderr ("routerlib: warning: ..."), not a source location and a code line."""
    print(f"routerlib: warning: {message}", file=sys.stderr)
