"""Tests for routerlib.tokens: offline, exact-vs-tiktoken token counting."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routerlib import tokens

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "routerlib" / "data"
NAMES = ("cl100k_base", "o200k_base")
SAMPLES = (
    "hello world",
    "Hello, World! It's 2024-05-13; we've got 1234567 tokens.\n\n\tdef f(x): return x**2",
    "  leading and trailing spaces   \r\n\r\nwindows newlines",
    "日本語のテキストと中文文本，还有한국어 텍스트。",
    "emoji 👩‍👩‍👧‍👦 🇺🇸 🏳️‍🌈 and accents: naïve café Ångström",
    "special markers are plain text here: <|endoftext|> <|endofprompt|>",
    "",
)


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with the repo importable."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start with no built encodings; the session's cache is restored afterwards."""
    monkeypatch.setattr(tokens, "_ENCODINGS", {})


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _litellm_tokenizer_dir() -> Path:
    spec = importlib.util.find_spec("litellm")  # locates without importing
    if spec is None or spec.origin is None:
        pytest.skip("litellm not installed")
    path = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    if not path.is_dir():
        pytest.skip("litellm wheel has no bundled tiktoken cache")
    return path


# --- shipped data ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_hash_matches_expected(name: str) -> None:
    digest = hashlib.sha256((DATA / f"{name}.tiktoken").read_bytes()).hexdigest()
    assert digest == tokens._SPECS[name][0]


