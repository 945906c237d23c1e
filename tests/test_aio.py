"""_aio.bounded: a time-bounded await that never swallows the caller's cancellation."""

from __future__ import annotations

import asyncio

import pytest

from routerlib._aio import bounded


async def test_the_result_within_the_bound() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await bounded(answer(), 1.0) == 42
    assert await bounded(answer(), None) == 42


async def test_past_the_bound_the_operation_is_cancelled_and_a_timeout_raised() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stall() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(asyncio.TimeoutError, match=r"no answer within 0\.01 s"):
        await bounded(stall(), 0.01)
    await asyncio.sleep(0)
    assert started.is_set() and cancelled.is_set()


async def test_a_caller_cancelled_as_the_operation_finishes_is_still_cancelled() -> None:
    # The operation's answer and the caller's cancellation land in the same loop turn: wait_for
    # on Python <= 3.11 returned the answer and the cancelled caller went on (to send, and pay).
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    went_on: list[int] = []

    async def caller() -> None:
        went_on.append(await bounded(answer, 5.0))

    task = asyncio.create_task(caller())
    await asyncio.sleep(0)  # the caller waits
    answer.set_result(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert went_on == []


async def test_a_cancelled_caller_cancels_the_operation() -> None:
    cancelled = asyncio.Event()

    async def stall() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(bounded(stall(), 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert cancelled.is_set()
