"""``routerlib prices update`` from a file and from a real HTTP server on 127.0.0.1: checked before anything
is replaced, bounded in size and time, https or loopback only (redirects too), and then used by clients."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_helpers import assert_user_error, run_cli

from routerlib.cli import prices
from routerlib.cli._output import CommandError, UsageError
from routerlib.cost.cache import read_cache

PRICES = {
    "sample_spec": {"input_cost_per_token": 0},
    "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-07,
                    "output_cost_per_token": 4e-07, "max_input_tokens": 128000},
    "acme/brand-new": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 3e-06,
                       "output_cost_per_token": 1.5e-05},
}
BODY = json.dumps(PRICES).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.paths.append(parts.path)  # type: ignore[attr-defined]
        if parts.path == "/prices.json":
            self._send(200, BODY, {"Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"})
        elif parts.path == "/redirect":
            self._send(302, b"", {"Location": query["to"]})
        elif parts.path == "/big":
            self._send(200, b" " * (3 * 1024 * 1024))
        elif parts.path == "/unsized":  # no Content-Length: the limit must hold as bytes arrive
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b" " * 65536)
        elif parts.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)
        elif parts.path == "/broken.json":
            self._send(200, BODY[: len(BODY) // 2])
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def update(cache: Path, *args: str) -> Any:
    return run_cli("prices", "update", *args, env={"ROUTERLIB_CACHE_DIR": str(cache)})


def test_update_from_a_file_then_clients_use_it(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "prices.json"
    source.write_bytes(BODY)
    result = update(cache, "--from", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"price map updated: {cache / 'model_prices.json'} (2 models, 2 priced; ")
    data = read_cache(cache / "model_prices.json")
    assert data is not None and data["__meta__"]["source"] == str(source)
    # A client in a fresh process prices with the refreshed map: gpt-4o-mini at its new price.
    call = run_cli("call", "gpt-4o-mini", "--mock-response", "ok", "hello", env={"ROUTERLIB_CACHE_DIR": str(cache)})
    assert call.returncode == 0, call.stderr
    assert "model_map: gpt-4o-mini" in call.stderr
    usage = re.search(r"^usage: (\d+) prompt \+ (\d+) completion tokens", call.stderr, re.M)
    cost = re.search(r"^cost: \$(\S+) ", call.stderr, re.M)
    assert usage is not None and cost is not None
    prompt, completion = int(usage.group(1)), int(usage.group(2))
    assert Decimal(cost.group(1)) == Decimal("0.0000001") * prompt + Decimal("0.0000004") * completion


def test_update_from_a_loopback_url(cache: Path, server: str) -> None:
    result = update(cache, "--from", f"{server}/prices.json")
    assert result.returncode == 0, result.stderr
    meta = read_cache(cache / "model_prices.json")["__meta__"]  # type: ignore[index]
    assert meta["source"] == f"{server}/prices.json" and meta["last_modified"] == "Tue, 01 Dec 2026 10:00:00 GMT"
    models = run_cli("models", "brand-new", env={"ROUTERLIB_CACHE_DIR": str(cache)})
    assert f"from {server}/prices.json, published Tue, 01 Dec 2026 10:00:00 GMT (2 models)" in models.stdout
    redirected = update(cache, "--from", f"{server}/redirect?to=/prices.json")
    assert redirected.returncode == 0, redirected.stderr


def test_dry_run_compares_and_changes_nothing(cache: Path, server: str) -> None:
    result = update(cache, "--from", f"{server}/prices.json", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "is a sound price map (2 models, 2 priced; against the map in use: 1 added, " in result.stdout
    assert "1 repriced" in result.stdout and not (cache / "model_prices.json").exists()


@pytest.mark.parametrize(("path", "args", "needle"), [
    ("/broken.json", [], "is not valid JSON"),
    ("/missing.json", [], "answered 404"),
    ("/big", ["--max-size", "1"], "over the 1,048,576-byte limit"),
    ("/unsized", ["--max-size", "1"], "sent more than the 1,048,576-byte limit"),
    ("/trickle", ["--timeout", "1"], "took longer than 1 s"),
])
def test_a_bad_download_fails_and_keeps_the_old_map(cache: Path, server: str, tmp_path: Path, path: str,
                                                    args: list[str], needle: str) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(BODY)
    assert update(cache, "--from", str(good)).returncode == 0
    before = (cache / "model_prices.json").read_bytes()
    assert_user_error(update(cache, "--from", server + path, *args), 1, needle)
    assert (cache / "model_prices.json").read_bytes() == before
    assert sorted(p.name for p in cache.iterdir()) == ["model_prices.json"]


@pytest.mark.parametrize("url", ["http://example.com/prices.json", "ftp://127.0.0.1/p.json", "file:///etc/passwd",
                                 "http://10.0.0.1/p.json"])
def test_only_https_or_loopback_http(cache: Path, url: str) -> None:
    assert_user_error(update(cache, "--from", url), 2, "use an https URL (plain http only to 127.0.0.1")


def test_a_redirect_to_plain_http_elsewhere_is_refused(cache: Path, server: str) -> None:
    result = update(cache, "--from", f"{server}/redirect?to=http://example.com/prices.json")
    assert_user_error(result, 1, "redirected to a URL routerlib does not fetch")
    assert not (cache / "model_prices.json").exists()


def test_file_errors(cache: Path, tmp_path: Path) -> None:
    assert_user_error(update(cache, "--from", str(tmp_path / "nope.json")), 2, "no such file:")
    assert_user_error(update(cache, "--from", str(tmp_path)), 2, "is a directory")
    (tmp_path / "list.json").write_text("[1, 2, 3]")
    assert_user_error(update(cache, "--from", str(tmp_path / "list.json")), 1, "must hold a JSON object",
                      "the price map was not changed")


def test_clear(cache: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(BODY)
    assert update(cache, "--from", str(good)).returncode == 0
    env = {"ROUTERLIB_CACHE_DIR": str(cache)}
    cleared = run_cli("prices", "clear", env=env)
    assert cleared.returncode == 0 and "clients use the packaged price map again" in cleared.stdout
    assert not (cache / "model_prices.json").exists()
    again = run_cli("prices", "clear", env=env)
    assert again.returncode == 0 and "no cached price map" in again.stderr
    assert run_cli("models", "gpt-4o-mini", env=env).stdout.startswith("price map: packaged snapshot")


def test_cache_dir_flag(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(BODY)
    result = run_cli("prices", "update", "--from", str(good), "--cache-dir", str(tmp_path / "elsewhere"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "elsewhere" / "model_prices.json").exists()


def test_url_rules_in_process() -> None:
    for ok in ("https://raw.githubusercontent.com/x", "http://127.0.0.1:8/x", "http://[::1]/x",
               "http://localhost/x", "http://127.8.9.10/x"):
        prices.check_url(ok)
    for bad in ("http://127.0.0.1.example.com/x", "https:///nohost", "http://[::2]/x", "javascript:alert(1)"):
        with pytest.raises(UsageError):
            prices.check_url(bad)
    with pytest.raises(CommandError, match="cannot fetch"):
        from loopback_server import free_port

        prices.download(f"http://127.0.0.1:{free_port()}/p.json", timeout=5, max_bytes=1000)
