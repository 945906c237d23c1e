"""Render a Hugging Face ``chat_template`` found on local disk.

A model's own Jinja chat template is the most faithful prompt format there is,
but fetching it over the network on the request path adds latency and a
failure mode, so only the local Hugging Face cache and explicit paths are read.
Templates are untrusted input: they run in Jinja's immutable sandbox, and
jinja2 is imported only when a template is actually compiled.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from routerlib.exceptions import PromptTemplateError
from routerlib.prompts.render import Message, message_text

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "HFChatTemplate",
    "hf_hub_cache",
    "hf_search_locations",
    "load_hf_chat_template",
]

_CONFIG = "tokenizer_config.json"
_JINJA_FILES = ("chat_template.jinja", "chat_template.jinja2")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


@dataclass(frozen=True, slots=True)
class HFChatTemplate:
    """A model's Jinja chat template plus the special tokens it refers to."""

    chat_template: str
    bos_token: str = ""
    eos_token: str = ""
    source: str = "<string>"

    def render(self, messages: Iterable[Message]) -> str:
        """Render like ``tokenizer.apply_chat_template(..., add_generation_prompt=True, tokenize=False)``.

        Any failure (syntax, ``raise_exception`` in the template, a sandbox
        violation) becomes a PromptTemplateError naming the template's source,
        so the caller can tell a bad template from a bad request.
        """
        try:
            compiled = _compile(self.chat_template)
            return compiled.render(
                messages=[_for_template(m) for m in messages],
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=True,
            )
        except PromptTemplateError:
            raise
        except Exception as exc:  # the template is third-party code; any failure is its failure
            raise PromptTemplateError(f"chat_template from {self.source} failed: {type(exc).__name__}: {exc}") from exc


def _for_template(message: Message) -> dict[str, object]:
    """A plain-dict copy with developer->system and text-part lists joined.

    Text-only chat templates concatenate ``message['content']`` as a string,
    and a raw-prompt server cannot take images anyway.
    """
    if not isinstance(message, Mapping):
        raise PromptTemplateError(f"each message must be a mapping, got {type(message).__name__}")
    copy = dict(message)
    if copy.get("role") == "developer":
        copy["role"] = "system"
    content = copy.get("content")
    if content is not None and not isinstance(content, str):
        copy["content"] = message_text(content)
    return copy


@lru_cache(maxsize=64)
def _compile(source: str) -> jinja2.Template:
    """Compile once per distinct template text; the environment mirrors transformers'."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> NoReturn:
        raise TemplateError(message)

    def tojson(
        value: object,
        indent: int | None = None,
        separators: tuple[str, str] | None = None,
        sort_keys: bool = False,
    ) -> str:
        # Jinja's built-in tojson HTML-escapes '<', '>' and '&', which corrupts prompts.
        return json.dumps(
            value,
            ensure_ascii=False,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
        )

    def strftime_now(fmt: str) -> str:
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
    return env.from_string(source)


def hf_hub_cache(environ: Mapping[str, str] | None = None) -> Path:
    """The hub cache directory: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.

    ``environ`` is the calling client's environment (``Client(environ=...)``); None reads the
    process's.
    """
    environ = os.environ if environ is None else environ
    if hub := environ.get("HF_HUB_CACHE"):
        return Path(hub).expanduser()
    if home := environ.get("HF_HOME"):
        return Path(home).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def _explicit_path(name_or_path: str) -> Path | None:
    """The filesystem path meant by ``name_or_path``, or None if it is a repo id."""
    path = Path(name_or_path).expanduser()
    if path.exists() or name_or_path.startswith(_PATH_PREFIXES) or name_or_path.endswith(".json"):
        return path
    return None


def _snapshot_dirs(repo_id: str, environ: Mapping[str, str] | None) -> list[Path]:
    """Cached snapshots of a repo, the one ``refs/main`` points at first, then newest first."""
    repo_dir = hf_hub_cache(environ) / ("models--" + repo_id.replace("/", "--"))
    try:
        snapshots = [p for p in (repo_dir / "snapshots").iterdir() if p.is_dir()]
    except OSError:
        return []
    try:
        main = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        main = ""
    return sorted(snapshots, key=lambda p: (p.name != main, -p.stat().st_mtime))


def _candidates(name_or_path: str, environ: Mapping[str, str] | None) -> list[tuple[Path, Path]]:
    """(directory, tokenizer_config.json path) pairs that may hold the template, in lookup order."""
    path = _explicit_path(name_or_path)
    if path is not None:
        return [(path.parent, path)] if path.is_file() else [(path, path / _CONFIG)]
    if not _REPO_ID.match(name_or_path) or ".." in name_or_path:
        return []
    return [(snapshot, snapshot / _CONFIG) for snapshot in _snapshot_dirs(name_or_path, environ)]


def hf_search_locations(name_or_path: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Human-readable places :func:`load_hf_chat_template` looks, for error messages."""
    path = _explicit_path(name_or_path)
    if path is not None:
        return [str(path if path.suffix == ".json" else path / _CONFIG)]
    if not _REPO_ID.match(name_or_path) or ".." in name_or_path:
        return [f"(not a Hugging Face repo id or an existing path: {name_or_path!r})"]
    repo_dir = hf_hub_cache(environ) / ("models--" + name_or_path.replace("/", "--"))
    return [str(repo_dir / "snapshots" / "*" / _CONFIG)]


