"""routerlib.providers.base: a Deployment is checked when it is made, lists its secrets, and shows none."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from routerlib.exceptions import InvalidRequestError
from routerlib.providers.base import Deployment, ProviderSpec
from routerlib.providers.registry import builtin_specs

KEY = "sk-test-base-0123456789"


def deployment(spec: ProviderSpec | None = None, **fields: Any) -> Deployment:
    return Deployment(spec=spec or builtin_specs()["openai"], **{"model": "gpt-4o-mini",
                                                                  "api_base": "https://api.example.com/v1", **fields})


def test_secrets_lists_key_token_and_credential_headers() -> None:
    dep = deployment(api_key=KEY, bearer_token="entra-0123456789",
                     headers={"Authorization": "Bearer hdr-0123456789", "x-trace": "t"})
    assert {KEY, "entra-0123456789", "Bearer hdr-0123456789", "hdr-0123456789"} <= set(dep.secrets)
    assert "t" not in dep.secrets
    assert deployment().secrets == ()


def test_repr_id_and_pickle_show_no_credential() -> None:
    dep = deployment(api_key=KEY, bearer_token="entra-0123456789", headers={"x-api-key": "hdr-0123456789"})
    for text in (repr(dep), str(dep), dep.id):
        assert KEY not in text and "entra-0123456789" not in text and "hdr-0123456789" not in text
    assert "api.example.com" in repr(dep) and "x-api-key" in repr(dep)
    assert pickle.loads(pickle.dumps(dep)).api_key == KEY, "still a plain value object"


def test_the_id_never_carries_userinfo() -> None:
    # userinfo is refused when the deployment is made; the id is built first and must not carry it either
    with pytest.raises(InvalidRequestError) as info:
        deployment(api_base="https://user:pa55word@h/v1")
    assert "pa55word" not in str(info.value)


def test_checks_run_when_a_deployment_is_made() -> None:
    with pytest.raises(InvalidRequestError, match="has no scheme"):
        deployment(api_base="h:1/v1")
    with pytest.raises(InvalidRequestError, match="contains a line break"):
        deployment(api_key=KEY + "\n")
