"""Offline token counting for routing decisions.

tiktoken normally downloads its vocabularies on first use and caches them in a
temp directory chosen through environment variables. A router runs on machines
without internet and must not touch process-wide state, so routerlib ships the
two vocabularies it needs (``o200k_base``, ``cl100k_base``; MIT, see
``data/LICENSES.md``) and builds :class:`tiktoken.Encoding` objects itself:
no network, no cache writes, no environment variables.

Importing this module is cheap: tiktoken is imported and a vocabulary is read
only when an encoding is first needed, then kept for the life of the process.
"""

from __future__ import annotations

import binascii
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "count_messages",
    "count_text",
    "decode",
    "encode",
    "encoding_name_for_model",
    "get_encoding",
    "is_estimate",
    "token_counter",
    "upper_bound_tokens",
]

# Values below mirror tiktoken_ext/openai_public.py. They are not read from that
# module at runtime because they live inside its constructor functions, which
# download the vocabulary when called; tests cross-check them against it.
_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"
_O200K_PAT_PARTS = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
)
_SPECS: dict[str, tuple[str, str, dict[str, int]]] = {
    # name: (sha256 of the .tiktoken file, pat_str, special tokens)
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(_O200K_PAT_PARTS),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}

# Model-name prefixes (after normalisation) that OpenAI tokenizes with o200k_base.
_GPT_O200K = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss")
_O200K_PREFIXES = (*_GPT_O200K, "o1", "o3", "o4")  # plus the o-series reasoners
# Other OpenAI model families, all on cl100k_base: counts for these are exact.
_BASE_MODELS = ("davinci-002", "babbage-002")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-", *_BASE_MODELS)

IMAGE_TOKENS = 85
"""Flat per-image charge: OpenAI's cost of one ``detail: "low"`` image.

High-detail images cost more (tiles of 170 tokens on top), so for them this
is an underestimate; computing the real figure needs the image dimensions,
i.e. fetching or decoding the image, which a token estimate must not do."""

_TOKENS_PER_MESSAGE = 3  # <|start|>{role}<|message|> ... <|end|> framing
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>

_ENCODINGS: dict[str, tiktoken.Encoding] = {}
_LOCK = threading.Lock()


