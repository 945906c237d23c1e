"""``routerlib demo``: a call with a fallback and its cost, with no key and no network.

The demo needs no key and no network: it starts routerlib's in-process mock server on
127.0.0.1, sends a completion whose primary deployment fails (503) and whose fallback
answers, and prints the answer, every attempt, and what the call cost.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

__all__ = ["demo", "register"]

HELP = "a completion with a fallback and its cost, against a local mock server"
EPILOG = """\
example:
  routerlib demo

It starts routerlib's mock OpenAI-compatible server on 127.0.0.1, sends a call whose primary
deployment answers 503 (retried once) and whose fallback answers, and prints every attempt.
"""


def register(commands: Any) -> None:
    parser = commands.add_parser("demo", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(run=lambda args: demo())


def demo() -> int:
    """Run the demo; returns the process exit code."""
    from ..client import Client
    from ..policy import RetryPolicy
    from ..testing import MockServer
    from ..types import ModelResponse

    messages = [{"role": "user", "content": "In one sentence: why route LLM calls in process?"}]
    # Backoff is shortened so the demo's retries take milliseconds, not seconds.
    client = Client(policy=RetryPolicy(initial_backoff=0.01, max_backoff=0.05))
    with MockServer(reply="Routing in process removes a network hop and keeps retries, "
                          "fallbacks and spend in your own code.") as server:
        response = client.completion(
            "openai/gpt-4o-mini", messages,
            api_base=server.failing_url(503), api_key="demo-key", num_retries=1,
            fallbacks=[{"model": "openai/gpt-4o", "api_base": server.url}],
            metadata={"user": "demo"})
        assert isinstance(response, ModelResponse)
        print("answer:  ", response.choices[0].message.content)
        print("answered by:", f"{response.provider}/{response.model}")
        print("attempts:")
        for n, attempt in enumerate(response.attempts, 1):
            status = attempt.outcome if attempt.outcome == "ok" else f"{attempt.error} {attempt.status_code}"
            print(f"  {n}. {attempt.provider}/{attempt.model:<12} {status:<32} "
                  f"{attempt.latency * 1000:6.1f} ms  (waited {attempt.waited * 1000:.0f} ms)")
        cost = response.cost
        usage = response.usage
        if usage is not None:
            print(f"usage:    {usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
        if cost is not None and cost.total is not None:
            print(f"cost:     ${_usd(cost.total)} (input ${_usd(cost.input)}, output ${_usd(cost.output)}; "
                  f"prices from {cost.source}: {cost.priced_as})")
        else:
            print("cost:     unknown (no price for this model)")
    client.close()
    return 0


def _usd(amount: Decimal) -> str:
    """Exact, without exponent or trailing zeros: 0.0002, not 2.000E-4."""
    return f"{amount.normalize():f}"