def load_hf_chat_template(name_or_path: str, environ: Mapping[str, str] | None = None) -> HFChatTemplate | None:
    """The chat template for a repo id in the local HF cache, or at a path; None if absent.

    ``name_or_path`` is a directory holding tokenizer_config.json, the file
    itself, or an ``org/name`` repo id looked up in :func:`hf_hub_cache`. A
    template in a sibling ``chat_template.jinja`` (newer transformers saves it
    there) is used when the config has none. Nothing is downloaded.
    """
    for directory, config_path in _candidates(name_or_path, environ):
        found = _load_from(directory, config_path)
        if found is not None:
            return found
    return None


def _load_from(directory: Path, config_path: Path) -> HFChatTemplate | None:
    """Cached on the files' (mtime, size): configs can be 100 KB of added tokens."""
    files = (config_path, *(directory / name for name in _JINJA_FILES))
    return _load_cached(directory, config_path, tuple(_stamp(f) for f in files))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=128)
def _load_cached(
    directory: Path, config_path: Path, stamps: tuple[tuple[int, int] | None, ...]
) -> HFChatTemplate | None:
    del stamps  # only part of the cache key
    config = _read_config(config_path)
    template = _template_text(config.get("chat_template"), config_path)
    if template is None:
        for name in _JINJA_FILES:
            jinja_path = directory / name
            if jinja_path.is_file():
                template = jinja_path.read_text(encoding="utf-8")
                config_path = jinja_path
                break
    if template is None:
        return None
    return HFChatTemplate(
        chat_template=template,
        bos_token=_token(config.get("bos_token")),
        eos_token=_token(config.get("eos_token")),
        source=str(config_path),
    )


def _read_config(path: Path) -> Mapping[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise PromptTemplateError(f"cannot read {path}: {exc}") from exc
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise PromptTemplateError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise PromptTemplateError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config


def _template_text(value: object, path: Path) -> str | None:
    """A chat_template is a string, or a list of {name, template} where "default" is the chat one."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        default = named.get("default")
        if isinstance(default, str):
            return default
        raise PromptTemplateError(
            f"{path}: chat_template list has no 'default' entry (names: {sorted(map(str, named))})"
        )
    raise PromptTemplateError(f"{path}: chat_template must be a string or a list, got {type(value).__name__}")


def _token(value: object) -> str:
    """Special tokens are saved as strings or as AddedToken dicts with a "content" key."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    return ""
