"""SQLiteCache on a real file: shared between instances, ttl, locked file skipped, async off the loop."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from routerlib.cache import sqlite as sqlite_module
from routerlib.cache.sqlite import SQLiteCache
from routerlib.exceptions import ConfigurationError


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "cache.db")


def test_entries_persist_across_instances_on_one_file(path: str) -> None:
    a = SQLiteCache(path)
    a.set("k", b"value")
    a.close()
    b = SQLiteCache(path)
    assert b.get("k") == b"value" and len(b) == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    b.delete("k")
    assert b.get("k") is None
    b.set("x", b"1")
    b.clear()
    assert len(b) == 0


def test_ttl_is_wall_clock_and_purged(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.0]
    monkeypatch.setattr(sqlite_module.time, "time", lambda: now[0])
    cache = SQLiteCache(path, ttl=10)
    cache.set("default", b"1")
    cache.set("short", b"2", ttl=1)
    cache.set("forever", b"3")  # the cache's ttl applies: 10 s
    now[0] += 2
    assert cache.get("short") is None and cache.get("default") == b"1"
    now[0] += 10
    assert cache.get("default") is None
    cache.purge()
    assert len(cache) == 0


def test_max_entries_keeps_the_newest(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(sqlite_module.time, "time", lambda: now[0])
    cache = SQLiteCache(path, max_entries=3)
    for i in range(5):
        now[0] += 1
        cache.set(f"k{i}", b"v")
    cache.purge()
    assert len(cache) == 3 and cache.get("k0") is None and cache.get("k4") == b"v"


def test_oversized_values_are_neither_stored_nor_read(path: str) -> None:
    cache = SQLiteCache(path, max_value_bytes=10)
    cache.set("big", b"x" * 11)
    assert cache.get("big") is None
    SQLiteCache(path, max_value_bytes=100).set("big", b"x" * 50)  # another writer with a larger bound
    assert cache.get("big") is None


def test_a_locked_file_is_skipped_with_one_warning(path: str, caplog: pytest.LogCaptureFixture) -> None:
    cache = SQLiteCache(path, busy_timeout=0.05, retry_interval=60)
    cache.set("k", b"v")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    tried: list[str] = []
    real_set = cache._set
    cache._set = lambda *a: (tried.append("set"), real_set(*a))[1]  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="routerlib"):
        cache.set("k2", b"v2")  # waits the busy timeout, then skipped
        cache.set("k3", b"v3")  # within the outage: not even tried
        assert cache.get("k") is None and not cache.available
    holder.execute("ROLLBACK")
    assert tried == ["set"]
    warnings = [r for r in caplog.records if "SQLiteCache is unavailable" in r.getMessage()]
    assert len(warnings) == 1 and "OperationalError" in warnings[0].getMessage()
    cache._outage.down_until = 0.0  # the retry interval has passed
    assert cache.get("k") == b"v" and cache.available


async def test_async_operations_run_off_the_event_loop(path: str) -> None:
    cache = SQLiteCache(path)
    threads: list[int] = []
    real_get = cache._get
    cache._get = lambda key: (threads.append(threading.get_ident()), real_get(key))[1]  # type: ignore[method-assign]
    await cache.aset("k", b"v")
    assert await cache.aget("k") == b"v"
    await cache.adelete("k")
    assert await cache.aget("k") is None
    assert threads and threading.get_ident() not in threads
    await asyncio.sleep(0)
    cache.close()


def test_a_file_of_another_format_version_is_not_read(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE routerlib_cache_v0 (key TEXT PRIMARY KEY, value BLOB)")
    conn.execute("INSERT INTO routerlib_cache_v0 VALUES ('k', x'00')")
    conn.commit()
    assert SQLiteCache(path).get("k") is None


def test_a_bad_path_fails_at_configuration(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing-dir"):  # typed, and names the path
        SQLiteCache(str(tmp_path / "missing-dir" / "cache.db"))


def test_threads_use_their_own_connections(path: str) -> None:
    cache = SQLiteCache(path, busy_timeout=5)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                cache.set(f"{n}-{i}", b"v")
                assert cache.get(f"{n}-{i}") == b"v"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) == 200


async def test_a_cancelled_async_operation_raises_even_when_it_finishes_in_the_same_turn(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As for single-flight followers: ``asyncio.wait_for`` on Python <= 3.11 swallowed a cancellation that
    arrived in the loop turn the SQLite read finished in, and the cancelled call went on."""
    cache = SQLiteCache(path)
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[bytes | None] = loop.create_future()
    monkeypatch.setattr(loop, "run_in_executor", lambda *args: finished)
    read = asyncio.ensure_future(cache._aget("k"))
    await asyncio.sleep(0)
    finished.set_result(b"value")
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    cache.close()


def test_a_cache_file_routerlib_creates_is_private_with_its_wal_and_shm(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached answers are users' answers: on a shared host a 0644 file (sqlite3's default under the usual
    umask) let every account read them. The file routerlib creates is 0600, and SQLite gives the -wal and
    -shm files the database's own mode."""
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "cache.db"
        cache = SQLiteCache(path)
        cache.set("k", b"value")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        assert modes == {"cache.db": 0o600, "cache.db-wal": 0o600, "cache.db-shm": 0o600}
        cache.close()
        mine = tmp_path / "mine.db"
        mine.touch(mode=0o640)  # a file the user made: its mode is theirs
        os.chmod(mine, 0o640)
        SQLiteCache(mine).set("k", b"value")
        assert stat.S_IMODE(mine.stat().st_mode) == 0o640
        monkeypatch.chdir(tmp_path)
        assert SQLiteCache(":memory:").get("k") is None and not (tmp_path / ":memory:").exists()
    finally:
        os.umask(old_umask)
