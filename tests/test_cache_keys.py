"""The cache key: what splits entries, what does not, and what never enters it."""

from __future__ import annotations

from typing import Any

import pytest

import routerlib
from routerlib._embedding import EmbeddingRequest, build_embedding_request
from routerlib._request import ChatRequest, build_request
from routerlib.cache.keys import (
    EMBEDDING_IN_KEY,
    FORMAT_VERSION,
    IN_KEY,
    OUT_OF_KEY,
    fingerprint,
    group_scope,
    key_prefix,
    make_key,
    request_hash,
    user_scope,
)
from routerlib.cost.model_map import ModelMap
from routerlib.planning import Planner
from routerlib.prompts import PromptTemplate
from routerlib.providers import ProviderRegistry
from routerlib.providers.base import Deployment, DeploymentOptions

SECRET = "sk-live-VERY-SECRET-KEY-0123456789"
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


def req(**params: Any) -> ChatRequest:
    return build_request({"model": "openai/gpt-4o-mini", "messages": MESSAGES, **params})


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})


def dep(planner: Planner, model: str = "openai/gpt-4o-mini", **entry: Any) -> Deployment:
    return planner.deployment(model, {"api_key": SECRET, **entry})


def key(planner: Planner, request: ChatRequest | EmbeddingRequest, deployment: Deployment | None = None,
        namespace: str = "default", user: str | None = None) -> str:
    h = request_hash(request)
    assert h is not None
    k = make_key(h, deployment or dep(planner), namespace, user)
    assert k is not None
    return k


def test_every_request_field_is_either_in_the_key_or_out_of_it_with_a_reason() -> None:
    fields = set(ChatRequest.model_fields)
    assert set(IN_KEY) | set(OUT_OF_KEY) == fields
    assert not set(IN_KEY) & set(OUT_OF_KEY)
    assert all(reason for reason in OUT_OF_KEY.values())


def test_every_embedding_request_field_is_either_in_the_key_or_out_of_it_with_a_reason() -> None:
    fields = set(EmbeddingRequest.model_fields)
    assert set(EMBEDDING_IN_KEY) | (set(OUT_OF_KEY) & fields) == fields
    assert not set(EMBEDDING_IN_KEY) & set(OUT_OF_KEY)


def test_an_embedding_key_covers_its_input_and_parameters_only(planner: Planner) -> None:
    def emb(**params: Any) -> EmbeddingRequest:
        return build_embedding_request({"model": "openai/text-embedding-3-small", "input": "hi", **params})

    same = {key(planner, r) for r in (emb(), emb(user="u1", timeout=5.0, metadata={"team": "t"}),
                                      emb(api_key="sk-other-key-0123456789abcdef"))}
    assert len(same) == 1
    others = {key(planner, r) for r in (emb(input=["hi"]), emb(input="ho"), emb(dimensions=8),
                                        emb(encoding_format="base64"))}
    assert len(others) == 4 and not others & same
    assert key(planner, emb()) != key(planner, req(messages=[{"role": "user", "content": "hi"}]))


