"""``routerlib prices update`` and ``routerlib prices clear``: refresh the price map every client uses.

``update`` reads LiteLLM's published ``model_prices_and_context_window.json`` (by default from
LiteLLM's repository, or ``--from`` a file or URL), checks it (``routerlib.cost.cache``), and only
then replaces the per-user cache atomically; ``clear`` removes it, so clients go back to the
packaged snapshot. The download is hostile input and is treated so:

- https, or plain http only to a loopback address (127.0.0.0/8, ::1, localhost): prices fetched
  over plain http from elsewhere could be changed on the way. Every redirect is held to the same
  rule, and at most five are followed.
- At most ``--max-size`` bytes (the Content-Length is checked first, then the bytes as they
  arrive) and ``--timeout`` seconds in all, not per read: a server that trickles is cut off.
- No proxy for a loopback address (an ``http_proxy`` variable would otherwise see it).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._output import CommandError, UsageError

if TYPE_CHECKING:
    from urllib.request import Request

__all__ = ["DEFAULT_URL", "check_url", "download", "register"]

DEFAULT_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
HELP = "refresh the price map into the per-user cache (clients use it from then on), or clear it"
EPILOG = f"""\
examples:
  routerlib prices update                              from LiteLLM's published map
  routerlib prices update --from ./model_prices.json   from a file in LiteLLM's format
  routerlib prices update --from https://example.com/prices.json --timeout 30
  routerlib prices update --dry-run                    check and compare, change nothing
  routerlib prices clear                               back to the packaged snapshot

