"""Spend ledger and budgets: record what each call cost, cap spend per user, team, tag or globally.

``MemoryLedger`` is the default (per client, in process). ``SQLiteLedger`` (one file, shared by
the processes of one machine) and ``RedisLedger`` (shared by every host) load on first access,
so importing this package does not import ``sqlite3`` or ``redis``.

Async: every ledger here is an ``AsyncLedger``: ``areserve``, ``asettle``, ``arelease``,
``arecord`` and ``atotal`` never block the event loop (MemoryLedger inline, RedisLedger on
``redis.asyncio`` with the same scripts and keys as its sync side, SQLiteLedger on a small
thread pool of its own). A ledger of your own that implements only the sync ``Ledger`` methods
works too: ``routerlib.spend.base.run_async`` runs them in a worker thread.

Under faults: every method a call makes takes ``timeout=`` (the seconds the call has left) and
never blocks longer; a store that fails raises a ``LedgerError`` (``LedgerUnavailableError``,
``LedgerTimeoutError``) naming the ledger without credentials; a failed ``settle``/``record``
keeps its record in the ledger's spool (``pending()``, ``flush_pending()``), written on the
next successful write; reservations lapse after ``reserve(ttl=...)``, and SQLiteLedger
reclaims those of a dead process at once. docs/security.md, "Spend under faults", has the
whole story.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import AsyncLedger, Budget, Ledger, SpendRecord
from .memory import MemoryLedger

if TYPE_CHECKING:
    from .redis import RedisLedger
    from .sqlite import SQLiteLedger

__all__ = ["AsyncLedger", "Budget", "Ledger", "MemoryLedger", "RedisLedger", "SQLiteLedger", "SpendRecord"]

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
