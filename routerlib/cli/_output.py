"""What every command shares: its errors and exit codes, tables, progress, and safe text for a terminal.

Tables and progress bars come from ``rich`` (the ``cli`` extra) when it is installed and the
output is a terminal; otherwise tables are plain aligned columns and there is no bar. The
command is installed by every ``pip install routerlib`` (an entry point cannot depend on an
extra), so it must work without rich; pipes and files get plain text either way, which is what
``grep``, ``awk`` and ``column`` expect.

Text that comes from outside (user names and tags from a ledger, model names from a downloaded
price file) is shown through ``safe()`` and never as rich markup: a name such as
``"[red]x"`` or one holding an escape sequence must not restyle or take over the terminal.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

__all__ = ["Column", "CommandError", "UsageError", "csv_cell", "have_rich", "money", "print_table", "progress",
           "safe", "safe_text", "wants_rich"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Work shorter than this shows no bar at all (a bar that flashes for 50 ms is noise).
_PROGRESS_DELAY = 0.5
_hinted = False


class CommandError(Exception):
    """The command could not do its work (exit status 1); the message is one line for stderr."""

    exit_code = 1


class UsageError(CommandError):
    """What was typed is wrong: a bad value, an unknown model, a missing file (exit status 2)."""

    exit_code = 2


def safe(text: object) -> str:
    """``text`` without control characters (each shown as ``\\xNN``), fit for any terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def safe_text(text: str) -> str:
    """Like ``safe`` but keeping newlines and tabs: for running text such as a model's answer."""
    return _CONTROL_BUT_LINES.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def csv_cell(text: str) -> str:
    """A name for a CSV cell that a spreadsheet will not run: a leading ``= + - @`` (a formula, the
    "CSV injection" of OWASP) gets a ``'`` in front. Only for names that come from outside."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def money(amount: Decimal) -> str:
    """Exact plain decimal text without trailing zeros: "0.0000375", never "3.75E-5" or "0.00003750".

    Not ``Decimal.normalize()``: it rounds to the context's 28 digits, and an exact sum can be longer.
    """
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def have_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def wants_rich(stream: IO[str]) -> bool:
    """Rich output only on a terminal, and only when rich is installed (else a one-time hint)."""
    if not _isatty(stream):
        return False
    if have_rich():
        return True
    _hint()
    return False


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _hint() -> None:
    global _hinted
    if not _hinted:
        _hinted = True
        print("routerlib: plain output; pip install 'routerlib[cli]' for tables and progress bars", file=sys.stderr)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header, whether its cells are numbers (right-aligned), and whether a
    terminal too narrow for the whole table may leave it out (``drop`` > 0: the highest goes first).
    """

    header: str
    numeric: bool = False
    drop: int = 0


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], *, title: str | None = None,
                footer: Sequence[str] | None = None, stream: IO[str] | None = None) -> None:
    """Rows of cell text as a rich table on a terminal, or as plain aligned columns."""
    out = stream if stream is not None else sys.stdout
    cells = [[safe(c) for c in row] for row in rows]
    foot = [safe(c) for c in footer] if footer is not None else None
    if wants_rich(out):
        _rich_table(columns, cells, title, foot, out)
    else:
        _plain_table(columns, cells, title, foot, out)


def _rich_table(columns: Sequence[Column], rows: list[list[str]], title: str | None,
                footer: list[str] | None, out: IO[str]) -> None:
    """A rich table that fits the terminal: droppable columns go, highest ``drop`` first, before any
    number would be cut (rich crops a column that cannot fit, and a cropped number is a wrong number)."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(file=out, highlight=False)
    keep = list(range(len(columns)))
    while True:
        table = _build_rich_table([columns[i] for i in keep], [[r[i] for i in keep] for r in rows], title,
                                  [footer[i] for i in keep] if footer is not None else None)
        droppable = [i for i in keep if columns[i].drop]
        natural = Measurement.get(console, console.options.update(max_width=1_000_000), table).maximum
        if not droppable or natural <= console.width:
            break
        keep.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    console.print(table)


def _build_rich_table(columns: Sequence[Column], rows: list[list[str]], title: str | None,
                      footer: list[str] | None) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title) if title else None, show_footer=footer is not None, header_style="bold",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for i, col in enumerate(columns):
        foot = Text(footer[i], style="bold") if footer is not None else ""
        widest = max((len(r[i]) for r in rows), default=0)
        # Numbers never wrap; names fold onto more lines rather than lose their end to an ellipsis.
        table.add_column(Text(col.header), footer=foot, justify="right" if col.numeric else "left",
                         no_wrap=col.numeric, overflow="fold", min_width=None if col.numeric else min(widest, 24))
    for row in rows:
        table.add_row(*(Text(c) for c in row))  # Text, not str: names are never read as markup
    return table


def _plain_table(columns: Sequence[Column], rows: list[list[str]], title: str | None,
                 footer: list[str] | None, out: IO[str]) -> None:
    body = [[c.header for c in columns], *rows, *([footer] if footer is not None else [])]
    widths = [max(len(r[i]) for r in body) for i in range(len(columns))]
    if title:
        print(title, file=out)
    for row in body:
        cells = [cell.rjust(w) if col.numeric else cell.ljust(w) for cell, w, col in zip(row, widths, columns,
                                                                                        strict=True)]
        print("  ".join(cells).rstrip(), file=out)


@contextmanager
def progress(total: int, what: str, *, mode: str = "auto", stream: IO[str] | None = None
             ) -> Iterator[Callable[[int], None]]:
    """A context giving ``advance(n)``; a rich bar appears on stderr once the work takes a moment.

    ``mode`` "auto" shows it on a terminal after ``_PROGRESS_DELAY``; "always" shows it from the
    start wherever stderr goes (and says so when rich is missing); "never" shows nothing.
    """
    err = stream if stream is not None else sys.stderr
    show = mode == "always" or (mode == "auto" and _isatty(err))
    if not show or total <= 0:
        yield lambda n: None
        return
    if not have_rich():
        if mode == "always":
            _hint()
        yield lambda n: None
        return
    bar = _LazyBar(total, what, err, 0.0 if mode == "always" else _PROGRESS_DELAY, force=mode == "always")
    try:
        yield bar.advance
    finally:
        bar.stop()


class _LazyBar:
    """A rich progress bar that starts only when the work has already taken ``delay`` seconds."""

    def __init__(self, total: int, what: str, stream: IO[str], delay: float, *, force: bool) -> None:
        self.total, self.what, self.stream, self.force = total, what, stream, force
        self.start = time.monotonic() + delay
        self.done = 0
        self.bar: Any = None
        self.task: Any = None

    def advance(self, n: int) -> None:
        self.done += n
        if self.bar is None and time.monotonic() >= self.start:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            console = Console(file=self.stream, force_terminal=self.force or None)
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=console, transient=not self.force)
            self.task = self.bar.add_task(safe(self.what), total=self.total, completed=self.done)
            self.bar.start()
        elif self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def stop(self) -> None:
        if self.bar is not None:
            # The total may have been an upper bound (a Redis ledger counts by time only): end full.
            self.bar.update(self.task, total=max(self.done, 1), completed=self.done)
            self.bar.stop()