The default source is {DEFAULT_URL}.
The cache is $ROUTERLIB_CACHE_DIR/model_prices.json, else $XDG_CACHE_HOME/routerlib/ (or the
platform's cache directory); `routerlib models` shows which map is in use and its date.
"""
_MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


def register(commands: Any) -> None:
    parser = commands.add_parser("prices", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    update = actions.add_parser("update", help="fetch, check and cache a new price map", epilog=EPILOG,
                                description="Fetch a price map in LiteLLM's format, check it, and only then "
                                            "replace the per-user cache (atomically).",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    update.add_argument("--from", dest="source", default=DEFAULT_URL, metavar="FILE|URL",
                        help="a file, or an https URL (http only on loopback); default: LiteLLM's published map")
    update.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds for the whole download")
    update.add_argument("--max-size", type=float, default=64.0, metavar="MB", help="refuse a larger download")
    update.add_argument("--dry-run", action="store_true", help="check and compare, but change nothing")
    clear = actions.add_parser("clear", help="remove the cached map (clients use the packaged one again)",
                               description="Remove the refreshed price map, so clients use the packaged one again.",
                               epilog="example:\n  routerlib prices clear\n",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    for sub in (update, clear):
        sub.add_argument("--cache-dir", metavar="DIR",
                         help="the cache directory (default: $ROUTERLIB_CACHE_DIR, else the user's cache dir)")
    update.set_defaults(run=run_update)
    clear.set_defaults(run=run_clear)


def _target(args: argparse.Namespace) -> Path:
    from ..cost.cache import FILE_NAME, cache_path

    return Path(args.cache_dir).expanduser() / FILE_NAME if args.cache_dir else cache_path()


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> None:
    """Refuse any URL but https, or http to a loopback address (raises ``UsageError``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host and is_loopback(host):
        return
    raise UsageError(f"refusing {url!r}: use an https URL (plain http only to 127.0.0.1, ::1 or localhost)")


def _opener(url: str) -> Any:
    import urllib.request

    class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
        max_redirections = _MAX_REDIRECTS

        def redirect_request(self, req: Request, fp: Any, code: int, msg: str, headers: Any,
                             newurl: str) -> Request | None:
            try:
                check_url(newurl)
            except UsageError as exc:
                raise CommandError(f"the server redirected to a URL routerlib does not fetch: {exc}") from None
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    handlers: list[Any] = [_CheckedRedirects()]
    if is_loopback(urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def download(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
    """The body of ``url`` and its Last-Modified header, within the bounds; raises ``CommandError``."""
    import urllib.error
    import urllib.request

    from .. import __version__

    check_url(url)
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": f"routerlib/{__version__}",
                                                   "Accept": "application/json"})
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise CommandError(f"{url} is {int(length):,} bytes, over the {max_bytes:,}-byte limit (--max-size)")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read1(_CHUNK):  # read1: one recv, so a trickle meets the deadline
                size += len(chunk)
                if size > max_bytes:
                    raise CommandError(f"{url} sent more than the {max_bytes:,}-byte limit (--max-size)")
                if time.monotonic() > deadline:
                    raise CommandError(f"{url} took longer than {timeout:g} s (--timeout)")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("Last-Modified")
    except urllib.error.HTTPError as exc:
        raise CommandError(f"{url} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise CommandError(f"cannot fetch {url}: {exc.reason}") from None
    except TimeoutError:
        raise CommandError(f"{url} took longer than {timeout:g} s (--timeout)") from None
    except OSError as exc:
        raise CommandError(f"cannot fetch {url}: {exc}") from None


def _read_file(path: str, max_bytes: int) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise CommandError(f"{path} is {size:,} bytes, over the {max_bytes:,}-byte limit (--max-size)")
        with open(path, "rb") as fh:
            return fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a price map file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def run_update(args: argparse.Namespace) -> int:
    from ..cost.cache import PriceCacheError, parse_source, write_cache
    from ..cost.cache_build import build_cache

    if not args.timeout > 0 or not args.max_size > 0:
        raise UsageError("--timeout and --max-size must be > 0")
    max_bytes = int(args.max_size * 1024 * 1024)
    source: str = args.source
    is_url = "://" in source
    if is_url:
        content, last_modified = download(source, timeout=args.timeout, max_bytes=max_bytes)
        origin = source
    else:
        content, last_modified = _read_file(source, max_bytes), None
        origin = os.path.abspath(source)
    try:
        cache_bytes = build_cache(parse_source(content, origin), origin=origin, last_modified=last_modified)
    except PriceCacheError as exc:
        raise CommandError(f"{exc}; the price map was not changed") from None
    target = _target(args)
    changes = _compare(cache_bytes)
    if args.dry_run:
        print(f"{origin} is a sound price map ({changes}); nothing was changed (--dry-run)")
        return 0
    try:
        write_cache(cache_bytes, target)
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"price map updated: {target} ({changes})")
    return 0


def _compare(cache_bytes: bytes) -> str:
    """What the new map changes against the map in use now: models added, removed, repriced."""
    from ..cost.cache import read_cache_bytes
    from ..cost.model_map import ModelMap

    new_data = read_cache_bytes(cache_bytes, "the new map")
    meta = new_data.pop("__meta__")
    old, new = ModelMap.default(), ModelMap(new_data)
    old_keys, new_keys = set(old), set(new)
    fields = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost")
    repriced = 0
    for key in old_keys & new_keys:
        before, after = old.get(key), new.get(key)
        if before is not None and after is not None and any(getattr(before, f) != getattr(after, f) for f in fields):
            repriced += 1
    return (f"{meta['models']:,} models, {meta['priced_models']:,} priced; against the map in use: "
            f"{len(new_keys - old_keys):,} added, {len(old_keys - new_keys):,} removed, {repriced:,} repriced")


def run_clear(args: argparse.Namespace) -> int:
    target = _target(args)
    try:
        target.unlink()
    except FileNotFoundError:
        print(f"no cached price map at {target}; clients use the packaged one", file=sys.stderr)
        return 0
    except OSError as exc:
        raise CommandError(f"cannot remove {target}: {exc.strerror or exc}") from None
    print(f"removed {target}; clients use the packaged price map again")
    return 0
