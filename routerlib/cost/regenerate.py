"""Regenerate ``model_map.json`` from an installed LiteLLM package.

Usage::

    python -m routerlib.cost.regenerate [--out PATH] [--source PATH]

Reads LiteLLM's bundled ``model_prices_and_context_window_backup.json`` (MIT licence) without
importing LiteLLM (its import is slow and has side effects), keeps only the fields routerlib
reads (``_fields.is_kept_field``, long-context tier prices included), and writes one compact
line per model, sorted by key, so that a refresh shows up in review as a per-model diff.

Prices are written as JSON strings holding the exact decimal value of the source text in
plain notation: the source's ``1.5e-07`` becomes ``"0.00000015"``. The source numbers are read
with ``parse_float=Decimal``, so no binary float ever touches them; strings (not JSON numbers)
keep them exact for any reader, including a plain ``json.load`` that would turn a number
back into a float. Where LiteLLM's own text carries a float artefact
(``2.9999900000000002e-06``), that text is kept as it is: the snapshot copies, never edits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ._fields import PRICE_FIELDS, TABLE_PRICE_FIELDS, is_kept_field, tier_field

__all__ = ["build_snapshot", "dumps_snapshot", "litellm_source_path", "main"]

_SOURCE_NAME = "model_prices_and_context_window_backup.json"
_UPSTREAM = "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"
_DESCRIPTION = "Regenerate routerlib's packaged model map from LiteLLM's."
_DEFAULT_OUT = Path(__file__).with_name("model_map.json")


def litellm_source_path() -> Path:
    """Where the installed LiteLLM keeps its map, found without importing LiteLLM."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("litellm is not installed: pip install litellm, or pass --source PATH")
    return Path(next(iter(spec.submodule_search_locations))) / _SOURCE_NAME


def _plain(value: object) -> object:
    """A price as exact plain-notation text; anything else unchanged."""
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return format(Decimal(value), "f")
    return value


def _trim_table(table: object) -> object:
    """A ``tiered_pricing`` table with only its ranges and token prices, prices as exact text."""
    if not isinstance(table, list):
        return table
    return [
        {
            "range": [int(b) if isinstance(b, Decimal) and b == int(b) else b for b in tier.get("range", ())],
            **{k: _plain(tier[k]) for k in TABLE_PRICE_FIELDS if tier.get(k) is not None},
        }
        for tier in table
        if isinstance(tier, Mapping) and tier.get("input_cost_per_token") is not None
    ] or None


def _trim_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    trimmed = {
        k: (_plain(v) if k in PRICE_FIELDS or tier_field(k) else v)
        for k, v in sorted(entry.items())
        if is_kept_field(k) and v is not None
    }
    if "tiered_pricing" in trimmed:
        table = _trim_table(trimmed.pop("tiered_pricing"))
        if table is not None:
            trimmed["tiered_pricing"] = table
    return trimmed


def build_snapshot(source: Mapping[str, Any], *, litellm_version: str, generated: str) -> dict[str, Any]:
    """The trimmed map, ``__meta__`` first; ``source`` must have been parsed with ``parse_float=Decimal``."""
    models: dict[str, Any] = {}
    for key in sorted(source):
        entry = source[key]
        if key == "sample_spec" or not isinstance(entry, Mapping):
            continue
        trimmed = _trim_entry(entry)
        if trimmed:
            models[key] = trimmed
    meta = {
        "source": _UPSTREAM,
        "litellm_version": litellm_version,
        "generated": generated,
        "licence": "MIT",
        "models": len(models),
        "prices": "exact decimal strings (USD), plain notation",
    }
    return {"__meta__": meta, **models}


def dumps_snapshot(snapshot: Mapping[str, Any]) -> str:
    """Compact JSON, one model per line."""
    lines = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'), ensure_ascii=False)}" for k, v in snapshot.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _installed_litellm_version() -> str:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m routerlib.cost.regenerate", description=_DESCRIPTION)
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT, help="where to write (default: the packaged file)")
    parser.add_argument("--source", type=Path, help="a LiteLLM map file (default: the installed litellm's)")
    parser.add_argument("--litellm-version", help="the version --source comes from (default: the installed one)")
    args = parser.parse_args(argv)
    source_path: Path = args.source or litellm_source_path()
    source = json.loads(source_path.read_bytes(), parse_float=Decimal)
    version: str = args.litellm_version or _installed_litellm_version()
    snapshot = build_snapshot(source, litellm_version=version, generated=dt.date.today().isoformat())
    args.out.write_text(dumps_snapshot(snapshot), encoding="utf-8")
    print(f"wrote {snapshot['__meta__']['models']} models from {source_path} (litellm {version}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
