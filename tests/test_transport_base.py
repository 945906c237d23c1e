"""routerlib.transport._base: Limits, the line splitter both transports share, redirect and origin messages."""

from __future__ import annotations

import time

import pytest

from routerlib import exceptions as ex
from routerlib.transport import Limits
from routerlib.transport._base import LineSplitter, origin, redirect_error


def split(*reads: bytes, cap: int = 1 << 20) -> list[bytes]:
    splitter = LineSplitter(cap)
    lines = [line for data in reads for line in splitter.feed(data)]
    last = splitter.flush()
    return lines + ([last] if last is not None else [])


def test_lf_crlf_and_lone_cr_each_end_a_line() -> None:
    assert split(b"a\nb\r\nc\rd") == [b"a", b"b", b"c", b"d"]
    assert split(b"\r\r\n\n") == [b"", b"", b""]


def test_a_crlf_split_across_two_reads_is_one_line_ending() -> None:
    assert split(b"data: a\r", b"\ndata: b\r", b"\r\n") == [b"data: a", b"data: b", b""]
    assert split(b"x\r", b"\n") == [b"x"]
    assert split(b"x\r", b"y") == [b"x", b"y"]


def test_a_line_in_many_reads_is_joined_once() -> None:
    reads = [b"da", b"ta", b": ", b"x" * 5, b"\n", b"", b"tail"]
    assert split(*reads) == [b"data: xxxxx", b"tail"]


def test_a_line_past_the_cap_raises_naming_it() -> None:
    splitter = LineSplitter(100)
    for _ in range(9):
        assert splitter.feed(b"x" * 10) == []
    with pytest.raises(ex.ResponseTooLargeError, match=r"Limits.max_line_bytes \(100 bytes\)"):
        splitter.feed(b"x" * 20)
    with pytest.raises(ex.ResponseTooLargeError):
        LineSplitter(100).feed(b"ok\n" + b"y" * 150 + b"\nmore")  # a complete line in one read, too
    assert LineSplitter(100).feed(b"z" * 100 + b"\n") == [b"z" * 100]


def _feed_time(pieces: int) -> float:
    best = float("inf")
    for _ in range(3):
        splitter = LineSplitter(1 << 30)
        piece = b"x" * 64
        started = time.perf_counter()
        for _ in range(pieces):
            splitter.feed(piece)
        splitter.feed(b"\n")
        best = min(best, time.perf_counter() - started)
    return best


def test_buffering_a_line_that_never_ends_is_linear() -> None:
    # Eight times the pieces cost about eight times the time; a `pending + data` per read would
    # cost sixty-four times (every read copying all that came before). A ratio, not a clock.
    ratio = _feed_time(32_000) / _feed_time(4_000)
    assert ratio < 24, f"8x the pieces took {ratio:.1f}x the time"


def test_limits_defaults_and_validation() -> None:
    limits = Limits()
    assert (limits.max_response_bytes, limits.max_line_bytes, limits.max_header_bytes) == (32 << 20, 8 << 20, 64 << 10)
    assert Limits(max_line_bytes=10).max_line_bytes == 10
    with pytest.raises(AttributeError):
        limits.max_line_bytes = 1  # type: ignore[misc]
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ex.InvalidRequestError, match="max_header_bytes"):
            Limits(max_header_bytes=bad)  # type: ignore[arg-type]


def test_redirect_message_names_the_origin_only() -> None:
    base = "https://api.example.com/v1/chat?key=k"
    cases = {
        "https://user:pw@evil.example:8443/steal?key=sk-1#x": "https://evil.example:8443",
        "/relative/path?key=sk-1": "https://api.example.com",
        "http://[::1]:9/x": "http://[::1]:9",
        "javascript:alert(1)": "a javascript: URL",
        "http://exa mple.com/": "an unparseable Location",
        "http://host:99999/": "an unparseable Location",
    }
    for location, shown in cases.items():
        text = str(redirect_error(302, location, base))
        assert f"302 redirect to {shown};" in text, text
        assert "sk-1" not in text and "pw" not in text and "steal" not in text
    assert "no Location header" in str(redirect_error(301, None, base))


def test_origin_drops_userinfo_and_query() -> None:
    assert origin("https://user:secret@host.example:8443/v1/x?key=sk") == "https://host.example:8443/v1/x"
    assert origin("http://[::1]:80/p") == "http://[::1]:80/p"
