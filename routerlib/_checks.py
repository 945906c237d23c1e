"""Checks on the values of a call that end up in a URL, a header or a JSON body.

They run once per call at validation (``_request.build_request``: the caller's values) and
when a ``Deployment`` is made (``check_deployment``: what planning adds from the environment,
a provider row or a fallback entry), so that a value no server could take is refused with an
``InvalidRequestError`` before anything is sent, never sent and never retried as a network
error. Each ``*_problem`` function returns None for a good value, else the reason (what is
wrong and what is allowed); a reason never quotes a credential.

The rules, and why:

- **Header names** are RFC 9110 tokens; **values** are visible ASCII, space and tab: no CR,
  LF or other control character (header injection), and nothing beyond ASCII, which RFC 9110
  calls obsolete and the two transports would send differently (``http.client`` encodes values
  as latin-1, aiohttp as UTF-8). Names are unique ignoring case,
  and the framing headers routerlib writes itself (``content-length``, ``transfer-encoding``,
  ``connection``...) cannot be given.
- **Credentials** (keys, tokens) are printable ASCII without spaces: a key read from a file
  with its trailing newline is refused without being echoed, not sent as a broken header.
- **api_base** is ``http://`` or ``https://``, an ASCII host name or IP literal, a port
  1-65535, a path without spaces or control characters, and no query or fragment (the
  endpoint's path is appended to it). ``user:password@`` is refused: ``http.client`` never
  sends it, so a server that needs it would see an unauthenticated request; the credential
  goes in ``headers`` or ``api_key`` instead.
- **Model names** have no leading or trailing whitespace and no control characters, and name
  a model after the provider prefix (``"openai/"`` is refused). Names are not stripped: the
  same string keys prices, budgets and fallbacks, and a silently changed name would match
  something else than the caller wrote.
- **URL path segments** (Gemini model ids, Azure deployment ids) are not ``.`` or ``..`` and
  have no ``/ \\ ? # % :``, whitespace or control characters; adapters percent-encode the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from ._secrets import DeploymentLike, strip_userinfo, warn_if_plaintext
from .exceptions import InvalidRequestError

__all__ = [
    "GOOD_URLS",
    "TIMEOUT_MAX",
    "check_deployment",
    "credential_problem",
    "entry_problem",
    "header_problem",
    "model_problem",
    "segment_problem",
    "shown_url",
    "url_problem",
]

#: The longest timeout or deadline accepted, in seconds (a week): finite, and within what every
#: OS timer and ``socket.settimeout`` take.
TIMEOUT_MAX = 7 * 24 * 3600.0
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_HEADER_VALUE = re.compile(r"[^\t\x20-\x7e]")
_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_BAD_PATH = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")
_BAD_SEGMENT = re.compile(r"[/\\?#%:\s\x00-\x1f\x7f]")
#: Headers that frame the message: routerlib (http.client, aiohttp) writes them itself.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
                             "upgrade", "expect", "proxy-connection"})
GOOD_URLS: set[str] = set()
_PRICE_KEYS = ("input_cost_per_token", "output_cost_per_token", "input_cost_per_second", "output_cost_per_second")


def shown_url(url: Any) -> str:
    """How a URL is quoted in a message: without userinfo, at most 200 characters."""
    return repr(strip_userinfo(url)[:200]) if isinstance(url, str) else repr(url)[:100]


def header_problem(headers: Any) -> str | None:
    """Why ``headers`` cannot be sent, or None. Values are never quoted (they may be keys)."""
    if not isinstance(headers, Mapping):
        return f"must be a dict of header names to strings, got {type(headers).__name__}"
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            return (f"header name {str(name)[:40]!r} is not a valid HTTP header name (letters, digits and "
                    f"!#$%&'*+-.^_`|~ only)")
        lower = name.lower()
        if lower in FRAMING_HEADERS:
            return f"header {name!r} cannot be set: routerlib writes it itself"
        if lower in seen:
            return f"header {name!r} is given twice (header names ignore case)"
        seen.add(lower)
        if not isinstance(value, str):
            return f"header {name!r}: the value must be a string, got {type(value).__name__}"
        if _BAD_HEADER_VALUE.search(value):
            return (f"header {name!r}: the value has a line break, a control character or a non-ASCII "
                    f"character (the value is not shown; percent-encode or base64 non-ASCII text)")
    return None


def credential_problem(value: Any) -> str | None:
    """Why a key or token cannot be sent, or None. The value is never quoted."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if value.isascii() and value.isprintable() and " " not in value:
        return None
    return ("contains a line break, a space, a control character or a non-ASCII character (often a newline "
            "read from a file or an environment variable along with the key); the value is not shown")


