"""Fixtures shared by the unit and the integration tests.

Every test runs with ``ROUTERLIB_CACHE_DIR`` pointing at an empty directory of its session, so a
refreshed price map in the developer's own cache never changes a price a test expects.

``redis_url`` is a real ``redis-server`` on a free loopback port, started once per test module
that asks for it (so every module gets an empty server) and stopped at the module's end. Tests
that share it keep apart by key prefix; the test is skipped when ``redis-server`` is not on PATH
(``.ci/run`` installs it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from redis_helpers import redis_server

# A developer's own refreshed price map (`routerlib prices update`) must not change what the tests
# price: every test, and every subprocess a test starts, sees an empty price cache of its own.
_PRICE_CACHE = tempfile.mkdtemp(prefix="routerlib-test-cache-")
os.environ["ROUTERLIB_CACHE_DIR"] = _PRICE_CACHE
os.environ.pop("ROUTERLIB_NO_PRICE_CACHE", None)
atexit.register(shutil.rmtree, _PRICE_CACHE, True)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url
