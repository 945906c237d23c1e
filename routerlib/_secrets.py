"""Credentials: which values are secrets, hiding them wherever they could be shown, and the
warning for credentials sent in plaintext.

What counts as a credential of a deployment (``Deployment.secrets``):

- ``api_key`` and ``bearer_token`` (an Azure Microsoft Entra ID token);
- the value of every header, given by the caller or by the provider row, whose name is a
  credential name: it contains one of ``auth``, ``key``, ``token``, ``secret``, ``cookie``,
  ``passw``, ``credential`` or ``session`` (``Authorization``, ``Proxy-Authorization``,
  ``x-api-key``, ``api-key``, ``Ocp-Apim-Subscription-Key``, ``x-auth-token``, ``Cookie``...).
  A false positive only hides a harmless value from a repr; a miss would leak;
- for ``Authorization: <scheme> <token>`` values, the token alone too (an echo quotes it
  without its scheme), and for ``Basic``, the decoded ``user:password`` and the password;
- for cookie headers, each cookie's value alone too (a gateway echoing the cookies it parsed
  quotes each value without its name);
- the password of a ``user:password@`` in ``api_base`` (refused at validation, kept here as
  a second line of defence).

Where a secret is hidden (``Redactor``): the exact text, its URL-encoded forms, its base64
forms at each of the three byte alignments (so a key inside a base64 blob of a longer text
is found too), and any fragment of 8 characters or more that starts or ends like one of those
(a message or preview truncated in the middle of a key). A secret shorter than 8 characters
is not hidden: replacing so short a string would garble messages, and no provider issues
keys that short.

``redact_exception`` walks an error and its whole chain (``__cause__`` and ``__context__``):
routerlib errors are redacted in place (message, args, body, history, attempts, notes);
any other exception that shows a secret, and every pydantic ``ValidationError`` (whose text
quotes its input), is replaced in the chain by a ``RedactedError`` carrying its type name
and a redacted message.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, urlsplit


class DeploymentLike(Protocol):
    """What the credential and request checks read of a ``providers.base.Deployment`` (named as a
    protocol so that these leaf modules never import the provider seam that imports them)."""

    @property
    def spec(self) -> Any: ...

    @property
    def model(self) -> str: ...

    @property
    def api_base(self) -> str: ...

    @property
    def api_key(self) -> str | None: ...

    @property
    def bearer_token(self) -> str | None: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def secrets(self) -> tuple[str, ...]: ...

__all__ = [
    "HIDDEN",
    "MIN_SECRET_LENGTH",
    "RedactedError",
    "Redactor",
    "deployment_secrets",
    "is_credential_header",
    "redact_exception",
    "redacted",
    "strip_userinfo",
    "warn_if_plaintext",
]

HIDDEN = "<hidden>"
MIN_SECRET_LENGTH = 8
#: Header names containing one of these (lower-cased) carry credentials.
CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "cookie", "passw", "credential", "session")
#: Keys of call parameters and fallback/model_list entries that hold credentials.
SECRET_FIELDS = frozenset({
    "api_key", "azure_ad_token", "token", "access_token", "refresh_token", "id_token", "secret",
    "client_secret", "password", "aws_secret_access_key", "aws_session_token", "vertex_credentials",
    "credentials", "authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-goog-api-key",
})
_HEADER_FIELDS = frozenset({"headers", "extra_headers"})
_MAX_DEPTH = 64


def is_credential_header(name: str) -> bool:
    """Whether a header of this name carries a credential (see the module docstring)."""
    lower = name.lower()
    return any(word in lower for word in CREDENTIAL_WORDS)


def redacted(value: Any, *, headers: bool = False, _depth: int = 0) -> Any:
    """``value`` with credentials hidden, for reprs and error messages.

    In a mapping, a key named like a credential (``SECRET_FIELDS``) has its value hidden; inside
    ``headers`` / ``extra_headers`` (or with ``headers=True``) the header-name rule applies.
    """
    if _depth > _MAX_DEPTH:
        return HIDDEN
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            name = k.lower() if isinstance(k, str) else ""
            secret = is_credential_header(name) if headers else name in SECRET_FIELDS
            out[k] = HIDDEN if secret else redacted(v, headers=name in _HEADER_FIELDS, _depth=_depth + 1)
        return out
    if isinstance(value, list | tuple):
        return type(value)(redacted(v, headers=headers, _depth=_depth + 1) for v in value)
    return value


def strip_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part: the form to show in messages and records."""
    return _split_userinfo(url)[1]