def url_problem(url: Any) -> str | None:
    """Why ``url`` cannot be an api_base, or None (see the module docstring)."""
    if not isinstance(url, str):
        return f"must be a string, got {type(url).__name__}"
    if url in GOOD_URLS:
        return None
    problem = _url_problem(url)
    if problem is None:
        if len(GOOD_URLS) > 1024:
            GOOD_URLS.clear()
        GOOD_URLS.add(url)
    return problem


def _url_problem(url: str) -> str | None:
    if not url:
        return "is empty: omit api_base to use the provider's default endpoint"
    if not url.isascii() or not url.isprintable() or " " in url:
        return ("contains whitespace, a control character or a non-ASCII character: percent-encode the "
                "path, and write an international host name in its xn-- form")
    if "://" not in url:
        return f"has no scheme: did you mean {'http://' + url[:200]!r} (or https://)?"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not supported: use http:// or https://"
    if "@" in parts.netloc:
        return ("contains user:password@, which routerlib never sends: pass the credential as api_key= or "
                "headers={'Authorization': ...}")
    host = parts.hostname or ""
    if not host:
        return "has no host"
    if not parts.netloc.startswith("[") and not _HOST.fullmatch(host):
        return f"host {host[:100]!r} is not a valid host name (letters, digits, '.', '-', '_') or IP address"
    if port == 0:
        return "port 0 is not a valid port (1-65535)"
    if "?" in url or "#" in url:
        return ("has a query or a fragment: the endpoint's path is appended to api_base, so they would end up "
                "in the middle of the URL; pass api_version= or headers= instead")
    if _BAD_PATH.search(parts.path):
        return "has a character a URL path cannot carry: percent-encode it"
    return None


def model_problem(model: Any) -> str | None:
    """Why ``model`` cannot be a model name, or None (see the module docstring)."""
    if not isinstance(model, str):
        return f"must be a string, got {type(model).__name__}"
    if model.isprintable() and model[:1] != " " and model[-1:] not in (" ", "/", ""):
        return None
    if not model.strip():
        return "is empty"
    if not model.isprintable():
        return "contains a line break, a control character or an invalid character"
    if model != model.strip():
        return (f"has leading or trailing whitespace: did you mean {model.strip()!r}? (names are not "
                f"stripped: the same string keys prices, budgets and fallbacks)")
    return "names no model after the provider: write 'provider/model'"


def segment_problem(value: str) -> str | None:
    """Why ``value`` cannot be one segment of a URL path (a model or deployment id), or None."""
    if value in ("", ".", "..") or _BAD_SEGMENT.search(value) or not value.isprintable():
        return ("goes into the URL path, so it cannot be empty, '.' or '..', or contain / \\ ? # % :, "
                "whitespace or control characters")
    return None


def timeout_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a timeout in seconds, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number of seconds, got {type(value).__name__}"
    if not (math.isfinite(value) and 0 < value <= TIMEOUT_MAX):
        return f"must be a finite number of seconds > 0 and <= {TIMEOUT_MAX:.0f} (a week), got {value!r}"
    return None


def entry_problem(entry: Any) -> str | None:
    """Why a fallback or model_list entry cannot be used, or None. Checks the values of the keys
    planning reads (planning refuses unknown keys); credentials are never quoted."""
    if not isinstance(entry, Mapping):
        return f"must be a dict, got {type(entry).__name__}"
    if not all(isinstance(key, str) for key in entry):
        return "keys must be strings"
    inner = entry.get("litellm_params")
    if inner is not None:
        if not isinstance(inner, Mapping) or not all(isinstance(key, str) for key in inner):
            return "litellm_params: must be a dict with string keys"
        problem = _entry_value_problem(inner)
        if problem is not None:
            return f"litellm_params.{problem}"
    return _entry_value_problem(entry)


