"""The public surface: a sorted, complete ``__all__``, and a cheap import that loads no optional dependency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import routerlib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("aiohttp", "tiktoken", "sqlite3", "redis", "litellm", "jinja2", "rich")


def test_all_is_sorted_and_unique() -> None:
    assert routerlib.__all__ == sorted(routerlib.__all__)
    assert len(set(routerlib.__all__)) == len(routerlib.__all__)


def test_every_name_in_all_exists() -> None:
    missing = [name for name in routerlib.__all__ if not hasattr(routerlib, name)]
    assert missing == []


def test_documented_entry_points_are_public() -> None:
    for name in ("completion", "acompletion", "text_completion", "atext_completion", "Client", "ModelResponse",
                 "Stream", "AsyncStream", "Cost", "Usage", "Attempt", "RouterlibError", "APIError",
                 "RateLimitError", "StreamInterruptedError", "Timeout"):
        assert name in routerlib.__all__


def test_py_typed_is_shipped() -> None:
    assert (Path(routerlib.__file__).parent / "py.typed").exists()


def test_import_loads_no_optional_or_heavy_dependency() -> None:
    code = (
        "import sys, json\n"
        "import routerlib\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_building_a_client_loads_no_heavy_dependency_either() -> None:
    code = (
        "import sys, json\n"
        "import routerlib\n"
        "routerlib.Client(environ={})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


LITELLM_NAMES = ("completion_cost", "cost_per_token", "get_model_info", "get_max_tokens", "model_cost",
                 "register_model", "token_counter", "encode", "decode", "batch_completion", "stream_chunk_builder",
                 "supports_function_calling", "supports_vision", "supports_response_schema", "supports_reasoning",
                 "supports_pdf_input", "supports_web_search", "ModuleSettingError")


def test_litellm_names_are_public() -> None:
    for name in LITELLM_NAMES:
        assert name in routerlib.__all__, name


def test_litellm_surface_is_imported_only_when_used() -> None:
    """The LiteLLM-named helpers cost nothing at ``import routerlib``: each loads on first access."""
    code = (
        "import sys, json\n"
        "import routerlib\n"
        "lazy = ('routerlib.cost', 'routerlib.tokens', 'routerlib._compat', 'routerlib._settings',"
        " 'routerlib.testing', 'routerlib.spend')\n"
        "print(json.dumps([m for m in lazy if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_import_does_not_load_the_command() -> None:
    """The ``routerlib`` command (and rich, its extra) is loaded by the command only, never by the library."""
    code = (
        "import sys, json\n"
        "import routerlib, routerlib.cost, routerlib.spend\n"
        "routerlib.cost.ModelMap.default()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[:2] == ['routerlib', 'cli']\n"
        "                        or m.split('.')[0] == 'rich')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def _public_modules() -> list[str]:
    import pkgutil

    names = []
    for info in pkgutil.walk_packages(routerlib.__path__, "routerlib."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or parts[1] in ("cli", "otel"):
            continue  # private modules; the command and the optional tracer are checked by their own tests
        names.append(info.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_declares_its_public_names_both_ways(name: str) -> None:
    """As httpx checks: every name in __all__ is defined, and every public name defined here is in __all__."""
    import importlib
    import inspect

    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []
    assert [n for n in exported if n.startswith("_")] == [], "an export must be public"
    defined = {n for n, v in vars(module).items()
               if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
               and getattr(v, "__module__", None) == name}
    assert sorted(defined - set(exported)) == [], f"public names of {name} missing from __all__"
