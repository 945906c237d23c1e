"""Fixtures shared by the unit and the integration tests.

``redis_url`` is a real ``redis-server`` on a free loopback port, started once per test module
that asks for it (so every module gets an empty server) and stopped at the module's end. Tests
that share it keep apart by key prefix; the test is skipped when ``redis-server`` is not on PATH
(``.ci/run`` installs it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_helpers import redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url