def _model_name(model: str) -> str:
    """Drop provider routing prefixes (``openai/``, ``azure/eu/``) and ``ft:`` wrappers."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name.split(":")[1]  # ft:gpt-4o-mini-2024-07-18:org:suffix:id
    return name


def encoding_name_for_model(model: str) -> str:
    """Name of the shipped encoding to count ``model``'s tokens with.

    OpenAI models since gpt-4o (gpt-4.1, gpt-5, o-series) use ``o200k_base``;
    gpt-4, gpt-3.5 and the embedding models use ``cl100k_base``. Models of other
    providers (Claude, Gemini, Llama, unknown names) have tokenizers we do not
    ship, so they fall back to ``cl100k_base``: a count for them is only an
    estimate whose error depends on the provider's tokenizer and the language,
    so keep headroom when comparing it to a context window (see :func:`is_estimate`).
    """
    name = _model_name(model)
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


def is_estimate(model: str) -> bool:
    """Whether counts for ``model`` are an approximation (its tokenizer is not shipped)."""
    return not _model_name(model).startswith(_O200K_PREFIXES + _CL100K_PREFIXES)


def _read_ranks(name: str, expected_sha256: str) -> dict[bytes, int]:
    """Read and verify a shipped ``.tiktoken`` file: ``base64(token) rank`` per line."""
    import hashlib  # these two cost ~25 ms to import: only pay when loading
    from importlib import resources

    filename = f"{name}.tiktoken"
    data = (
        resources.files(__package__ or "routerlib") / "data" / filename
    ).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ValueError(
            f"routerlib/data/{filename} is corrupted or replaced: sha256 {actual}, "
            f"expected {expected_sha256}; reinstall routerlib"
        )
    a2b = binascii.a2b_base64
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[a2b(token)] = int(rank)
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError(
                f"bad line {lineno} in routerlib/data/{filename}: {line!r}"
            ) from exc
    return ranks


def get_encoding(name: str) -> tiktoken.Encoding:
    """The shipped encoding ``name``, built from package data on first use.

    Only ``o200k_base`` and ``cl100k_base`` are shipped; other names raise
    ``ValueError`` rather than letting tiktoken try to download them. Built
    encodings are cached; a lock ensures each is built (0.1-0.35 s and
    50-80 MB each) at most once even when many threads need it at once.
    """
    encoding = _ENCODINGS.get(name)
    if encoding is not None:
        return encoding
    if name not in _SPECS:
        raise ValueError(
            f"unknown encoding {name!r}; routerlib ships only {sorted(_SPECS)}"
        )
    with _LOCK:
        encoding = _ENCODINGS.get(name)
        if encoding is None:
            import tiktoken

            sha256, pat_str, special_tokens = _SPECS[name]
            encoding = tiktoken.Encoding(
                name=name,
                pat_str=pat_str,
                mergeable_ranks=_read_ranks(name, sha256),
                special_tokens=dict(special_tokens),
            )
            _ENCODINGS[name] = encoding
    return encoding


def count_text(model: str, text: str) -> int:
    """Number of tokens ``text`` takes for ``model``.

    Special-token markers such as ``<|endoftext|>`` in user text are counted as
    ordinary text, which is how the provider sees them, instead of raising.
    """
    return len(get_encoding(encoding_name_for_model(model)).encode_ordinary(text))


def _count_parts(encoding: tiktoken.Encoding, parts: Sequence[Any]) -> int:
    """Tokens of a multi-part ``content`` list."""
    total = 0
    for part in parts:
        if isinstance(part, str):
            total += len(encoding.encode_ordinary(part))
        elif not isinstance(part, Mapping):
            continue
        elif part.get("type") in ("image_url", "input_image", "image"):
            total += IMAGE_TOKENS
        elif isinstance(part.get("text"), str):  # text, input_text, output_text
            total += len(encoding.encode_ordinary(part["text"]))
    return total


def _count_tool_calls(encoding: tiktoken.Encoding, calls: Sequence[Any]) -> int:
    """Tokens of an assistant message's function names and argument JSON."""
    total = 0
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            for field in ("name", "arguments"):
                value = function.get(field)
                if isinstance(value, str):
                    total += len(encoding.encode_ordinary(value))
    return total


