"""Planning: model strings to providers, targets in order, inheritance, context-window checks."""

from __future__ import annotations

import pytest

import routerlib
from routerlib._request import build_request
from routerlib.cost.model_map import ModelMap
from routerlib.planning import Planner, targets_for
from routerlib.providers import ProviderRegistry


@pytest.fixture
def planner() -> Planner:
    return Planner(ProviderRegistry.with_builtins(), ModelMap.default(), environ={})


def request(**params: object) -> routerlib._request.ChatRequest:
    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                          **params})


def test_provider_prefix_bare_names_and_api_base(planner: Planner) -> None:
    assert planner.split("anthropic/claude-sonnet-4-5", has_api_base=False) == ("anthropic", "claude-sonnet-4-5")
    assert planner.split("gpt-4o-mini", has_api_base=False) == ("openai", "gpt-4o-mini")
    assert planner.split("meta-llama/Llama-3-8B", has_api_base=True) == ("openai", "meta-llama/Llama-3-8B")
    assert planner.split("openrouter/anthropic/claude-3", has_api_base=False) == ("openrouter", "anthropic/claude-3")


def test_a_misspelt_provider_is_reported_not_sent_as_openai(planner: Planner) -> None:
    with pytest.raises(routerlib.InvalidRequestError, match="did you mean anthropic"):
        planner.split("anthropc/claude-sonnet-4-5", has_api_base=True)


def test_unknown_bare_name_without_api_base_names_the_options(planner: Planner) -> None:
    with pytest.raises(routerlib.InvalidRequestError, match="provider/model"):
        planner.split("my-private-model", has_api_base=False)


def test_targets_keep_the_callers_order() -> None:
    targets = targets_for(request(fallbacks=["openai/gpt-4o", {"model": "anthropic/claude-sonnet-4-5"}]))
    assert [(t.model, t.kind) for t in targets] == [
        ("openai/gpt-4o-mini", "primary"), ("openai/gpt-4o", "fallback"), ("anthropic/claude-sonnet-4-5", "fallback")]


def test_model_list_in_litellm_shape_selects_entries_for_the_model() -> None:
    targets = targets_for(request(model_list=[
        {"model_name": "openai/gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": "http://a"}},
        {"model_name": "other", "litellm_params": {"model": "openai/x", "api_base": "http://b"}},
    ]))
    assert [(t.model, t.entry.get("api_base")) for t in targets] == [("openai/gpt-4o-mini", "http://a")]


def test_bad_fallback_entries_are_refused() -> None:
    with pytest.raises(routerlib.InvalidRequestError, match="unknown keys"):
        targets_for(request(fallbacks=[{"model": "openai/gpt-4o", "api_bsae": "http://x"}]))
    with pytest.raises(routerlib.InvalidRequestError, match="'model' string"):
        targets_for(request(fallbacks=[{"api_base": "http://x"}]))


def test_missing_key_names_the_environment_variable() -> None:
    planner = Planner(ProviderRegistry.with_builtins(), environ={})
    target = targets_for(request())[0]
    with pytest.raises(routerlib.MissingAPIKeyError, match="OPENAI_API_KEY"):
        planner.resolve(target, request(), None)


def test_key_comes_from_the_given_environment() -> None:
    planner = Planner(ProviderRegistry.with_builtins(), environ={"OPENAI_API_KEY": "from-env"})
    deployment = planner.resolve(targets_for(request())[0], request(), None)
    assert deployment.api_key == "from-env"
    assert "from-env" not in repr(deployment)


def test_entry_errors_never_show_a_key() -> None:
    with pytest.raises(routerlib.InvalidRequestError) as info:
        targets_for(request(fallbacks=[{"api_key": "sk-SECRET-1"}]))
    assert "sk-SECRET-1" not in str(info.value) and "<hidden>" in str(info.value)


def test_a_misspelt_fallback_is_refused_before_anything_is_sent() -> None:
    from routerlib.transport import MockTransport

    transport = MockTransport(lambda request: pytest.fail("nothing may be sent"))  # type: ignore[arg-type,return-value]
    client = routerlib.Client(environ={}, transport=transport)
    with pytest.raises(routerlib.InvalidRequestError, match="did you mean openai/gpt-4o"):
        client.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], api_key="k",
                          fallbacks=["opnai/gpt-4o"])
    with pytest.raises(routerlib.InvalidRequestError, match=r"fallback 'azure/prod'.*AZURE_API_BASE"):
        client.completion("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}], api_key="k",
                          fallbacks=[{"model": "azure/prod", "api_key": "k"}])
    assert transport.requests == []


def test_an_embedding_to_a_raw_prompt_server_selects_no_prompt_template(planner: Planner) -> None:
    from routerlib._embedding import build_embedding_request

    embedding = build_embedding_request({"model": "text-completion-openai/my-model", "input": "x",
                                         "api_base": "http://127.0.0.1:9/v1"})
    deployment = planner.resolve(targets_for(embedding)[0], embedding, None)
    assert deployment.options.template is None and deployment.model == "my-model"


@pytest.mark.parametrize("params", [{"mock_response": "hi"}, {"mock_tool_calls": [{"function": {"name": "f"}}]},
                                    {"mock_testing_fallbacks": True, "mock_response": None}])
def test_a_mocked_primary_needs_no_key(planner: Planner, params: dict[str, object]) -> None:
    mocked = request(**params)
    assert planner.resolve(targets_for(mocked)[0], mocked, None).api_key is None


def test_a_real_fallback_of_mock_testing_fallbacks_still_needs_its_key(planner: Planner) -> None:
    mocked = request(mock_testing_fallbacks=True, fallbacks=["openai/gpt-4o"])
    primary, fallback = targets_for(mocked)
    deployment = planner.resolve(primary, mocked, None)
    with pytest.raises(routerlib.MissingAPIKeyError):
        planner.resolve(fallback, mocked, deployment)
