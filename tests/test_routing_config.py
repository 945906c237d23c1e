"""routing.config: LiteLLM's model_list and routerlib's RouterDeployment, every mistake refused up front."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from routerlib.exceptions import RouterConfigError
from routerlib.providers.base import DeploymentOptions
from routerlib.routing.config import (
    RouterDeployment,
    check_strategy,
    parse_aliases,
    parse_fallbacks,
    parse_model_list,
    shuffle_weights,
)
from routerlib.routing.plan import Names

ENV = {"AZURE_KEY": "sk-from-env-123456"}


def entry(**params: Any) -> dict[str, Any]:
    info = params.pop("model_info", None)
    out: dict[str, Any] = {"model_name": "chat", "litellm_params": {"model": "openai/gpt-4o-mini", **params}}
    if info is not None:
        out["model_info"] = info
    return out


def test_litellm_format_unchanged() -> None:
    [m] = parse_model_list([{
        "model_name": "chat",
        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": "http://h/v1", "api_key": "os.environ/AZURE_KEY",
                           "api_version": "2024-06-01", "rpm": 100, "tpm": 100000, "weight": 2, "timeout": 30,
                           "max_parallel_requests": 10, "tags": ["eu"], "input_cost_per_token": 1e-7,
                           "output_cost_per_token": "0.0000004", "organization": "org-1"},
        "model_info": {"id": "eu-mini", "max_input_tokens": 128000, "max_output_tokens": 4096, "quality": 71.5},
    }], ENV)
    assert (m.group, m.model, m.id, m.where) == ("chat", "openai/gpt-4o-mini", "eu-mini", "model_list[0]")
    assert m.entry == {"api_base": "http://h/v1", "api_key": "sk-from-env-123456", "api_version": "2024-06-01",
                       "headers": {"OpenAI-Organization": "org-1"}}
    o = m.options
    assert (o.weight, o.rpm, o.tpm, o.timeout, o.max_parallel_requests, o.tags) == (2.0, 100, 100000, 30.0, 10, ("eu",))
    assert (o.quality, o.max_input_tokens, o.max_output_tokens) == (71.5, 128000, 4096)
    assert o.prices is not None
    assert o.prices.input_cost_per_token == Decimal("1E-7")
    assert o.prices.output_cost_per_token == Decimal("0.0000004")


def test_typed_deployments() -> None:
    options = DeploymentOptions(weight=3, tags=("eu",))
    [m] = parse_model_list([RouterDeployment("chat", "openai/gpt-4o", id="x", api_base="http://h/v1",
                                             api_key="sk-1", options=options)], {})
    assert (m.group, m.model, m.id, m.options) == ("chat", "openai/gpt-4o", "x", options)
    assert m.entry == {"api_base": "http://h/v1", "api_key": "sk-1"}
    assert "sk-1" not in repr(RouterDeployment("chat", "openai/gpt-4o", api_key="sk-1"))


def test_model_info_prices_and_max_tokens_alias() -> None:
    [m] = parse_model_list([entry(model_info={"input_cost_per_token": 1e-6, "max_tokens": 100})], {})
    assert m.options.prices is not None and m.options.prices.input_cost_per_token == Decimal("0.000001")
    assert m.options.max_output_tokens == 100


@pytest.mark.parametrize(("bad", "message"), [
    ("not a list", "model_list must be a list"),
    ([], "model_list is empty"),
    ([42], r"model_list\[0\]: a deployment is a dict"),
    ([{"model_name": "chat"}], r"litellm_params: required"),
    ([{"litellm_params": {"model": "openai/x"}}], r"model_name: required"),
    ([entry(model="")], r"litellm_params.model: required"),
    ([{"model_name": "chat", "litellm_params": {"model": "openai/x"}, "extra": 1}], "unknown key 'extra'"),
    ([entry(rpn=5)], "unknown key 'rpn'; did you mean 'rpm'"),
    ([entry(max_retries=3)], "retries are the Router's: pass num_retries="),
    ([entry(stream_timeout=3)], "one per-attempt timeout"),
    ([entry(model_info={"ids": "x"})], r"model_info: key 'ids': did you mean 'id'"),
    ([entry(weight=-1)], r"litellm_params.weight=-1: must be >= 0"),
    ([entry(weight="2")], "weight='2': must be a finite number"),
    ([entry(rpm=0)], "rpm=0: must be a whole number >= 1"),
    ([entry(tpm=1.5)], "tpm=1.5: must be a whole number >= 1"),
    ([entry(max_parallel_requests=True)], "max_parallel_requests=True: must be a whole number"),
    ([entry(timeout=0)], "timeout=0: must be a finite number of seconds > 0"),
    ([entry(tags="eu")], "tags='eu': must be a list of non-empty strings"),
    ([entry(input_cost_per_token=-1)], "input_cost_per_token=-1: must be a price >= 0"),
    ([entry(input_cost_per_token="abc")], "must be a price"),
    ([entry(api_key="os.environ/MISSING_KEY")], "names the environment variable MISSING_KEY, which is not set"),
    ([entry(model_info={"id": 5})], "model_info.id=5: must be a string"),
    ([entry(model_info={"max_input_tokens": -3})], "max_input_tokens=-3"),
    ([entry(input_cost_per_token=1e-6, model_info={"input_cost_per_token": 2e-6})], "given twice"),
])
def test_mistakes_are_refused_saying_where_and_what_is_allowed(bad: Any, message: str) -> None:
    with pytest.raises(RouterConfigError, match=message):
        parse_model_list(bad, ENV)


def test_a_key_never_appears_in_an_error() -> None:
    with pytest.raises(RouterConfigError) as caught:
        parse_model_list([entry(api_key="sk-SECRET-0123456789", rpm=-1)], {})
    assert "sk-SECRET" not in str(caught.value)


def test_shuffle_weights_basis_is_weight_then_rpm_then_tpm_then_equal() -> None:
    assert shuffle_weights([DeploymentOptions(weight=1), DeploymentOptions(weight=3, rpm=100)]) == [1.0, 3.0]
    assert shuffle_weights([DeploymentOptions(rpm=10), DeploymentOptions(rpm=30)]) == [10.0, 30.0]
    assert shuffle_weights([DeploymentOptions(tpm=10), DeploymentOptions()]) == [10.0, 10.0]  # mean for the unset
    assert shuffle_weights([DeploymentOptions(), DeploymentOptions()]) == [1.0, 1.0]


def names(*groups: str, aliases: dict[str, str] | None = None, why: str | None = None) -> Names:
    return Names(groups or ("chat", "backup"), aliases or {}, lambda name: why)


def test_fallbacks_litellm_shape_and_checks() -> None:
    ok = parse_fallbacks("fallbacks", [{"chat": ["backup", "openai/gpt-4o"]}, {"*": "backup"}], names())
    assert ok == {"chat": ("backup", "openai/gpt-4o"), "*": ("backup",)}
    assert parse_fallbacks("fallbacks", {"chat": ["backup"]}, names()) == {"chat": ("backup",)}
    assert parse_fallbacks("fallbacks", None, names("chat")) == {}


def test_fallbacks_resolve_aliases_as_model_does() -> None:
    """An alias that is also a real model name ("gpt-4") means its group, not that model."""
    aliased = names("chat", "backup", aliases={"gpt-4": "backup", "main": "chat"})
    assert parse_fallbacks("fallbacks", [{"chat": ["gpt-4"]}], aliased) == {"chat": ("backup",)}
    assert parse_fallbacks("context_window_fallbacks", [{"main": ["gpt-4"]}], aliased) == {"chat": ("backup",)}
    with pytest.raises(RouterConfigError, match="falls back to itself"):
        parse_fallbacks("fallbacks", [{"chat": ["main"]}], aliased)
    with pytest.raises(RouterConfigError, match="'main' is given twice"):
        parse_fallbacks("fallbacks", [{"chat": ["backup"]}, {"main": ["gpt-4"]}], aliased)
    strict = Names(("chat", "backup"), {"my-backup": "backup"}, lambda name: "cannot tell the provider")
    with pytest.raises(RouterConfigError, match=r"'my-bakup' names no group or alias .*did you mean 'my-backup'.*"
                                                r"aliases: my-backup -> backup"):
        parse_fallbacks("fallbacks", [{"chat": ["my-bakup"]}], strict)


@pytest.mark.parametrize(("value", "message"), [
    ([{"nope": ["chat"]}], "'nope' is not a group of model_list"),
    ([{"chat": ["missing"]}], "'chat' -> 'missing' names no group or alias .* unknown model"),
    ([{"chat": ["chat"]}], "falls back to itself"),
    ([{"chat": ["backup"]}, {"chat": ["other"]}], "'chat' is given twice"),
    (["chat"], r"fallbacks\[0\]: each entry is a dict"),
    ("chat", "a list of"),
    ([{"chat": [1]}], "must be a list of group or model names"),
])
def test_bad_fallbacks(value: Any, message: str) -> None:
    with pytest.raises(RouterConfigError, match=message):
        parse_fallbacks("fallbacks", value, names(why="unknown model"))


def test_aliases() -> None:
    assert parse_aliases({"gpt-4": "chat", "fast": {"model": "chat", "hidden": True}}, ["chat"]) == {
        "gpt-4": "chat", "fast": "chat"}
    with pytest.raises(RouterConfigError, match="the target must be a group"):
        parse_aliases({"gpt-4": "nothing"}, ["chat"])
    with pytest.raises(RouterConfigError, match="already a group name"):
        parse_aliases({"chat": "chat"}, ["chat"])


def test_strategy_names_are_litellms() -> None:
    for name in ("simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing",
                 "usage-based-routing", "usage-based-routing-v2"):
        assert check_strategy(name) == name
    with pytest.raises(RouterConfigError, match="did you mean 'least-busy'"):
        check_strategy("least-busey")


# -- LiteLLM's litellm_params and model_info beyond routerlib's own keys

def test_custom_llm_provider_becomes_the_provider_prefix() -> None:
    [plain, doubled] = parse_model_list([entry(model="gpt-4o-mini", custom_llm_provider="openai"),
                                         entry(model="openai/gpt-4o-mini", custom_llm_provider="openai")], {})
    assert (plain.model, plain.provider) == ("openai/gpt-4o-mini", "openai")
    assert doubled.model == "openai/gpt-4o-mini"  # not doubled, as LiteLLM reads it
    with pytest.raises(RouterConfigError, match=r"custom_llm_provider='a/b': must be a provider name"):
        parse_model_list([entry(model="x", custom_llm_provider="a/b")], {})


@pytest.mark.parametrize("key", ["temperature", "max_tokens", "top_p", "mock_response", "drop_params"])
def test_a_call_parameter_in_litellm_params_is_refused_not_dropped(key: str) -> None:
    with pytest.raises(RouterConfigError, match=rf"unknown key '{key}'; {key} is a call parameter: LiteLLM sends "
                                                rf"it with every call .* pass {key}= with each call"):
        parse_model_list([entry(**{key: 1})], {})
    with pytest.raises(RouterConfigError, match=r"unknown key 'temprature'; did you mean 'temperature'\? \(a call "
                                                r"parameter: pass it with each call"):
        parse_model_list([entry(temprature=0.2)], {})  # a typo of a call parameter is still unknown


def test_model_info_is_informational_beyond_the_keys_routerlib_reads() -> None:
    info = {"id": "x", "mode": "chat", "base_model": "gpt-4o", "supports_vision": True, "db_model": False,
            "input_cost_per_image": 1e-3, "my_team_note": "anything"}
    [m] = parse_model_list([entry(model_info=info)], {})
    assert (m.id, m.base_model) == ("x", "gpt-4o")
    for near_miss, meant in (("max_input_token", "max_input_tokens"), ("qualty", "quality"), ("ids", "id")):
        with pytest.raises(RouterConfigError, match=f"key '{near_miss}': did you mean '{meant}'"):
            parse_model_list([entry(model_info={near_miss: 1})], {})
    with pytest.raises(RouterConfigError, match="routerlib reads rpm from litellm_params"):
        parse_model_list([entry(model_info={"rpm": 10})], {})
    with pytest.raises(RouterConfigError, match="base_model=5: must be a model name"):
        parse_model_list([entry(model_info={"base_model": 5})], {})


def test_an_empty_string_of_tags_is_refused() -> None:
    with pytest.raises(RouterConfigError, match="tags='': must be a list"):
        parse_model_list([entry(tags="")], {})


def test_default_max_parallel_requests_fills_only_the_unset() -> None:
    own, unset = parse_model_list([entry(max_parallel_requests=2), entry()], {}, max_parallel=7)
    assert (own.options.max_parallel_requests, unset.options.max_parallel_requests) == (2, 7)