def count_messages(model: str, messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens of a chat ``messages`` list, by OpenAI's cookbook rule.

    Each message costs 3 framing tokens plus the tokens of each string field
    (role, content, name, tool_call_id); ``name`` costs 1 more; the reply is
    primed with 3 tokens. Content parts: text is tokenized, each image counts a
    flat :data:`IMAGE_TOKENS`, and ``input_audio``/``file`` parts count 0
    because their cost depends on decoding the media (audio duration, PDF
    pages), which this cheap estimate deliberately avoids. Assistant
    ``tool_calls`` (and legacy ``function_call``) count their function name and
    argument text. ``tools`` definitions are not counted here.
    """
    encoding = get_encoding(encoding_name_for_model(model))
    total = _REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += len(encoding.encode_ordinary(value))
                if key == "name":
                    total += _TOKENS_PER_NAME
            elif key == "content" and isinstance(value, Sequence):
                total += _count_parts(encoding, value)
            elif key == "tool_calls" and isinstance(value, Sequence):
                total += _count_tool_calls(encoding, value)
            elif key == "function_call" and isinstance(value, Mapping):
                total += _count_tool_calls(encoding, [{"function": value}])
    return total


def token_counter(
    model: str = "",
    *,
    messages: Sequence[Mapping[str, Any]] | None = None,
    text: str | Sequence[str] | None = None,
) -> int:
    """LiteLLM-compatible entry point: count ``messages`` or ``text``, not both.

    Kept under LiteLLM's name so code migrating from ``litellm.token_counter``
    keeps working; an empty ``model`` counts with the ``cl100k_base`` fallback.
    ``text`` may be a list of strings (counted as their concatenation, as LiteLLM
    does); ``messages`` may hold message objects (pydantic models, e.g. a
    response's message). A wrong type raises ``InvalidRequestError`` naming it.
    """
    _check_model_arg("token_counter", model)
    if text is not None and messages is None:
        return count_text(model, _text_arg(text))
    if messages is not None and text is None:
        return count_messages(model, _messages_arg(messages))
    raise ValueError(
        "token_counter() needs exactly one of messages= or text=, got "
        + ("both" if text is not None else "neither")
    )


def encode(model: str = "", text: str = "", custom_tokenizer: Any = None) -> list[int]:
    """LiteLLM's ``encode``: the token ids of ``text`` for ``model`` (special markers as plain text)."""
    _check_model_arg("encode", model, custom_tokenizer)
    if not isinstance(text, str):
        raise _bad_argument(f"encode(text={_short(text)}): must be a string")
    return get_encoding(encoding_name_for_model(model)).encode_ordinary(text)


def decode(model: str = "", tokens: Sequence[int] = (), custom_tokenizer: Any = None) -> str:
    """LiteLLM's ``decode``: the text of token ids for ``model`` (undecodable bytes become U+FFFD)."""
    _check_model_arg("decode", model, custom_tokenizer)
    if isinstance(tokens, str | bytes) or not isinstance(tokens, Sequence) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise _bad_argument(f"decode(tokens={_short(tokens)}): must be a list of token ids (integers)")
    encoding = get_encoding(encoding_name_for_model(model))
    if any(t < 0 or t >= encoding.n_vocab for t in tokens):
        raise _bad_argument(f"decode(tokens=...): token ids must be in 0..{encoding.n_vocab - 1} for "
                            f"{encoding.name}")
    return encoding.decode(list(tokens))


def _check_model_arg(function: str, model: object, custom_tokenizer: Any = None) -> None:
    if not isinstance(model, str):
        raise _bad_argument(f"{function}(model={_short(model)}): must be a model name string")
    if custom_tokenizer is not None:
        raise _bad_argument(f"{function}(custom_tokenizer=...): routerlib counts with its shipped tiktoken "
                            f"encodings only; leave custom_tokenizer out")


def _text_arg(text: object) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, list | tuple) and all(isinstance(t, str) for t in text):
        return "".join(text)
    raise _bad_argument(f"token_counter(text={_short(text)}): must be a string or a list of strings")


def _messages_arg(messages: object) -> list[Mapping[str, Any]]:
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise _bad_argument(f"token_counter(messages={_short(messages)}): must be a list of messages such as "
                            f"[{{'role': 'user', 'content': 'Hi'}}] (to count a string, pass text=)")
    out: list[Mapping[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) and callable(getattr(message, "model_dump", None)):
            message = message.model_dump(exclude_none=True)
        if not isinstance(message, Mapping):
            raise _bad_argument(f"token_counter(messages[{i}]={_short(message)}): each message must be a dict")
        out.append(message)
    return out


def _bad_argument(message: str) -> Exception:
    from .exceptions import InvalidRequestError

    return InvalidRequestError(message, code="invalid_parameter")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def upper_bound_tokens(text: str) -> int:
    """A bound on ``text``'s token count that needs no tokenizer: its UTF-8 size.

    Every BPE token of the shipped encodings is a non-empty byte string and the
    tokens partition the text's UTF-8 bytes, so there are never more tokens
    than bytes. If even this bound fits a context window, exact counting (and
    loading a vocabulary) can be skipped. Lone surrogates, which tiktoken
    replaces by U+FFFD (3 bytes), are sized as 3 bytes too. For tokenizers we
    do not ship (SentencePiece adds a prefix-space or BOS token) allow a
    small constant on top.
    """
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))
