"""routerlib._settings: a LiteLLM-style module setting raises, saying where the setting goes.

``routerlib.num_retries = 0`` used to be accepted and ignored (a server saw 3 requests); now
every assignment of a setting, and of any new attribute, raises ``ModuleSettingError``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import routerlib
from routerlib import _settings
from routerlib.exceptions import ModuleSettingError, RouterlibError

ROOT = Path(__file__).resolve().parents[1]

#: (setting, a value LiteLLM users assign, words the message must contain)
COMMON = [
    ("success_callback", [print], "Client(callbacks="),
    ("failure_callback", [print], "Client(callbacks="),
    ("callbacks", [object()], "Client(callbacks="),
    ("num_retries", 0, "num_retries=N"),
    ("request_timeout", 5, "timeout="),
    ("drop_params", True, "drop_params=True"),
    ("set_verbose", True, "logging"),
    ("suppress_debug_info", True, "logging"),
    ("api_key", "sk-x", "api_key="),
    ("openai_key", "sk-x", "OPENAI_API_KEY"),
    ("anthropic_key", "sk-x", "api_key="),
    ("togetherai_api_key", "sk-x", "api_key="),
    ("api_base", "http://h/v1", "api_base="),
    ("max_budget", 10, "Budget("),
    ("fallbacks", ["gpt-4o"], "fallbacks="),
    ("context_window_fallbacks", [], "context_window_fallback_dict="),
    ("model_cost", {}, "register_model"),
    ("modify_params", True, "not supported"),
    ("cache", object(), "Client(cache=routerlib.cache.MemoryCache()"),
    ("telemetry", False, "no telemetry"),
]


@pytest.mark.parametrize(("name", "value", "words"), COMMON, ids=[c[0] for c in COMMON])
def test_a_litellm_setting_is_refused_with_where_it_goes(name: str, value: object, words: str) -> None:
    with pytest.raises(ModuleSettingError) as caught:
        setattr(routerlib, name, value)
    message = str(caught.value)
    assert words in message
    assert f"routerlib.{name} = ... would be ignored" in message
    assert "sk-x" not in message, "a key assigned by mistake is not echoed"
    assert isinstance(caught.value, AttributeError) and isinstance(caught.value, RouterlibError)
    assert vars(routerlib).get(name) is not value, "nothing was set"


def test_every_listed_setting_says_where_it_goes() -> None:
    for name, where in _settings.LITELLM_SETTINGS.items():
        assert where, name
        assert ("Client(" in where or "per-call keyword" in where or "not supported" in where
                or "logging" in where or "nothing" in where or "register_model" in where
                or "fallbacks=" in where), (name, where)


def test_a_new_attribute_is_refused_too() -> None:
    with pytest.raises(ModuleSettingError, match=r"routerlib\.my_setting = \.\.\.: .*cannot be added or set"):
        routerlib.my_setting = 1  # type: ignore[attr-defined]
    assert not hasattr(routerlib, "my_setting")


def test_reading_a_litellm_setting_says_where_it_goes() -> None:
    with pytest.raises(AttributeError, match="num_retries=N"):
        routerlib.num_retries  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(routerlib, "success_callback")
    with pytest.raises(AttributeError, match=r"has no attribute 'no_such_thing'$"):
        routerlib.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    for name in ("Cache", "enable_cache", "disable_cache"):  # litellm.cache = litellm.Cache(...) reads first
        with pytest.raises(AttributeError, match=r"Client\(.*cache="):
            getattr(routerlib, name)


def test_patching_an_existing_name_still_works() -> None:
    """Tests replace routerlib.completion (unittest.mock.patch, monkeypatch): that is not a setting."""
    original = routerlib.completion
    with mock.patch("routerlib.completion") as fake:
        fake.return_value = "patched"
        assert routerlib.completion("m", []) == "patched"
    assert routerlib.completion is original
    with mock.patch("routerlib.completion_cost", return_value=1.0):  # a lazily loaded name
        assert routerlib.completion_cost(None) == 1.0


def test_submodules_still_bind_on_import() -> None:
    code = ("import routerlib, routerlib.testing, routerlib.spend\n"
            "assert routerlib.testing.MockServer and routerlib.spend.MemoryLedger\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_the_settings_table_is_imported_only_when_needed() -> None:
    code = ("import sys, routerlib\n"
            "assert 'routerlib._settings' not in sys.modules\n"
            "try:\n    routerlib.num_retries = 0\nexcept AttributeError:\n    pass\n"
            "assert 'routerlib._settings' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
