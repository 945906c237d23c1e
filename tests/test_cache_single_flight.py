"""Single flight: one leader per key, followers get its entry; sync and async share a registry."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from routerlib.cache.single_flight import SingleFlight

ENTRY = ("key", b"entry")


def test_the_first_caller_leads_the_others_follow() -> None:
    flights = SingleFlight()
    leader, leading = flights.join("k")
    follower, following_leads = flights.join("k")
    assert leading and not following_leads and follower is leader and len(flights) == 1
    flights.finish("k", leader, ENTRY)  # type: ignore[arg-type]
    assert len(flights) == 0 and follower.wait(1) == ENTRY and follower.done
    again, leads_again = flights.join("k")
    assert leads_again and again is not leader


def test_a_caller_that_may_not_store_never_leads() -> None:
    flights = SingleFlight()
    assert flights.join("k", lead=False) == (None, False)
    assert len(flights) == 0


def test_threads_wait_for_the_leader() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(flights.join("k")[0].wait(5)))  # type: ignore[union-attr]
               for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert results == []
    flights.finish("k", leader, ENTRY)  # type: ignore[arg-type]
    for t in threads:
        t.join()
    assert results == [ENTRY] * 10


def test_a_failed_leader_hands_over_nothing_and_finish_is_idempotent() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    flights.finish("k", leader, None)  # type: ignore[arg-type]
    flights.finish("k", leader, ENTRY)  # type: ignore[arg-type]
    assert leader.wait(1) is None


def test_a_follower_wait_is_bounded() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    started = time.monotonic()
    assert leader.wait(0.05) is None and leader.wait(0) is None
    assert time.monotonic() - started < 5


async def test_async_followers_and_a_sync_leader_on_another_thread() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    waiters = [asyncio.ensure_future(leader.await_result(5)) for _ in range(20)]
    await asyncio.sleep(0.01)
    threading.Thread(target=flights.finish, args=("k", leader, ENTRY)).start()
    assert await asyncio.gather(*waiters) == [ENTRY] * 20
    assert await leader.await_result(1) == ENTRY  # after the end: at once


async def test_an_async_follower_times_out_without_blocking_the_loop() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.ensure_future(ticker())
    assert await leader.await_result(0.1) is None
    task.cancel()
    assert ticks >= 5 and not leader._waiters
    assert await leader.await_result(0) is None


def test_a_leader_on_a_closed_loop_does_not_fail() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    loop = asyncio.new_event_loop()
    future = loop.create_future()
    leader._waiters = [(loop, future)]
    loop.close()
    flights.finish("k", leader, ENTRY)  # type: ignore[arg-type]
    assert leader.wait(0) == ENTRY


async def test_a_cancelled_follower_raises_even_when_the_leader_finishes_in_the_same_turn() -> None:
    """The leader's answer (or its abandonment, when the whole batch is cancelled) and the follower's
    cancellation land in one loop turn: ``asyncio.wait_for`` on Python <= 3.11 returned the result and
    swallowed the CancelledError, so a cancelled follower went on and called upstream itself."""
    for result in (ENTRY, None):
        flights = SingleFlight()
        leader, _ = flights.join("k")
        follower = asyncio.ensure_future(leader.await_result(5))
        await asyncio.sleep(0)  # the follower is waiting now
        flights.finish("k", leader, result)  # type: ignore[arg-type]
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        assert not leader._waiters


async def test_a_follower_that_times_out_leaves_no_waiter_behind() -> None:
    flights = SingleFlight()
    leader, _ = flights.join("k")
    assert await leader.await_result(0.01) is None
    assert not leader._waiters
    flights.finish("k", leader, ENTRY)  # type: ignore[arg-type]
    assert leader.wait(0) == ENTRY
