"""Argument types shared by the commands: times, counts and groupings, each refused with a clear line.

They are ``argparse`` ``type=`` functions: a bad value raises ``argparse.ArgumentTypeError``, which
argparse turns into its usage line and exit status 2, like any other bad usage.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import re
import time

__all__ = ["count", "grouping", "since_time", "until_time"]

_RELATIVE = re.compile(r"^(\d{1,6})([hdw])$")
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}
_TIME_HELP = "use YYYY-MM-DD, an ISO 8601 time such as 2026-11-25T14:00 (UTC unless it has an offset), " \
             "or a span back from now such as 12h, 7d or 4w"


def _parse_time(text: str, *, end: bool, now: float | None = None) -> float:
    """Epoch seconds; a bare date is its UTC midnight, or the next one when ``end`` (so a day is inclusive)."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        current = time.time() if now is None else now
        return current - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a date: {_TIME_HELP}") from None
        return float(calendar.timegm((day + dt.timedelta(days=1 if end else 0)).timetuple()))
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: {_TIME_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def since_time(text: str) -> float:
    """``--since``: the start, inclusive."""
    return _parse_time(text, end=False)


def until_time(text: str) -> float:
    """``--until``: the end, exclusive; a bare date includes that whole day."""
    return _parse_time(text, end=True)


def count(text: str) -> int:
    """A token count: an integer >= 0 (underscores allowed, as in 1_000_000)."""
    try:
        value = int(text.replace("_", ""), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of tokens") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a token count cannot be negative")
    return value


def grouping(text: str) -> tuple[str, ...]:
    """``--by``: comma-separated keys, at most one period; "total" for one row."""
    from .spend_summary import KEYS, PERIODS

    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if keys == ("total",):
        return ()
    unknown = [k for k in keys if k not in KEYS]
    if not keys or unknown:
        raise argparse.ArgumentTypeError(
            f"cannot group by {', '.join(unknown) or repr(text)}: use any of {', '.join(KEYS)} "
            "(comma-separated, e.g. day,model), or total")
    if len(set(keys)) != len(keys):
        raise argparse.ArgumentTypeError(f"{text!r} names a key twice")
    if sum(k in PERIODS for k in keys) > 1:
        raise argparse.ArgumentTypeError(f"{text!r}: group by one period at most (day, week or month)")
    return keys
