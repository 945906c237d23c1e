"""Per-call cache controls (LiteLLM's names), validated with the rest of the request."""

from __future__ import annotations

from typing import Any

import pytest

import routerlib
from routerlib._request import build_request
from routerlib.cache.control import CacheControl, check_namespace


def build(cache: Any) -> routerlib._request.ChatRequest:
    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                          "cache": cache})


def test_litellm_controls_are_accepted() -> None:
    control = build({"no-cache": True, "no-store": False, "ttl": 60, "s-maxage": 0, "namespace": "team-a:v2"}).cache
    assert control == CacheControl(no_cache=True, no_store=False, ttl=60.0, s_maxage=0.0, namespace="team-a:v2")
    assert control.as_dict() == {"no-cache": True, "ttl": 60.0, "s-maxage": 0.0, "namespace": "team-a:v2"}
    assert build(None).cache is None and build({}).cache == CacheControl()


@pytest.mark.parametrize(("cache", "message"), [
    ({"no_cache": True}, "unknown cache control 'no_cache' (did you mean 'no-cache'?)"),
    ({"nocache": True}, "allowed: no-cache, no-store, ttl, s-maxage, namespace"),
    ({"no-cache": "yes"}, "must be true or false"),
    ({"no-store": 1}, "must be true or false"),
    ({"ttl": 0}, "must be > 0 seconds"), ({"ttl": -5}, "must be > 0"), ({"ttl": "60"}, "number of seconds"),
    ({"ttl": float("inf")}, "number of seconds"), ({"ttl": True}, "number of seconds"),
    ({"s-maxage": -1}, "must be >= 0"),
    ({"namespace": ""}, "1 to 128 characters"), ({"namespace": "a b"}, "1 to 128"),
    ({"namespace": "x" * 129}, "1 to 128"), ({"namespace": "a*"}, "1 to 128"), ({"namespace": 3}, "1 to 128"),
    ("no-cache", "must be a dict of cache controls"), (True, "the cache itself is the client's: Client(cache="),
    ({"use-cache": "yes"}, "must be true or false"),
    ({"s-max-age": 5, "s-maxage": 6}, "given twice"), ({"s-max-age": -1}, "must be >= 0"),
])
def test_bad_controls_are_refused_before_anything_is_sent(cache: Any, message: str) -> None:
    with pytest.raises(routerlib.InvalidRequestError, match="cache") as info:
        build(cache)
    assert message in str(info.value)


def test_litellm_spellings_use_cache_and_s_max_age() -> None:
    assert CacheControl.parse({"s-max-age": 30}) == CacheControl(s_maxage=30.0)
    assert CacheControl.parse({"s-max-age": 30, "s-maxage": 30}) == CacheControl(s_maxage=30.0)
    assert CacheControl.parse({"use-cache": True, "ttl": 5}) == CacheControl(ttl=5.0)  # opting in: the default
    assert CacheControl.parse({"use-cache": False}) == CacheControl(no_cache=True, no_store=True)


def test_namespace_check() -> None:
    assert check_namespace("a.b_c-d:e@f/g+h=i") == "a.b_c-d:e@f/g+h=i"
    with pytest.raises(ValueError, match="namespace="):
        check_namespace("with space")
