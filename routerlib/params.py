"""The keyword parameters of ``completion()`` and friends (and of ``embedding()``), as TypedDicts for type checkers.

``completion(model, messages, **params: Unpack[CompletionParams])`` gives editors and mypy
every parameter by name and type, while routerlib validates the values at run time in one
place (``_request.build_request``). A test keeps this list and the validated request in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel
from typing_extensions import TypedDict

from .policy import RetryPolicy

__all__ = [
    "CompletionParams",
    "EmbeddingParams",
]

Price = Decimal | float | int | str


class CompletionParams(TypedDict, total=False):
    """Every keyword ``completion`` takes besides ``model`` and ``messages`` (all optional)."""

    # -- OpenAI chat parameters, sent to the provider
    temperature: float
    top_p: float
    n: int
    stream: bool
    stream_options: Mapping[str, Any]
    stop: str | Sequence[str]
    max_completion_tokens: int
    max_tokens: int
    modalities: Sequence[Literal["text", "audio"]]
    prediction: Mapping[str, Any]
    audio: Mapping[str, Any]
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str, float]
    user: str
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"]
    verbosity: Literal["low", "medium", "high"]
    response_format: Mapping[str, Any] | type[BaseModel]
    seed: int
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    parallel_tool_calls: bool
    logprobs: bool | int  # an integer 0..5 only for text_completion
    top_logprobs: int
    web_search_options: Mapping[str, Any]
    safety_identifier: str
    service_tier: str
    functions: Sequence[Mapping[str, Any]]  # deprecated: mapped to tools
    function_call: str | Mapping[str, Any]  # deprecated: mapped to tool_choice
    repetition_penalty: float
    router_preference: Literal["balanced", "powerful", "efficient"]
    echo: bool  # text_completion only
    best_of: int  # text_completion only
    suffix: str  # text_completion only
    # -- connection
    timeout: float
    request_timeout: float  # alias of timeout (LiteLLM's name)
    custom_llm_provider: str  # LiteLLM's: the provider prefix of model, given apart
    deadline: float
    deployment_id: str
    api_base: str
    base_url: str  # alias of api_base
    api_version: str
    api_key: str
    azure_ad_token: str  # Azure OpenAI: a Microsoft Entra ID token, used when there is no key
    model_list: Sequence[Mapping[str, Any]]
    headers: Mapping[str, str]
    extra_headers: Mapping[str, str]  # merged into headers
    metadata: Mapping[str, Any]
    extra_body: Mapping[str, Any]
    drop_params: bool
    # -- reliability
    num_retries: int
    max_retries: int  # alias of num_retries
    policy: RetryPolicy  # this call's retry/fallback policy (else the client's)
    fallbacks: Sequence[str | Mapping[str, Any]]
    context_window_fallback_dict: Mapping[str, str]
    # -- cost
    input_cost_per_token: Price
    output_cost_per_token: Price
    input_cost_per_second: Price
    output_cost_per_second: Price
    # -- prompt templates (raw-prompt providers)
    initial_prompt_value: str
    roles: Mapping[str, Mapping[str, str]]
    final_prompt_value: str
    bos_token: str
    eos_token: str
    hf_model_name: str
    # -- response cache: {"no-cache": bool, "no-store": bool, "ttl": s, "s-maxage": s, "namespace": str}
    cache: Mapping[str, Any]
    # -- testing
    mock_response: str | Exception  # the answer's text, or a failure (an exception, "litellm.RateLimitError")
    mock_tool_calls: Sequence[Mapping[str, Any]]  # tool calls the mocked answer carries
    mock_testing_fallbacks: bool  # the primary fails (a mocked 500), so the fallbacks run


class EmbeddingParams(TypedDict, total=False):
    """Every keyword ``embedding`` takes besides ``model`` and ``input`` (all optional)."""

    # -- OpenAI embedding parameters, sent to the provider
    dimensions: int
    encoding_format: Literal["float", "base64"]
    user: str
    # -- connection
    timeout: float
    request_timeout: float  # alias of timeout (LiteLLM's name)
    custom_llm_provider: str  # LiteLLM's: the provider prefix of model, given apart
    deadline: float
    deployment_id: str
    api_base: str
    base_url: str  # alias of api_base
    api_version: str
    api_key: str
    azure_ad_token: str
    model_list: Sequence[Mapping[str, Any]]
    headers: Mapping[str, str]
    extra_headers: Mapping[str, str]  # merged into headers
    metadata: Mapping[str, Any]
    extra_body: Mapping[str, Any]  # Gemini: taskType, title (into each request)
    drop_params: bool
    # -- reliability
    num_retries: int
    max_retries: int  # alias of num_retries
    policy: RetryPolicy
    fallbacks: Sequence[str | Mapping[str, Any]]
    context_window_fallback_dict: Mapping[str, str]
    # -- cost
    input_cost_per_token: Price
    output_cost_per_token: Price
    input_cost_per_second: Price
    output_cost_per_second: Price
    # -- response cache: {"no-cache": bool, "no-store": bool, "ttl": s, "s-maxage": s, "namespace": str}
    cache: Mapping[str, Any]
    # -- testing
    mock_response: Sequence[float] | str | Exception  # the vector each input gets, or a failure
    mock_testing_fallbacks: bool
