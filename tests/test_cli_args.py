"""Argument types: times (dates inclusive at the end, ISO times, spans back from now), counts, groupings."""

from __future__ import annotations

import argparse
import calendar
import time

import pytest

from routerlib.cli import _args

MIDNIGHT = calendar.timegm((2026, 11, 25, 0, 0, 0))


def test_a_bare_date_is_its_utc_midnight_and_until_includes_the_whole_day() -> None:
    assert _args.since_time("2026-11-25") == MIDNIGHT
    assert _args.until_time("2026-11-25") == MIDNIGHT + 86_400


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-25T14:00", MIDNIGHT + 14 * 3600),               # naive: UTC
    ("2026-11-25T14:00:30Z", MIDNIGHT + 14 * 3600 + 30),
    ("2026-11-25T14:00+02:00", MIDNIGHT + 12 * 3600),
    (" 2026-11-25 14:00 ", MIDNIGHT + 14 * 3600),
])
def test_iso_times(text: str, expected: float) -> None:
    assert _args.since_time(text) == expected == _args.until_time(text)  # an instant is exclusive as given


def test_spans_back_from_now() -> None:
    before = time.time()
    value = _args.since_time("7d")
    assert before - 7 * 86_400 - 1 < value <= time.time() - 7 * 86_400
    assert abs(_args.since_time("12h") - (time.time() - 12 * 3600)) < 5
    assert abs(_args.since_time("2w") - (time.time() - 14 * 86_400)) < 5


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-02-30", "7x", "-7d", "", "2026/11/25"])
def test_bad_times_say_what_is_allowed(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="use YYYY-MM-DD, an ISO 8601 time"):
        _args.since_time(text)


def test_counts() -> None:
    assert _args.count("1_000_000") == 1_000_000 and _args.count("0") == 0
    for bad, message in (("-1", "cannot be negative"), ("1.5", "not a whole number"), ("many", "not a whole")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            _args.count(bad)


def test_groupings() -> None:
    assert _args.grouping("day") == ("day",)
    assert _args.grouping(" month , team ") == ("month", "team")
    assert _args.grouping("user,tag,model") == ("user", "tag", "model")
    assert _args.grouping("total") == ()
    for bad, message in (("day,week", "one period at most"), ("user,user", "names a key twice"),
                         ("colour", "cannot group by colour: use any of day, week, month, user"), (",", "cannot")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            _args.grouping(bad)