def _split_userinfo(url: str) -> tuple[str | None, str]:
    """(the ``user:password`` of ``url`` or None, ``url`` without it)."""
    if "@" not in url:  # the common case, decided at C speed: no userinfo anywhere
        return None, url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None, url
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))  # the authority's end
    at = rest.rfind("@", 0, end)
    if at == -1:
        return None, url
    return rest[:at], f"{scheme}://{rest[at + 1:]}"


def _header_secrets(value: str, *, cookie: bool = False) -> list[str]:
    """A credential header's value, its token without the auth scheme, and Basic's decoded parts;
    for a cookie header, each cookie's value too (a gateway may echo the cookies it parsed, each
    value alone)."""
    found = [value]
    if cookie:
        for pair in value.split(";"):
            crumb = pair.partition("=")[2].strip()
            if crumb:
                found.append(crumb)
        return found
    scheme, space, token = value.strip().partition(" ")
    token = token.strip()
    if space and token:
        found.append(token)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(token, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                decoded = ""
            if decoded:
                found.append(decoded)
                password = decoded.partition(":")[2]
                if password:
                    found.append(password)
    return found


def deployment_secrets(deployment: DeploymentLike) -> tuple[str, ...]:
    """Every credential value ``deployment`` sends (see the module docstring), longest first."""
    if not deployment.headers and not deployment.spec.extra_headers and "@" not in deployment.api_base \
            and not deployment.bearer_token:
        return (deployment.api_key,) if deployment.api_key else ()  # the common case: a key and nothing else
    found: list[str] = []
    for value in (deployment.api_key, deployment.bearer_token):
        if value:
            found.append(value)
    for headers in (deployment.spec.extra_headers, deployment.headers):
        for name, value in headers.items():
            if isinstance(name, str) and isinstance(value, str) and value and is_credential_header(name):
                found.extend(_header_secrets(value, cookie="cookie" in name.lower()))
    password = _userinfo_password(deployment.api_base)
    if password:
        found.append(password)
    return tuple(sorted(dict.fromkeys(found), key=len, reverse=True))


def _userinfo_password(url: str) -> str | None:
    userinfo = _split_userinfo(url)[0]
    return (userinfo.partition(":")[2] or userinfo) if userinfo else None


# -- redaction

def _base64_cores(secret: bytes) -> list[str]:
    """The base64 text that encodes ``secret`` at each of the three byte alignments.

    Only the characters made entirely of the secret's own bits are kept, so each form is found
    inside the base64 of any longer text that contains the secret.
    """
    cores = []
    for pad in range(3):
        bits = 8 * pad
        start = -(-bits // 6)
        end = (bits + 8 * len(secret)) // 6
        encoded = base64.b64encode(b"\0" * pad + secret).decode("ascii")[start:end]
        cores.append(encoded)
        cores.append(encoded.replace("+", "-").replace("/", "_"))
    return cores


def _variants(secret: str) -> list[str]:
    """The forms in which an echo of ``secret`` may appear."""
    forms = [secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)]
    # Percent-escapes are case-insensitive (%2b is %2B): an echo may use either.
    forms.extend([re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms[1:]])
    try:
        raw = secret.encode("utf-8")
    except UnicodeEncodeError:
        raw = b""
    if raw:
        forms.extend(_base64_cores(raw))
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_SECRET_LENGTH]


class Redactor:
    """Hides a set of secrets (in all the forms of ``_variants``) in text and nested values."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms: dict[str, None] = {}
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                forms.update(dict.fromkeys(_variants(secret)))
        self.forms = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def finds(self, text: str) -> bool:
        """Whether ``text`` shows any secret, whole or as a fragment of 8 characters or more."""
        return any(f[:MIN_SECRET_LENGTH] in text or f[-MIN_SECRET_LENGTH:] in text for f in self.forms)

    def text(self, text: str) -> str:
        """``text`` with every secret and every fragment of one hidden."""
        if not self.finds(text):
            return text
        spans: list[tuple[int, int]] = []
        for form in self.forms:
            spans.extend(_fragment_spans(text, form))
        spans.sort()
        out, pos = [], 0
        for start, end in spans:
            if end <= pos:
                continue
            if start > pos:
                out.append(text[pos:start])
            if start >= pos:
                out.append(HIDDEN)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def value(self, value: Any, depth: int = 0) -> Any:
        """``value`` (a parsed JSON body, say) with secrets hidden in every string, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth > _MAX_DEPTH:
            return HIDDEN
        if isinstance(value, Mapping):
            return {self.value(k, depth + 1): self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v, depth + 1) for v in value)
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("utf-8", "replace")
            return self.text(text).encode() if self.finds(text) else value
        return HIDDEN if self.finds(repr(value)) else value