def test_argument_order_and_mapping_order_do_not_split_entries(planner: Planner) -> None:
    a = build_request({"model": "openai/gpt-4o-mini", "messages": MESSAGES, "temperature": 0.5, "seed": 3,
                       "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"a": 1}}}})
    b = build_request({"seed": 3, "response_format": {"json_schema": {"schema": {"a": 1}, "name": "x"},
                                                      "type": "json_schema"},
                       "temperature": 0.5, "messages": [{"content": m["content"], "role": m["role"]} for m in MESSAGES],
                       "model": "openai/gpt-4o-mini"})
    assert key(planner, a) == key(planner, b)


@pytest.mark.parametrize(("given", "same_as"), [
    ({"n": 1}, {}),
    ({"presence_penalty": 0.0, "frequency_penalty": 0}, {}),
    ({"logprobs": False}, {}),
    ({"stop": "END"}, {"stop": ["END"]}),
    ({"stop": []}, {}),
    ({"tools": []}, {}),
    ({"temperature": 1}, {"temperature": 1.0}),
    ({"stream": True, "stream_options": {"include_usage": True}}, {}),
    ({"timeout": 5.0, "deadline": 9.0, "num_retries": 0, "drop_params": True}, {}),
    ({"api_key": "another-key", "metadata": {"team": "x", "trace": 1}}, {}),
    ({"fallbacks": ["openai/gpt-4o"], "input_cost_per_token": "0.1"}, {}),
    ({"user": "alice", "safety_identifier": "abc"}, {}),
    ({"cache": {"ttl": 5, "no-store": True}}, {}),
    ({"headers": {"Authorization": "Bearer x", "X-Api-Key": "y", "Cookie": "z"}}, {}),
])
def test_spellings_of_the_same_request_share_an_entry(planner: Planner, given: dict[str, Any],
                                                      same_as: dict[str, Any]) -> None:
    assert key(planner, req(**given)) == key(planner, req(**same_as))


def test_a_single_text_part_is_the_string_it_means_and_none_fields_drop(planner: Planner) -> None:
    parts = [{"role": "system", "content": [{"type": "text", "text": "be brief"}], "name": None},
             {"role": "user", "content": "hi"}]
    assert key(planner, build_request({"model": "openai/gpt-4o-mini", "messages": parts})) == key(planner, req())


@pytest.mark.parametrize("changed", [
    {"messages": [{"role": "user", "content": "hi!"}]},
    {"temperature": 0.2}, {"top_p": 0.5}, {"n": 2}, {"stop": ["x"]}, {"max_tokens": 10},
    {"max_completion_tokens": 10}, {"presence_penalty": 0.5}, {"frequency_penalty": 0.5},
    {"logit_bias": {"1": 5.0}}, {"reasoning_effort": "low"}, {"verbosity": "low"},
    {"response_format": {"type": "json_object"}}, {"seed": 1},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
    {"tool_choice": "none"}, {"parallel_tool_calls": False}, {"logprobs": True, "top_logprobs": 2},
    {"service_tier": "flex"}, {"repetition_penalty": 1.1}, {"extra_body": {"top_k": 5}},
    {"headers": {"anthropic-beta": "x"}}, {"deployment_id": "d2"}, {"mock_response": "x"},
    {"initial_prompt_value": "<s>"}, {"bos_token": "<s>"}, {"eos_token": "</s>"}, {"final_prompt_value": "A:"},
    {"hf_model_name": "meta-llama/Llama-2-7b"}, {"modalities": ["text"]}, {"prediction": {"type": "content"}},
    {"web_search_options": {}}, {"router_preference": "efficient"},
])
def test_every_parameter_that_can_change_the_answer_splits_entries(planner: Planner, changed: dict[str, Any]) -> None:
    assert key(planner, req(**changed)) != key(planner, req())


@pytest.mark.parametrize("changed", [{"best_of": 2}, {"echo": True}, {"suffix": "}"}])
def test_legacy_completion_parameters_split_entries(planner: Planner, changed: dict[str, Any]) -> None:
    text = {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "def f():"}
    assert key(planner, build_request({**text, **changed})) != key(planner, build_request(text))


def test_a_text_prompt_and_a_chat_are_different_entries(planner: Planner) -> None:
    text = build_request({"model": "openai/gpt-4o-mini", "prompt": "hi"})
    chat = build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert key(planner, text) != key(planner, chat)


def test_the_resolved_deployment_is_in_the_key_its_credentials_are_not(planner: Planner) -> None:
    base = key(planner, req(), dep(planner))
    assert key(planner, req(), dep(planner, api_key="other-key")) == base
    assert key(planner, req(), dep(planner, headers={"api-key": "zzz"})) == base
    assert key(planner, req(), dep(planner, "openai/gpt-4o")) != base
    assert key(planner, req(), dep(planner, api_base="http://127.0.0.1:9/v1")) != base
    assert key(planner, req(), dep(planner, "anthropic/claude-sonnet-4-5")) != base
    assert key(planner, req(), dep(planner, headers={"OpenAI-Beta": "assistants=v2"})) != base
    template = PromptTemplate.from_params(initial_prompt_value="<s>")
    templated = Deployment(spec=dep(planner).spec, model="gpt-4o-mini", api_base=dep(planner).api_base,
                           api_key=SECRET, options=DeploymentOptions(template=template))
    assert key(planner, req(), templated) != base


def test_namespace_and_user_scope_split_entries_and_the_user_is_not_in_the_clear(planner: Planner) -> None:
    base = key(planner, req())
    assert key(planner, req(), namespace="team-a") != base
    assert key(planner, req(), namespace="team-a").split(":")[2] == "team-a"
    alice = key(planner, req(), user="alice@example.com")
    assert alice != base and alice != key(planner, req(), user="bob")
    assert "alice" not in alice


def test_the_key_never_holds_a_credential(planner: Planner) -> None:
    request = req(api_key=SECRET, headers={"Authorization": f"Bearer {SECRET}"},
                  fallbacks=[{"model": "openai/gpt-4o", "api_key": SECRET}])
    k = key(planner, request, dep(planner, headers={"x-api-key": SECRET}))
    assert SECRET not in k and "SECRET" not in k


@pytest.mark.parametrize("name", ["X-Session-Id", "x-passwd", "X-Request-Signature", "X-Api-Key", "Cookie"])
def test_every_header_routerlib_takes_for_a_credential_stays_out_of_the_key(planner: Planner, name: str) -> None:
    """One rule for what a credential header is: the one ``Deployment.secrets`` (and redaction) use, so a
    session header is neither hashed into keys nor left out of the echo check (before, the key had its own
    list without "session" and "passw")."""
    base = key(planner, req(), dep(planner))
    assert key(planner, req(), dep(planner, headers={name: "value-0123456789"})) == base
    assert key(planner, req(headers={name: "value-0123456789"})) == base


def test_the_key_carries_the_format_and_routerlib_version(planner: Planner, monkeypatch: pytest.MonkeyPatch) -> None:
    k = key(planner, req())
    assert k.startswith(f"v{FORMAT_VERSION}:{routerlib.__version__}:default:")
    monkeypatch.setattr(routerlib, "__version__", "9.9.9")
    key_prefix.cache_clear()  # read once per process: an installed version does not change under it
    try:
        assert key(planner, req()).startswith(f"v{FORMAT_VERSION}:9.9.9:") and key(planner, req()) != k
    finally:
        key_prefix.cache_clear()


def test_a_value_with_no_canonical_form_makes_the_call_uncacheable() -> None:
    # Validation refuses these first; the key holds even for a request that skipped it.
    for value in (float("nan"), object()):
        assert fingerprint(req().model_copy(update={"extra_body": {"x": value}})) is None
    assert fingerprint(req(extra_body={"x": {1: "y", "z": 2}})) is None  # keys that cannot be sorted
    # An integer key is sent as its text, so it is the same request as the text key.
    assert fingerprint(req(extra_body={"x": {1: "y"}})) == fingerprint(req(extra_body={"x": {"1": "y"}}))


def test_user_scope_prefers_metadata_then_the_openai_user() -> None:
    assert user_scope(req(metadata={"user": "alice"}, user="bob")) == "alice"
    assert user_scope(req(user="bob")) == "bob"
    assert user_scope(req()) is None


def test_the_key_is_the_same_in_another_process() -> None:
    """String hashing is salted per process: nothing in the key may depend on a set's order."""
    import os
    import subprocess
    import sys

    code = ("from routerlib._request import build_request; from routerlib.cache.keys import fingerprint; "
            "print(fingerprint(build_request({'model': 'openai/gpt-4o-mini', 'messages': "
            "[{'role': 'user', 'content': 'hi'}], 'temperature': 0.5, 'seed': 3, 'max_tokens': 9, 'n': 2, "
            "'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {'b': 1, 'a': 2}}}]})))")
    request = req(temperature=0.5, seed=3, max_tokens=9, n=2,
                  tools=[{"type": "function", "function": {"name": "f", "parameters": {"a": 2, "b": 1}}}])
    request = build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                             **{k: getattr(request, k) for k in ("temperature", "seed", "max_tokens", "n", "tools")}})
    here = fingerprint(request)
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert out.stdout.strip() == here


