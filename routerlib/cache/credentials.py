"""Whether an answer about to be stored shows one of the deployment's credentials.

A provider that echoes the caller's key (a debugging proxy, a misconfigured gateway, a model
asked to repeat its headers) must not have that answer stored: the cache would replay the key
to every other caller of the same prompt, including callers holding another key or none.

What counts as a credential, and the forms in which an echo of one appears, are known in one
place, ``routerlib._secrets`` (the same knowledge that redacts errors): every secret of
``Deployment.secrets`` (the key, a bearer token, the values of credential headers such as
``x-api-key`` or ``Authorization`` and the token inside them, Basic's password, a password in
``api_base``), as exact text, URL-encoded and base64 at each alignment (``Redactor.forms``).
This module adds what is particular to a stored entry: the entry is JSON, so each form is also
searched for as JSON-escaped text, and escaped twice (a tool call's ``arguments`` is a JSON
string inside the JSON body).

Short secrets are exempt by the same rule as redaction (``MIN_SECRET_LENGTH``, applied to the
secret and to every form of it): a test key such as "k" occurs in every answer's JSON, and
refusing to store every answer would turn the cache off rather than protect anything. Whole
forms only, not the 8-character fragments redaction also hides (those are for messages cut in
the middle of a key): a prefix such as "sk-proj-" is shared by every key of a provider and
would refuse any answer that merely mentions the format.
"""

from __future__ import annotations

import functools
import json

from .._secrets import Redactor

__all__ = ["shows_credential"]


def shows_credential(raw: bytes, secrets: tuple[str, ...]) -> bool:
    """Whether the encoded entry ``raw`` holds any form of any of ``secrets``."""
    if not secrets:
        return False
    return any(needle in raw for needle in _needles(secrets))


@functools.lru_cache(maxsize=256)
def _needles(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    """The bytes to search an entry for (memoized by the deployment's secrets, so storing answers
    from one deployment computes them once).

    Each form as it is, JSON-escaped (pydantic writes non-ASCII as UTF-8; a model may have written
    ``\\u`` escapes into a JSON string of its own, so the ASCII-only escaping too), and each of those
    escaped again, as it reads in a JSON string inside the body (a tool call's ``arguments``).
    """
    found: dict[bytes, None] = {}
    for form in Redactor(secrets).forms:
        for once in (form, _escaped(form, False), _escaped(form, True)):
            for text in (once, _escaped(once, False)):
                found[text.encode("utf-8", "surrogatepass")] = None
    return tuple(found)


def _escaped(text: str, ascii_only: bool) -> str:
    """``text`` as it reads inside a JSON string (without the quotes)."""
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]
