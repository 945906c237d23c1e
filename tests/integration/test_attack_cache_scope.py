"""Attack pass: per-user cache scoping with an empty user.

docs/cache.md: with ``per_user=True`` "a call with no user at all is not cached, neither read nor
written, rather than shared by every anonymous caller". A careless caller passes
``user=current_user.id or ""``; the empty string is taken as a user, so every anonymous caller
reads the others' answers.
"""

from __future__ import annotations

import pytest
from fault_server import fault_servers

from routerlib import Client
from routerlib.cache import MemoryCache

MESSAGES = [{"role": "user", "content": "what is my account balance?"}]


@pytest.mark.xfail(strict=True, reason="cache/keys.py:user_scope returns request.user even when it is '' "
                   "(and request validation accepts user=''), so anonymous callers share one scope")
@pytest.mark.parametrize("user", ["", " "])
def test_an_empty_user_is_no_user_under_per_user_scoping(user: str) -> None:
    with fault_servers("a") as (a,):
        client = Client(cache=MemoryCache(per_user=True))
        params = {"model": "openai/gpt-4o-mini", "api_base": a.url, "api_key": "sk-test-0123456789", "user": user}
        client.completion(messages=MESSAGES, **params)  # anonymous caller 1
        second = client.completion(messages=MESSAGES, **params)  # anonymous caller 2
        assert not second.cache_hit
        assert a.count() == 2
