"""The refreshed price map: a per-user cache that ``ModelMap.default()`` prefers to the packaged snapshot.

``routerlib prices update`` fetches LiteLLM's published ``model_prices_and_context_window.json``
(or reads a file in that format), checks it, and writes it here; from then on every client in
every process of that user prices calls with it. Without a cache file, or with a damaged one,
the packaged snapshot is used (a damaged file also gives one ``PriceCacheWarning``).

Where the file is (the first that applies)::

    $ROUTERLIB_CACHE_DIR/model_prices.json          set it to pin a location, e.g. in a container
    $XDG_CACHE_HOME/routerlib/model_prices.json     the XDG base-directory rule (Linux, BSD)
    ~/Library/Caches/routerlib/model_prices.json    macOS
    %LOCALAPPDATA%/routerlib/Cache/model_prices.json  Windows
    ~/.cache/routerlib/model_prices.json            elsewhere

``ROUTERLIB_NO_PRICE_CACHE=1`` makes ``ModelMap.default()`` ignore the cache (the packaged map only).

Why each step of a refresh (``build_cache`` then ``write_cache``):

- The rows are checked the way ``ModelMap.from_dict`` checks a user's file (every price a finite
  decimal >= 0, every limit an integer), a map with no priced model is refused, and names with
  control characters are refused (they would be printed to terminals). Nothing is replaced until
  all of that passed.
- The file is written beside its target and renamed over it (``os.replace``), so a reader sees
  the old map or the new one, never half of one; a crash mid-write leaves the old map.
- ``__meta__`` records the source, when it was fetched, and a SHA-256 of the rows. Loading checks
  that digest instead of re-validating thousands of rows on every start: a truncated or edited
  file is detected for the price of one hash (a few milliseconds), so the default stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..exceptions import RouterlibError

__all__ = [
    "CACHE_DIR_ENV",
    "FILE_NAME",
    "FORMAT",
    "NO_CACHE_ENV",
    "PriceCacheError",
    "PriceCacheWarning",
    "cache_dir",
    "cache_path",
    "cached_map_data",
    "parse_source",
    "read_cache",
    "read_cache_bytes",
    "write_cache",
]

FORMAT = "routerlib-model-map/1"
FILE_NAME = "model_prices.json"
CACHE_DIR_ENV = "ROUTERLIB_CACHE_DIR"
NO_CACHE_ENV = "ROUTERLIB_NO_PRICE_CACHE"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class PriceCacheError(RouterlibError, ValueError):
    """A price map source or cache file is unusable; the message says which file and why."""


class PriceCacheWarning(UserWarning):
    """The cached price map is damaged, so the packaged snapshot is used instead."""


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The directory of the per-user cache (see the module docstring for the rule)."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_DIR_ENV):
        return Path(env[CACHE_DIR_ENV]).expanduser()
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "routerlib" / "Cache"
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the spec says a relative value is to be ignored
        return Path(xdg) / "routerlib"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "routerlib"
    return Path.home() / ".cache" / "routerlib"


def cache_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the refreshed map is (or would be) kept."""
    return cache_dir(environ) / FILE_NAME


def parse_source(content: bytes, origin: str) -> dict[str, Any]:
    """LiteLLM-format JSON text as a dict, numbers as exact Decimals; ``origin`` names it in errors."""
    try:
        data = json.loads(content, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise PriceCacheError(f"{origin} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PriceCacheError(f"{origin} must hold a JSON object of models, not {type(data).__name__}")
    return data


def write_cache(content: bytes, path: str | os.PathLike[str] | None = None) -> Path:
    """Atomically put ``content`` (from ``build_cache``) at ``path`` (default: ``cache_path()``)."""
    target = Path(path) if path is not None else cache_path()
    read_cache_bytes(content, str(target))  # never write what we would refuse to read
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model_prices.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the map from other users of a shared cache dir
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def read_cache_bytes(content: bytes, origin: str) -> dict[str, Any]:
    """The map held by cache-file bytes, after checking its format and digest; raises ``PriceCacheError``."""
    head, sep, rest = content.partition(b"\n")
    meta_line, sep2, body = rest.partition(b"\n")
    if head != b"{" or not sep or not sep2 or not meta_line.startswith(b'"__meta__":'):
        raise PriceCacheError(f"{origin} is not a routerlib price cache (no __meta__ header)")
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise PriceCacheError(f"{origin} is damaged: {exc}") from None
    meta = data.get("__meta__") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PriceCacheError(f"{origin} is not a {FORMAT} price cache")
    if hashlib.sha256(body).hexdigest() != meta.get("sha256"):
        raise PriceCacheError(f"{origin} is damaged: its rows do not match the digest written with them")
    return dict(data)


def read_cache(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The cached map (``__meta__`` included), None when there is no cache file; raises when damaged."""
    target = Path(path) if path is not None else cache_path()
    try:
        content = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PriceCacheError(f"cannot read {target}: {exc.strerror or exc}") from None
    return read_cache_bytes(content, str(target))


def cached_map_data() -> dict[str, Any] | None:
    """What ``ModelMap.default()`` loads instead of the packaged map, or None to use the packaged one.

    A damaged cache warns once (this runs once per process) and returns None.
    """
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return None
    try:
        return read_cache()
    except PriceCacheError as exc:
        warnings.warn(f"{exc}; using the packaged price map (run `routerlib prices update` to refresh it)",
                      PriceCacheWarning, stacklevel=3)
        return None