def test_a_group_scope_is_its_name_and_deployments_without_their_keys(planner: Planner) -> None:
    h = request_hash(req())
    assert h is not None
    east = dep(planner, api_base="https://east.example/v1")
    west = dep(planner, api_base="https://west.example/v1", api_key="sk-other-key-0123456789abcdef")
    west_same = dep(planner, api_base="https://west.example/v1")  # another key: the same deployment part
    scope = group_scope("chat", [east, west])
    assert scope is not None and scope == group_scope("chat", [west_same, east, east])  # order, repeats, keys
    assert SECRET.encode() not in scope and b"sk-other" not in scope
    keyed = {make_key(h, d, "default", None, scope) for d in (east, west)}
    assert len(keyed) == 1  # either deployment answers the group under one key
    assert keyed.isdisjoint({make_key(h, east, "default"), make_key(h, west, "default")})
    others = [group_scope("other", [east, west]),  # another group
              group_scope("chat", [east]),  # a call whose tags exclude west
              group_scope("chat", [east, dep(planner, api_base="https://elsewhere.example/v1")]),  # another server
              group_scope("chat", [east, dep(planner, "openai/gpt-4o")]),  # another model
              group_scope("chat", [east, dep(planner, api_base="https://west.example/v1",
                                             headers={"x-filter": "strict"})])]  # another non-secret header
    assert all(make_key(h, east, "default", None, other) not in keyed for other in others)
    odd = Deployment(spec=east.spec, model="gpt-4o-mini", api_base=east.api_base, api_key=SECRET,
                     options=DeploymentOptions(template=object()))  # a template with no canonical form
    assert make_key(h, odd, "default") is None and group_scope("chat", [east, odd]) is None
