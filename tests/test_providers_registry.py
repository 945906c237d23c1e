"""The provider registry: built-ins, per-client registration, and the documented table."""

from __future__ import annotations

from pathlib import Path

import pytest

import routerlib
from routerlib.providers import ProviderRegistry, ProviderSpec, builtin_specs
from routerlib.providers.openai_compat import OpenAICompatAdapter

DOC = Path(__file__).resolve().parent.parent / "docs" / "providers.md"


def test_every_builtin_provider_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in builtin_specs() if f"| {name} |" not in text and f"`{name}/" not in text]
    assert missing == []


def test_a_provider_registered_on_one_client_is_not_on_another() -> None:
    first, second = routerlib.Client(environ={}), routerlib.Client(environ={})
    first.register_provider(name="acme", api_base="http://acme.test/v1", api_key_env=("ACME_KEY",))
    assert "acme" in first.providers and "acme" not in second.providers
    assert "acme" not in builtin_specs()


def test_registration_checks_its_input() -> None:
    registry = ProviderRegistry()
    with pytest.raises(ValueError, match="contain no '/'"):
        registry.register(ProviderSpec(name="a/b", adapter=OpenAICompatAdapter()))
    with pytest.raises(TypeError, match="ProviderSpec"):
        registry.register({"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(routerlib.InvalidRequestError, match="did you mean openai"):
        ProviderRegistry.with_builtins().require("opena")
