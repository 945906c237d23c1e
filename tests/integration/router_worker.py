"""One process of a multi-process Router test: ``python router_worker.py '<json job>'``.

The job names the Redis URL, the deployments (LiteLLM model_list entries), the Router's
options and what to do; the worker prints one JSON line with what happened. Warnings of the
``routerlib`` logger go to stderr, where the test reads them.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from typing import Any

import routerlib
from routerlib import RetryPolicy, Router

MESSAGES = [{"role": "user", "content": "hi"}]


def main(job: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    router = Router(job["model_list"], redis_url=job["redis_url"], environ={},
                    policy=RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0.0), **job.get("options", {}))
    if job.get("start_at"):
        time.sleep(max(job["start_at"] - time.time(), 0.0))
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    params = job.get("params", {})
    stop_at = time.time() + job["seconds"] if job.get("seconds") else None

    def worker() -> None:
        done = 0
        while (stop_at is None and done < job["calls"]) or (stop_at is not None and time.time() < stop_at):
            done += 1
            try:
                response = router.completion("chat", MESSAGES, **params)
                key = "ok:" + str(response.choices[0].message.content)
            except routerlib.NoDeploymentAvailableError:
                key = "none"
            except routerlib.RouterlibError as error:
                key = "error:" + type(error).__name__
            with lock:
                counts[key] += 1
            if job.get("pause"):
                time.sleep(job["pause"])

    threads = [threading.Thread(target=worker) for _ in range(job.get("threads", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"counts": counts, "round_trips": router._store.round_trips}), flush=True)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
