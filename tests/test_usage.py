"""routerlib._usage: a provider's usage is checked as it is parsed, and bounded by what the call could use."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from routerlib._request import build_request
from routerlib._usage import USAGE_TOKEN_LIMIT, bound_usage, count, usage_problem
from routerlib.cost.model_map import ModelMap
from routerlib.exceptions import UsageWarning
from routerlib.providers._wire import validated
from routerlib.types import ChatCompletionChunk, ModelResponse, TextCompletion, Usage

BODY: dict[str, Any] = {"id": "x", "created": 1, "model": "m",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}


def parsed(usage: Any, cls: type[Any] = ModelResponse) -> Any:
    body = dict(BODY) if cls is ModelResponse else (
        {**BODY, "choices": [{"index": 0, "text": "hi"}]} if cls is TextCompletion else {**BODY, "choices": []})
    return cls.model_validate({**body, "usage": usage})


@pytest.mark.parametrize("usage", [
    {"prompt_tokens": -1, "completion_tokens": 3, "total_tokens": 2},
    {"prompt_tokens": 1, "completion_tokens": 10**30, "total_tokens": 1},
    {"prompt_tokens": 1, "completion_tokens": 2.5, "total_tokens": 3},
    {"prompt_tokens": "many", "completion_tokens": 2, "total_tokens": 3},
    {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": USAGE_TOKEN_LIMIT + 1},
    {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "prompt_tokens_details": {"cached_tokens": -4}},
    {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
     "completion_tokens_details": {"reasoning_tokens": 10**12}},
    ["not", "a", "dict"],
    "100",
])
@pytest.mark.parametrize("cls", [ModelResponse, ChatCompletionChunk, TextCompletion])
def test_implausible_usage_is_dropped_with_a_warning(usage: Any, cls: type[Any]) -> None:
    with pytest.warns(UsageWarning, match="implausible usage"):
        assert parsed(usage, cls).usage is None


def test_plausible_usage_is_kept_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UsageWarning)
        usage = parsed({"prompt_tokens": 10, "completion_tokens": 20.0, "total_tokens": "30",
                        "prompt_tokens_details": {"cached_tokens": 4}}).usage
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 20, 30)
        assert parsed(None).usage is None
        assert parsed({"prompt_tokens": USAGE_TOKEN_LIMIT}).usage.prompt_tokens == USAGE_TOKEN_LIMIT


def test_a_loose_count_survives_the_strict_pass_of_native_adapters() -> None:
    # validated() tries strict first: 20.0 for 20 must not make the usage vanish there.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UsageWarning)
        response = validated(ModelResponse, {**BODY, "usage": {"prompt_tokens": 20.0, "completion_tokens": 1,
                                                               "total_tokens": 21}}, provider="p", model="m")
    assert response.usage is not None and response.usage.prompt_tokens == 20


def test_count() -> None:
    assert count(5) == 5 and count(5.0) == 5
    assert count(5.5) is None and count("5") is None and count(True) is None and count(None) is None


def test_usage_problem_names_the_count() -> None:
    assert usage_problem(Usage(prompt_tokens=1, completion_tokens=-2)) == (
        "completion_tokens=-2: counts are integers from 0 to 1,000,000,000")
    assert usage_problem(Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)) is None


# -- bound_usage: what the call could have read and generated

def request(**params: Any) -> Any:
    return build_request({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **params})


INFO = ModelMap.default().get("gpt-4o-mini", "openai")


def test_completion_far_beyond_max_tokens_is_cut_to_it() -> None:
    usage = Usage(prompt_tokens=9, completion_tokens=5_000, total_tokens=5_009,
                  completion_tokens_details={"reasoning_tokens": 4_000})
    with pytest.warns(UsageWarning, match="completion_tokens=5,000 for at most 2 x 100"):
        bounded = bound_usage(usage, request(max_tokens=100, n=2), INFO)
    assert (bounded.prompt_tokens, bounded.completion_tokens, bounded.total_tokens) == (9, 200, 209)
    assert bounded.estimated and bounded.reasoning_tokens == 200


def test_a_little_over_the_cap_is_trusted() -> None:
    usage = Usage(prompt_tokens=9, completion_tokens=1_000, total_tokens=1_009)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UsageWarning)
        assert bound_usage(usage, request(max_tokens=100), INFO) is usage  # 2 x 100 + 1,024 slack
        assert bound_usage(usage, request(), None) is usage, "nothing known: nothing to bound by"


def test_the_model_limits_bound_when_the_call_gives_none() -> None:
    assert INFO is not None and INFO.max_output_tokens and INFO.max_input_tokens
    usage = Usage(prompt_tokens=10 * INFO.max_input_tokens, completion_tokens=10 * INFO.max_output_tokens,
                  prompt_tokens_details={"cached_tokens": 10 * INFO.max_input_tokens})
    with pytest.warns(UsageWarning, match="context window"):
        bounded = bound_usage(usage, request(), INFO)
    assert bounded.prompt_tokens == INFO.max_input_tokens and bounded.completion_tokens == INFO.max_output_tokens
    assert bounded.cached_tokens == INFO.max_input_tokens


def test_a_batch_of_prompts_multiplies_the_bounds() -> None:
    batch = build_request({"model": "text-completion-openai/x", "prompt": ("a", "b", "c"), "max_tokens": 10})
    usage = Usage(prompt_tokens=5, completion_tokens=30, total_tokens=35)
    assert bound_usage(usage, batch, None) is usage


def test_an_embeddings_inputs_each_get_the_models_input_limit() -> None:
    from routerlib._embedding import build_embedding_request

    info = ModelMap.default().get("text-embedding-3-small", "openai")
    assert info is not None and info.max_input_tokens == 8191
    three = build_embedding_request({"model": "openai/text-embedding-3-small", "input": ["a", "b", "c"]})
    usage = Usage(prompt_tokens=3 * 8191, total_tokens=3 * 8191)  # every input at its limit: believable
    with warnings.catch_warnings():
        warnings.simplefilter("error", UsageWarning)
        assert bound_usage(usage, three, info) is usage
    absurd = Usage(prompt_tokens=10**8, total_tokens=10**8)
    with pytest.warns(UsageWarning, match="context window"):
        bounded = bound_usage(absurd, three, info)
    assert bounded.prompt_tokens == 3 * 8191 and bounded.completion_tokens == 0 and bounded.estimated
