"""Spend ledger and budgets: record what each call cost, cap spend per user, team, tag or globally.

``MemoryLedger`` is the default (per client, in process). ``SQLiteLedger`` (one file, shared by
the processes of one machine) and ``RedisLedger`` (shared by every host) load on first access,
so importing this package does not import ``sqlite3`` or ``redis``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Budget, Ledger, SpendRecord
from .memory import MemoryLedger

if TYPE_CHECKING:
    from .redis import RedisLedger
    from .sqlite import SQLiteLedger

__all__ = ["Budget", "Ledger", "MemoryLedger", "RedisLedger", "SQLiteLedger", "SpendRecord"]

_LAZY = {"SQLiteLedger": ".sqlite", "RedisLedger": ".redis"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
