"""acompletion with a budget never blocks the event loop, even when the ledger's Redis is slow.

A real redis-server behind a TCP proxy (in its own process) that delays every packet, a real
loopback provider, 40 budgeted acompletion calls at once, and a ticker measuring how late the
event loop runs it. A ledger called on the loop would stall the ticker for whole round trips.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from spend_helpers import LagMeter, proxy_process

import routerlib
from routerlib.spend import Budget, RedisLedger
from routerlib.testing import MockServer

MESSAGES = [{"role": "user", "content": "hi"}]
PRICES = {"input_cost_per_token": "0.000001", "output_cost_per_token": "0.000002"}
DELAY = 0.1  # seconds each way through the proxy: 200 ms per ledger round trip


async def test_budgeted_acompletion_keeps_the_event_loop_free(redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with proxy_process(port, delay=DELAY) as slow_port, MockServer(reply="ok") as server:
        ledger = RedisLedger(f"redis://127.0.0.1:{slow_port}/0", prefix="loop-lag:")
        client = routerlib.Client(ledger=ledger, budgets=[Budget("10", scope="global")])

        async def call() -> None:
            await client.acompletion("openai/gpt-4o-mini", MESSAGES, api_base=server.url, api_key="k",
                                     max_tokens=10, deadline=30, **PRICES)

        try:
            await call()  # warm: the model map and the tokenizer load once per process (CPU, not I/O)
            with LagMeter() as meter:
                await asyncio.gather(*(call() for _ in range(40)))
            # The control: one sync ledger call on the loop stalls the same meter for a round trip.
            with LagMeter() as control:
                await asyncio.sleep(0.02)
                ledger.total()
                await asyncio.sleep(0.02)
        finally:
            await ledger.aclose()
        assert len(server.requests) == 41
        # A ledger on the loop stalls it a whole round trip (2 x DELAY) per operation, 80 of them.
        assert meter.worst < 2 * DELAY, f"the loop stalled {meter.worst:.3f} s"
        assert control.worst > DELAY
        assert ledger.reserved() == {} and len(ledger.records()) == 41
        assert ledger.total() == sum((r.cost for r in ledger.records()), Decimal(0))  # type: ignore[misc]
        ledger.close()
