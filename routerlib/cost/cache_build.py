"""Building the price cache file from a LiteLLM-format map: validated row by row before it can
replace anything (``routerlib prices update``). Kept apart from ``cache`` (which only reads the
file) because checking a map needs ``ModelMap``, which itself reads the cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .cache import _CONTROL, FORMAT, PriceCacheError
from .model_map import ModelMap
from .regenerate import build_snapshot

__all__ = ["build_cache"]


def build_cache(source: Mapping[str, Any], *, origin: str, fetched: dt.datetime | None = None,
                last_modified: str | None = None) -> bytes:
    """Check a LiteLLM-format map and return the cache file's bytes; raises ``PriceCacheError``.

    ``source`` must come from ``parse_source`` (Decimal numbers). ``origin`` (a URL or a path)
    and ``last_modified`` (the server's header, if any) are recorded in ``__meta__``.
    """
    for key in source:
        if not isinstance(key, str) or not key.strip() or _CONTROL.search(key):
            raise PriceCacheError(f"{origin}: model name {key!r} is empty or holds control characters")
    when = (fetched or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(microsecond=0)
    try:
        snapshot = build_snapshot(source, litellm_version="unknown", generated=when.date().isoformat())
        rows = {k: v for k, v in snapshot.items() if k != "__meta__"}
        parsed = ModelMap.from_dict(rows)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise PriceCacheError(f"{origin}: {exc}") from None
    for key, row in rows.items():
        for name in ("litellm_provider", "mode"):
            if isinstance(row.get(name), str) and _CONTROL.search(row[name]):
                raise PriceCacheError(f"{origin}: {key!r} has control characters in {name}")
    priced = sum(1 for key in rows if _priced(parsed, key))
    if not priced:
        raise PriceCacheError(f"{origin} has no model with a price: not a LiteLLM model price map")
    body = ",\n".join(f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'), ensure_ascii=False)}"
                       for k, v in rows.items()) + "\n}\n"
    meta = {
        "format": FORMAT,
        "source": origin,
        "fetched": when.isoformat().replace("+00:00", "Z"),
        "last_modified": last_modified,
        "models": len(rows),
        "priced_models": priced,
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
    }
    # One model per line after the header, as in the packaged file; the digest covers those lines.
    return ('{\n"__meta__":' + json.dumps(meta, separators=(",", ":"), ensure_ascii=False) + ",\n" + body).encode()


def _priced(parsed: Any, key: str) -> bool:
    info = parsed.get(key)
    return info is not None and (info.input_cost_per_token is not None or info.output_cost_per_token is not None)