def _entry_value_problem(entry: Mapping[str, Any]) -> str | None:
    checks: tuple[tuple[str, Any], ...] = (
        ("model", model_problem), ("model_name", model_problem), ("api_key", credential_problem),
        ("azure_ad_token", credential_problem), ("api_base", url_problem), ("base_url", url_problem),
        ("api_version", _version_problem), ("headers", header_problem), ("extra_headers", header_problem),
        ("timeout", timeout_problem))
    for key, check in checks:
        if key in entry and entry[key] is not None:
            problem = check(entry[key])
            if problem is not None:
                shown = "" if key in ("api_key", "azure_ad_token", "headers", "extra_headers") else (
                    f"={shown_url(entry[key]) if key in ('api_base', 'base_url') else repr(entry[key])[:100]}")
                return f"{key}{shown}: {problem}"
    for key in _PRICE_KEYS:
        if entry.get(key) is not None and _price_problem(entry[key]):
            return f"{key}={entry[key]!r}: must be a finite number >= 0"
    return None


def _version_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        return "must be a non-empty version string of printable ASCII without spaces"
    return None


def _price_problem(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return True
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return True
    return not number.is_finite() or number < 0


#: api_base values of deployments already checked (and, over http, already judged for the plaintext warning).
_CHECKED_BASES: set[str] = set()
#: Model ids already known to be one plain URL path segment (so fine for every adapter).
_PLAIN_MODELS: set[str] = set()


def check_deployment(deployment: DeploymentLike) -> None:
    """Refuse a deployment whose endpoint, model, credentials or headers cannot be sent (values that
    came from the environment, a provider row or an entry, not only the call), and warn when its
    credentials would travel in plaintext. Runs for every deployment made: what was checked once
    (an endpoint, a model id) is remembered, so a repeated call costs a few set lookups."""
    if deployment.api_base not in _CHECKED_BASES:
        _check_base(deployment)
    if deployment.model not in _PLAIN_MODELS:
        _check_model(deployment)
    key, token = deployment.api_key, deployment.bearer_token
    if key is not None and not (key.isascii() and key.isprintable() and " " not in key):
        raise _invalid(deployment, f"the {deployment.spec.name} api_key {credential_problem(key)}", "invalid_api_key")
    if token is not None and not (token.isascii() and token.isprintable() and " " not in token):
        raise _invalid(deployment, f"the {deployment.spec.name} bearer token {credential_problem(token)}",
                       "invalid_api_key")
    if deployment.headers:
        problem = header_problem(deployment.headers)
        if problem is not None:
            raise _invalid(deployment, f"{deployment.spec.name} headers: {problem}", "invalid_headers")


def _check_base(deployment: DeploymentLike) -> None:
    spec, base = deployment.spec, deployment.api_base
    if spec.options.get("in_process"):  # the LiteLLM bridge: LiteLLM sends, not routerlib
        return
    problem = url_problem(base)
    if problem is not None:
        raise _invalid(deployment, f"{spec.name} api_base={shown_url(base)}: {problem}", "invalid_api_base")
    if not base.startswith("https://"):
        if not (deployment.api_key or deployment.bearer_token or deployment.secrets):
            return  # nothing to warn about yet: judge again when a deployment here carries credentials
        warn_if_plaintext(base, True)
    if len(_CHECKED_BASES) > 1024:
        _CHECKED_BASES.clear()
    _CHECKED_BASES.add(base)


def _check_model(deployment: DeploymentLike) -> None:
    model, spec = deployment.model, deployment.spec
    if not model:
        raise _invalid(deployment, f"model {spec.name + '/'!r}: names no model after the provider", "invalid_model")
    if segment_problem(model) is None:
        if len(_PLAIN_MODELS) > 4096:
            _PLAIN_MODELS.clear()
        _PLAIN_MODELS.add(model)
    elif getattr(spec.adapter, "model_in_url", False):
        problem = segment_problem(model.removeprefix("models/"))
        if problem is not None:
            raise _invalid(deployment, f"model {spec.name + '/' + model[:100]!r}: {problem}", "invalid_model")


def _invalid(deployment: DeploymentLike, message: str, code: str) -> InvalidRequestError:
    return InvalidRequestError(message, provider=deployment.spec.name, model=deployment.model or None, code=code)