def test_specs_match_tiktoken_openai_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our pat_str, special tokens and hashes equal what tiktoken itself declares."""
    openai_public = pytest.importorskip("tiktoken_ext.openai_public")
    requested: dict[str, str | None] = {}

    def fake_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        requested[url] = expected_hash  # instead of downloading
        return {b"a": 0}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    for name in NAMES:
        spec = openai_public.ENCODING_CONSTRUCTORS[name]()
        sha256, pat_str, special = tokens._SPECS[name]
        assert spec["pat_str"] == pat_str
        assert spec["special_tokens"] == special
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        assert requested[url] == sha256


def test_licenses_file_records_vocabularies() -> None:
    text = (DATA / "LICENSES.md").read_text()
    for name in NAMES:
        assert f"{name}.tiktoken" in text
        assert tokens._SPECS[name][0] in text
    assert "MIT License" in text


def test_hash_mismatch_is_a_clear_error(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pat_str, special = tokens._SPECS["cl100k_base"]
    bad = {**tokens._SPECS, "cl100k_base": ("0" * 64, pat_str, special)}
    monkeypatch.setattr(tokens, "_SPECS", bad)
    with pytest.raises(ValueError, match=r"cl100k_base\.tiktoken.*sha256"):
        tokens.get_encoding("cl100k_base")
    assert "cl100k_base" not in tokens._ENCODINGS


# --- exactness against official tiktoken ------------------------------------


def test_known_token_ids() -> None:
    assert tokens.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert tokens.get_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_token_ids_equal_official_tiktoken() -> None:
    """tiktoken's own loader (reading litellm's cache, network blocked) agrees."""
    cache = _litellm_tokenizer_dir()
    result = _run(
        f"""
        import json, socket
        def refuse(*a, **k): raise OSError("network blocked in test")
        socket.socket.connect = refuse
        import tiktoken
        out = {{}}
        for name in {list(NAMES)!r}:
            enc = tiktoken.get_encoding(name)
            out[name] = {{
                "ids": [enc.encode_ordinary(s) for s in {list(SAMPLES)!r}],
                "special": enc._special_tokens,
                "n_vocab": enc.n_vocab,
            }}
        print(json.dumps(out))
        """,
        TIKTOKEN_CACHE_DIR=str(cache),
    )
    assert result.returncode == 0, result.stderr
    official = json.loads(result.stdout)
    for name in NAMES:
        ours = tokens.get_encoding(name)
        assert [ours.encode_ordinary(s) for s in SAMPLES] == official[name]["ids"]
        assert ours._special_tokens == official[name]["special"]
        assert ours.n_vocab == official[name]["n_vocab"]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("openai/gpt-4o-mini", "o200k_base"),
        ("azure/eu/gpt-4.1-nano", "o200k_base"),
        ("GPT-5-mini", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("azure/gpt-35-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("anthropic/claude-3-5-sonnet-20240620", "cl100k_base"),
        ("gemini/gemini-1.5-pro", "cl100k_base"),
        ("ollama/llama3:8b", "cl100k_base"),
        ("", "cl100k_base"),
    ],
)
def test_encoding_name_for_model(model: str, expected: str) -> None:
    assert tokens.encoding_name_for_model(model) == expected


@pytest.mark.parametrize(
    "model",
    ["gpt-4o", "gpt-4o-2024-08-06", "gpt-4.1-mini", "gpt-5", "o1", "o3-mini",
     "o4-mini", "chatgpt-4o-latest", "gpt-4", "gpt-4-0613", "gpt-3.5-turbo",
     "gpt-35-turbo", "text-embedding-ada-002", "davinci-002"],
)
def test_model_mapping_agrees_with_tiktoken_table(model: str) -> None:
    tiktoken_model = pytest.importorskip("tiktoken.model")
    assert tokens.encoding_name_for_model(model) == (
        tiktoken_model.encoding_name_for_model(model)
    )
    assert not tokens.is_estimate(model)


@pytest.mark.parametrize("model", ["claude-3-opus", "gemini-2.0-flash", "llama-3", ""])
def test_other_providers_are_estimates(model: str) -> None:
    assert tokens.is_estimate(model)


def test_get_encoding_rejects_unshipped_names() -> None:
    with pytest.raises(ValueError, match=r"r50k_base.*cl100k_base.*o200k_base"):
        tokens.get_encoding("r50k_base")


def test_count_text() -> None:
    assert tokens.count_text("gpt-3.5-turbo", "hello world") == 2
    assert tokens.count_text("openai/gpt-4o", "hello world") == 2
    assert tokens.count_text("gpt-4o", "") == 0
    # special-token text is ordinary user text: counted, never raising
    assert tokens.count_text("gpt-4o", "<|endoftext|>") > 1


# --- message counting ----------------------------------------------------------

CONVERSATIONS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "Hello!"}],
    [
        {"role": "system", "content": "You are a terse assistant. Answer in one line."},
        {"role": "user", "name": "alice", "content": "What's the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of 日本?"},
    ],
    [
        {"role": "system", "name": "example_user", "content": "New synergies."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe both pictures."},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x/a.png", "detail": "low"},
                },
                {"type": "text", "text": "Be brief 🙂"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x/b.png", "detail": "low"},
                },
            ],
        },
    ],
    [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "call_abc123", "content": '{"temp_c": 21}'},
    ],
]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-3.5-turbo"])
@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_count_messages_matches_litellm(
    model: str,
    messages: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    no_network: None,
) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # litellm sets TIKTOKEN_CACHE_DIR process-wide when it counts; undo that after.
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    litellm = pytest.importorskip("litellm")
    expected = litellm.token_counter(model=model, messages=messages)
    assert tokens.count_messages(model, messages) == expected
    assert tokens.token_counter(model, messages=messages) == expected


def test_count_messages_cookbook_arithmetic() -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "name": "bob", "content": "Hello there, how are you?"},
    ]
    enc = tokens.get_encoding("o200k_base")

    def n(s: str) -> int:
        return len(enc.encode(s))

    system = 3 + n("system") + n("You are helpful.")
    user = 3 + n("user") + n("bob") + 1 + n("Hello there, how are you?")
    assert tokens.count_messages("gpt-4o", messages) == system + user + 3 == 24


def test_tool_calls_count_name_and_arguments() -> None:
    base: dict[str, Any] = {"role": "assistant", "content": None}
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    n = len(tokens.get_encoding("o200k_base").encode('{"city": "Paris"}'))
    name = len(tokens.get_encoding("o200k_base").encode("get_weather"))
    without = tokens.count_messages("gpt-4o", [base])
    with_call = tokens.count_messages("gpt-4o", [{**base, "tool_calls": [call]}])
    assert with_call - without == n + name
    legacy = tokens.count_messages(
        "gpt-4o", [{**base, "function_call": call["function"]}]
    )
    assert legacy == with_call


def test_media_parts() -> None:
    def user(*parts: Mapping[str, Any] | str) -> Sequence[Mapping[str, Any]]:
        return [{"role": "user", "content": list(parts)}]

    empty = tokens.count_messages("gpt-4o", user())
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    file = {"type": "file", "file": {"file_id": "file-123"}}
    assert tokens.count_messages("gpt-4o", user(image, image)) == empty + 2 * 85
    assert tokens.count_messages("gpt-4o", user(audio, file)) == empty
    text = {"type": "text", "text": "hello world"}
    assert tokens.count_messages("gpt-4o", user(text, "hello world")) == empty + 4


def test_token_counter_requires_exactly_one_input() -> None:
    with pytest.raises(ValueError, match=r"exactly one.*both"):
        tokens.token_counter("gpt-4o", messages=[], text="x")
    with pytest.raises(ValueError, match=r"exactly one.*neither"):
        tokens.token_counter("gpt-4o")
    assert tokens.token_counter(text="hello world") == 2
    assert tokens.token_counter("gpt-4o", text="") == 0
    assert tokens.token_counter("gpt-4o", messages=[]) == 3


# --- laziness, isolation, offline ---------------------------------------------


def test_import_does_not_import_tiktoken_or_read_vocabularies() -> None:
    result = _run(
        """
        import sys
        opened = []
        sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == "open" else None)
        import routerlib.tokens, sys
        assert "tiktoken" not in sys.modules, "tiktoken imported eagerly"
        assert not [p for p in opened if p.endswith(".tiktoken")], opened
        """
    )
    assert result.returncode == 0, result.stderr


def test_loading_uses_no_network_no_writes_no_env() -> None:
    """Audit every open/socket/env event of a fresh process while it loads both."""
    result = _run(
        """
        import os, sys
        events = []
        def hook(event, args):
            if event.startswith("socket.") or event in ("os.putenv", "os.unsetenv"):
                events.append((event, repr(args)))
            if event == "open" and isinstance(args[1], str) and set(args[1]) & set("wax+"):
                events.append((event, repr(args)))
            if event == "open" and isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR):
                events.append((event, repr(args)))
        env_before = dict(os.environ)
        sys.addaudithook(hook)
        from routerlib import tokens
        assert tokens.count_text("gpt-4o", "hello world") == 2
        assert tokens.count_text("gpt-4", "hello world") == 2
        assert events == [], events
        assert dict(os.environ) == env_before
        """,
        TIKTOKEN_CACHE_DIR="/nonexistent/should-not-be-used",
        PYTHONDONTWRITEBYTECODE="1",
    )
    assert result.returncode == 0, result.stderr


def test_builds_encodings_with_network_blocked(
    fresh_cache: None, no_network: None
) -> None:
    for name in NAMES:
        assert tokens.get_encoding(name).encode("hello world")
    assert set(tokens._ENCODINGS) == set(NAMES)


def test_environment_unchanged_after_loading(fresh_cache: None) -> None:
    before = dict(os.environ)
    for name in NAMES:
        tokens.get_encoding(name)
    assert dict(os.environ) == before


def test_concurrent_first_use_builds_once(
    fresh_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = tokens._read_ranks

    def counting(name: str, sha256: str) -> dict[bytes, int]:
        calls.append(name)
        return real(name, sha256)

    monkeypatch.setattr(tokens, "_read_ranks", counting)
    results: list[object] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(tokens.get_encoding("cl100k_base"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["cl100k_base"]
    assert len(results) == 8 and all(r is results[0] for r in results)


# --- upper bound ---------------------------------------------------------------

BOUND_SAMPLES = (
    *SAMPLES,
    "a" * 1000,
    " " * 257,
    "🙂" * 50,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters 𝟘𝟙𝟚",
    "e\u0301\u0302\u0303 combining marks",
    "lone surrogate \ud800 here",
)


@pytest.fixture(scope="module")
def encodings() -> Iterator[list[Any]]:
    yield [tokens.get_encoding(name) for name in NAMES]


@pytest.mark.parametrize("text", BOUND_SAMPLES)
def test_upper_bound_is_at_least_exact(text: str, encodings: list[Any]) -> None:
    bound = tokens.upper_bound_tokens(text)
    for enc in encodings:
        assert bound >= len(enc.encode_ordinary(text))


def test_upper_bound_is_utf8_length() -> None:
    assert tokens.upper_bound_tokens("abc") == 3
    assert tokens.upper_bound_tokens("日本") == 6
    assert tokens.upper_bound_tokens("🙂") == 4
    assert tokens.upper_bound_tokens("\ud800") == 3


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(" \n\t🙂日")))
def test_upper_bound_property(text: str) -> None:
    bound = tokens.upper_bound_tokens(text)
    for name in NAMES:
        assert bound >= len(tokens.get_encoding(name).encode_ordinary(text))


# -- LiteLLM's encode / decode and token_counter's argument checks


def test_encode_decode_round_trip() -> None:
    ids = tokens.encode(model="gpt-4o-mini", text="hello world")
    assert ids == tokens.get_encoding("o200k_base").encode_ordinary("hello world")
    assert all(isinstance(i, int) for i in ids)
    assert tokens.decode(model="gpt-4o-mini", tokens=ids) == "hello world"
    assert tokens.encode("gpt-4", "<|endoftext|>") == tokens.get_encoding("cl100k_base").encode_ordinary(
        "<|endoftext|>")  # a special marker in text is plain text, never a control token
    assert tokens.decode("gpt-4", []) == ""


@pytest.mark.parametrize(("call", "match"), [
    (lambda: tokens.encode(model="gpt-4o", text=None), r"encode\(text=None\)"),
    (lambda: tokens.encode(model=None, text="x"), r"encode\(model=None\)"),
    (lambda: tokens.encode(model="gpt-4o", text="x", custom_tokenizer={"type": "hf"}), "custom_tokenizer"),
    (lambda: tokens.decode(model="gpt-4o", tokens="abc"), "list of token ids"),
    (lambda: tokens.decode(model="gpt-4o", tokens=[1, True]), "list of token ids"),
    (lambda: tokens.decode(model="gpt-4o", tokens=[-1]), r"token ids must be in 0\.\."),
    (lambda: tokens.decode(model="gpt-4o", tokens=[10**9]), r"token ids must be in 0\.\."),
    (lambda: tokens.token_counter(messages="hi"), r"token_counter\(messages='hi'\).*pass text="),
    (lambda: tokens.token_counter(messages={"role": "user"}), "list of messages"),
    (lambda: tokens.token_counter(messages=["hi"]), r"messages\[0\]='hi'"),
    (lambda: tokens.token_counter(text=42), r"token_counter\(text=42\)"),
    (lambda: tokens.token_counter(model=3, text="x"), r"token_counter\(model=3\)"),
])
def test_bad_arguments_are_typed_errors(call: Any, match: str) -> None:
    from routerlib.exceptions import InvalidRequestError

    with pytest.raises(InvalidRequestError, match=match):
        call()


def test_token_counter_takes_litellms_forms() -> None:
    from routerlib.types import ChatCompletionMessage

    assert tokens.token_counter("gpt-4o", text=["hello", " world"]) == tokens.count_text("gpt-4o", "hello world")
    as_object = tokens.token_counter("gpt-4o", messages=[ChatCompletionMessage(content="hi")])
    assert as_object == tokens.count_messages("gpt-4o", [{"role": "assistant", "content": "hi"}])