def _fragment_spans(text: str, form: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that are a prefix or a suffix (8+ characters) of ``form``."""
    spans = []
    head, tail, n = form[:MIN_SECRET_LENGTH], form[-MIN_SECRET_LENGTH:], len(form)
    start = text.find(head)
    while start != -1:
        end = start + MIN_SECRET_LENGTH
        while end < len(text) and end - start < n and text[end] == form[end - start]:
            end += 1
        spans.append((start, end))
        start = text.find(head, end)
    start = text.find(tail)
    while start != -1:
        begin, k = start, n - MIN_SECRET_LENGTH
        while begin > 0 and k > 0 and text[begin - 1] == form[k - 1]:
            begin -= 1
            k -= 1
        spans.append((begin, start + MIN_SECRET_LENGTH))
        start = text.find(tail, start + 1)
    return spans


class RedactedError(Exception):
    """Stands in a redacted error's chain for an exception that showed a secret (or its input).

    ``original_type`` names the exception it replaces; its message is that exception's, with
    secrets hidden (for a pydantic ``ValidationError``: the errors without their input values).
    """

    def __init__(self, original: BaseException, message: str) -> None:
        kind = type(original)
        self.original_type = f"{kind.__module__}.{kind.__qualname__}"
        super().__init__(f"{self.original_type}: {message}")


def _stand_in(exc: BaseException, redactor: Redactor) -> BaseException:
    """``exc`` itself if it shows nothing secret, else a ``RedactedError`` for it."""
    errors = getattr(exc, "errors", None)
    if _is_validation_error(exc) and callable(errors):
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                    for e in errors(include_url=False, include_input=False)]
        message = f"{len(problems)} validation error(s): " + "; ".join(problems)[:2000]
        return _linked(RedactedError(exc, redactor.text(message)), exc)
    try:
        shown = f"{exc}\n{exc.args!r}\n{getattr(exc, '__notes__', '')}"
    except Exception:  # a broken __str__ cannot be checked: do not keep it
        return _linked(RedactedError(exc, "(its message could not be read)"), exc)
    if not redactor.finds(shown):
        return exc
    return _linked(RedactedError(exc, redactor.text(str(exc))), exc)


def _is_validation_error(exc: BaseException) -> bool:
    from pydantic_core import ValidationError

    return isinstance(exc, ValidationError)


def _linked(stand_in: RedactedError, original: BaseException) -> RedactedError:
    stand_in.__cause__ = original.__cause__
    stand_in.__context__ = original.__context__
    stand_in.__suppress_context__ = original.__suppress_context__
    stand_in.__traceback__ = original.__traceback__
    return stand_in


def redact_exception(exc: BaseException, secrets: Iterable[str | None]) -> None:
    """Hide ``secrets`` in ``exc`` and in its whole chain (see the module docstring)."""
    redactor = Redactor(secrets)
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if len(seen) > _MAX_DEPTH:  # an absurdly long chain: cut it rather than walk it
            current.__cause__ = current.__context__ = None
            continue
        own = getattr(current, "_redact_own", None)
        if callable(own) and redactor:
            own(redactor)
        for link in ("__cause__", "__context__"):
            child = getattr(current, link)
            if child is None or id(child) in seen:
                continue
            replacement = child if hasattr(child, "_redact_own") else _stand_in(child, redactor)
            if replacement is not child:
                setattr(current, link, replacement)
                seen.add(id(child))
            stack.append(replacement)


# -- plaintext warning

_CHECKED_URLS: dict[str, None] = {}
_WARNED_HOSTS: set[str] = set()


def warn_if_plaintext(url: str, has_credentials: bool) -> None:
    """Warn (``PlaintextCredentialsWarning``, once per host per process) when credentials are
    about to be sent over plain ``http://`` to a host that is not a loopback address."""
    if not has_credentials or url.startswith("https://") or url in _CHECKED_URLS:
        return
    if len(_CHECKED_URLS) > 1024:
        _CHECKED_URLS.clear()
    _CHECKED_URLS[url] = None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return
    if parts.scheme != "http" or _is_loopback(host) or host in _WARNED_HOSTS:
        return
    _WARNED_HOSTS.add(host)
    from ._warnings import PlaintextCredentialsWarning, caller_stacklevel

    warnings.warn(PlaintextCredentialsWarning(
        f"credentials are sent in plaintext over http:// to {host} ({strip_userinfo(url)}): anyone on the "
        f"network path can read them; use https://, or a loopback address for a local server"),
        stacklevel=caller_stacklevel())


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
