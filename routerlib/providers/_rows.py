"""OpenAI-compatible providers as rows of data.

Each row: name, base URL, the environment variable(s) holding the key, parameters the
provider does not take (``unsupported``: refused, or dropped with drop_params=True) or spells
differently (``renamed``), the auth style, the model-map prefix of its prices, and quirks,
each with a one-line reason citing the provider's documentation. Rows that need behaviour
beyond data set ``options`` read by ``_quirks.QuirksAdapter`` (see its docstring).

``unsupported`` lists what the provider's own docs say it rejects or does not list; where a
provider's docs are silent, a parameter is passed through (the provider decides). The
uncertain cases are marked "unsure" in the quirks.
"""

from __future__ import annotations

from typing import Any

from ._quirks import QuirksAdapter

#: OpenAI-only features (audio out, predicted outputs, verbosity, web search, safety ids, tiers).
OPENAI_ONLY = ("audio", "modalities", "prediction", "verbosity", "web_search_options",
               "safety_identifier", "service_tier")
#: vLLM's sampling extension and WiseRouter's routing switch: not OpenAI parameters.
NON_OPENAI = ("repetition_penalty", "router_preference")
#: Log-probability parameters, absent from several gateways.
LOGPROBS = ("logprobs", "top_logprobs")

_QUIRKS = QuirksAdapter()

_OPENAI_ROWS: list[dict[str, Any]] = [
    {
        "name": "openai",
        "api_base": "https://api.openai.com/v1",
        "api_key_env": ("OPENAI_API_KEY",),
        "api_base_env": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        "unsupported": NON_OPENAI,
        "price_prefix": "openai",
        "quirks": {
            "base_url_env": "github.com/openai/openai-python README: the client's base_url defaults to "
                            "OPENAI_BASE_URL; LiteLLM also reads OPENAI_API_BASE (after it)",
        },
    },
    {
        "name": "openrouter",
        "api_base": "https://openrouter.ai/api/v1",
        "api_key_env": ("OPENROUTER_API_KEY", "OR_API_KEY"),
        "unsupported": ("router_preference",),
        "price_prefix": "openrouter",
        "quirks": {
            "passes_unknown_params": "openrouter.ai/docs/api-reference/parameters: 'you may send any "
                                     "parameters ... as well as others'; repetition_penalty, top_k "
                                     "(extra_body) are forwarded to the upstream provider",
            "attribution_headers": "openrouter.ai/docs: HTTP-Referer and X-Title are optional app "
                                   "attribution; pass them with headers= (not sent by default)",
        },
    },
    {
        "name": "together_ai",
        "api_base": "https://api.together.xyz/v1",
        "api_key_env": ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY"),
        "unsupported": (*OPENAI_ONLY, "router_preference"),
        "price_prefix": "together_ai",
        "quirks": {
            "repetition_penalty": "docs.together.ai chat completions: repetition_penalty, top_k, min_p "
                                  "are accepted (top_k/min_p via extra_body)",
            "logprobs_integer": "docs.together.ai: logprobs is documented as an integer count; "
                                "OpenAI's boolean form is sent as is (unsure whether true is accepted)",
        },
    },
    {
        "name": "groq",
        "api_base": "https://api.groq.com/openai/v1",
        "api_key_env": ("GROQ_API_KEY",),
        "unsupported": (*LOGPROBS, "logit_bias", "audio", "modalities", "prediction", "verbosity",
                        "web_search_options", "safety_identifier", *NON_OPENAI),
        "price_prefix": "groq",
        "options": {"param_values": {"n": (1,)}, "unsupported_message_fields": ("name",)},
        "quirks": {
            "no_logprobs_logit_bias": "console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs "
                                      "'will result in a 400 error'",
            "n_must_be_1": "console.groq.com/docs/openai: 'If N is supplied, it must be equal to 1'",
            "no_message_name": "console.groq.com/docs/openai: messages[].name is not supported (400)",
            "temperature_zero": "console.groq.com/docs/openai: temperature 0 is converted to 1e-8 "
                                "server-side (nothing to do here)",
        },
    },
    {
        "name": "deepseek",
        "api_base": "https://api.deepseek.com",
        "api_key_env": ("DEEPSEEK_API_KEY",),
        "unsupported": ("n", "seed", "logit_bias", "parallel_tool_calls", *OPENAI_ONLY, *NON_OPENAI),
        "renamed": {"max_completion_tokens": "max_tokens"},
        "price_prefix": "deepseek",
        "quirks": {
            "params": "api-docs.deepseek.com create-chat-completion lists no n, seed, logit_bias or "
                      "parallel_tool_calls (unsure whether they are rejected or ignored)",
            "max_tokens_only": "api-docs.deepseek.com: the output cap is max_tokens; "
                               "max_completion_tokens is sent under that name",
            "reasoner_sampling": "api-docs.deepseek.com reasoning_model: deepseek-reasoner ignores "
                                 "temperature/top_p/penalties and rejects logprobs (model-specific, "
                                 "not enforced here)",
        },
    },
    {
        "name": "mistral",
        "api_base": "https://api.mistral.ai/v1",
        "api_key_env": ("MISTRAL_API_KEY",),
        "unsupported": ("logit_bias", *LOGPROBS, "user", *OPENAI_ONLY, *NON_OPENAI),
        "renamed": {"seed": "random_seed", "max_completion_tokens": "max_tokens"},
        "price_prefix": "mistral",
        "quirks": {
            "random_seed": "docs.mistral.ai/api chat completion: the seed parameter is random_seed",
            "max_tokens_only": "docs.mistral.ai/api: the output cap is max_tokens",
            "params": "docs.mistral.ai/api lists no logit_bias, logprobs, top_logprobs or user; "
                      "safe_prompt and prompt_mode go in extra_body",
            "reasoning_effort": "Mistral documents reasoning_effort for Magistral models only "
                                "(passed through; unsure for other models)",
        },
    },
    {
        "name": "fireworks_ai",
        "api_base": "https://api.fireworks.ai/inference/v1",
        "api_key_env": ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY"),
        "unsupported": ("audio", "modalities", "verbosity", "web_search_options", "safety_identifier",
                        "router_preference"),
        "price_prefix": "fireworks_ai",
        "quirks": {
            "sampling_extensions": "docs.fireworks.ai chat completions: repetition_penalty, prediction "
                                   "and service_tier are accepted; top_k, min_p via extra_body",
        },
    },
    {
        "name": "xai",
        "api_base": "https://api.x.ai/v1",
        "api_key_env": ("XAI_API_KEY",),
        "unsupported": ("audio", "modalities", "prediction", "verbosity", "safety_identifier",
                        "service_tier", *NON_OPENAI),
        "price_prefix": "xai",
        "quirks": {
            "reasoning_models": "docs.x.ai reasoning guide: presence_penalty, frequency_penalty and stop "
                                "are rejected by reasoning models (grok-3-mini, grok-4); model-specific, "
                                "not enforced here",
        },
    },
    {
        "name": "perplexity",
        "api_base": "https://api.perplexity.ai",
        "api_key_env": ("PERPLEXITY_API_KEY", "PERPLEXITYAI_API_KEY"),
        "unsupported": ("tools", "tool_choice", "parallel_tool_calls", "logit_bias", *LOGPROBS, "seed", "n",
                        "audio", "modalities", "prediction", "verbosity", "safety_identifier",
                        "service_tier", *NON_OPENAI),
        "renamed": {"max_completion_tokens": "max_tokens"},
        "price_prefix": "perplexity",
        "quirks": {
            "no_tools": "docs.perplexity.ai/api-reference/chat-completions-post: the request takes no "
                        "tools or tool_choice (Sonar answers with its own search)",
            "params": "docs.perplexity.ai chat-completions-post lists no logit_bias, logprobs, seed or n",
            "search_options": "search_mode, search_domain_filter, return_images... go in extra_body",
            "reasoning_effort": "docs.perplexity.ai: reasoning_effort applies to sonar-deep-research only",
        },
    },
    {
        "name": "deepinfra",
        "api_base": "https://api.deepinfra.com/v1/openai",
        "api_key_env": ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
        "unsupported": (*OPENAI_ONLY, "router_preference"),
        "price_prefix": "deepinfra",
        "quirks": {
            "openai_path": "deepinfra.com/docs/openai_api: the OpenAI-compatible base is /v1/openai",
            "sampling_extensions": "deepinfra.com/docs/openai_api: repetition_penalty, top_k, min_p are "
                                   "accepted (unsure for logprobs on every model)",
        },
    },
]

_LOCAL_ROWS: list[dict[str, Any]] = [
    {
        "name": "hosted_vllm",
        "api_base": None,
        "api_key_env": ("HOSTED_VLLM_API_KEY",),
        "key_required": False,
        "unsupported": (*OPENAI_ONLY, "router_preference"),
        "price_prefix": "hosted_vllm",
        "quirks": {
            "no_default_base": "docs.vllm.ai OpenAI-compatible server: self-hosted, so api_base is "
                               "required (http://<host>:8000/v1)",
            "key_optional": "docs.vllm.ai: a key is checked only when the server runs with --api-key",
            "sampling_extensions": "docs.vllm.ai extra parameters: repetition_penalty is accepted; "
                                   "top_k, min_p, guided_json... go in extra_body",
        },
    },
    {
        "name": "ollama",
        "api_base": "http://localhost:11434/v1",
        "api_key_env": ("OLLAMA_API_KEY",),
        "key_required": False,
        "unsupported": ("tool_choice", "logit_bias", "n", "parallel_tool_calls", *OPENAI_ONLY, *NON_OPENAI),
        "renamed": {"max_completion_tokens": "max_tokens"},
        "price_prefix": "ollama",
        "quirks": {
            "no_key": "docs.ollama.com/api/openai-compatibility: the local server ignores the key "
                      "(OLLAMA_API_KEY is for ollama.com cloud)",
            "params": "docs.ollama.com/api/openai-compatibility: tool_choice, logit_bias and n are "
                      "unchecked (not supported); repeat_penalty exists only in the native API",
            "max_tokens_only": "docs.ollama.com/api/openai-compatibility lists max_tokens only",
        },
    },
    {
        "name": "lm_studio",
        "api_base": "http://localhost:1234/v1",
        "api_key_env": ("LM_STUDIO_API_KEY",),
        "key_required": False,
        "unsupported": ("n", *LOGPROBS, *OPENAI_ONLY, "router_preference"),
        "renamed": {"repetition_penalty": "repeat_penalty", "max_completion_tokens": "max_tokens"},
        "price_prefix": "lm_studio",
        "quirks": {
            "no_key": "lmstudio.ai/docs/api/openai-api: no key unless 'Require Authentication' is on",
            "repeat_penalty": "lmstudio.ai/docs chat completions payload: the parameter is repeat_penalty",
            "params": "lmstudio.ai/docs chat completions payload lists no n, logprobs or top_logprobs",
        },
    },
]

_SEED_ROWS: list[dict[str, Any]] = [
    {
        "name": "wiserouter",
        "api_base": "https://api.wiserouter.ai/v1",
        "api_key_env": ("WISEROUTER_API_KEY",),
        "unsupported": OPENAI_ONLY,
        "price_prefix": "wiserouter",
        "options": {"default_max_tokens": 4096, "report_requested_model": True},
        "quirks": {
            "default_max_tokens": "seed 000 (WiseRouter API): max_tokens 'Defaults to 16', which cuts "
                                  "answers off; routerlib sends max_tokens=4096 when the caller sets none",
            "model_redacted": "seed 000: 'the model used is redacted by default' (model: \"redacted\"); "
                              "responses report the requested model instead",
            "router_preference": "seed 000: router_preference is balanced (default), powerful or efficient",
            "vllm_sampling": "seed 000: 'powered by vLLM'; repetition_penalty is a parameter, other vLLM "
                             "sampling params (top_k, min_p...) go in extra_body",
            "completions": "seed 000: /completions takes a raw prompt (text_completion() calls)",
        },
    },
    {
        "name": "wrift",
        "api_base": "https://api.wrift.ai/v1",
        "api_key_env": ("WRIFT_API_KEY",),
        "unsupported": ("response_format", "seed", "user", "web_search_options", "safety_identifier",
                        "service_tier", "stream_options", *NON_OPENAI),
        "renamed": {"max_tokens": "max_completion_tokens"},
        "price_prefix": "wrift",
        "options": {
            "model_pattern": r"[\w.-]+/[\w.-]+(:[\w.-]+)?",
            "model_pattern_hint": "owner/name or owner/name:version (e.g. 'meta/llama-3-8b' or "
                                  "'meta/llama-3-8b:5a6809ca'), so call model='wrift/<owner>/<name>'",
        },
        "quirks": {
            "model_shape": "seed 001 (Wrift API): 'Models must be in the following format: model_owner/"
                           "model_name or model_owner/model_name:version_number'; checked before sending",
            "max_completion_tokens": "seed 001 documents max_completion_tokens only; max_tokens is sent "
                                     "under that name",
            "params": "seed 001 lists audio, modalities, prediction, verbosity, reasoning_effort, logprobs "
                      "with top_logprobs, but no response_format, seed, user or stream_options",
            "stream_usage": "seed 001 documents no stream_options, so stream usage is counted locally "
                            "(estimated) rather than asked for",
            "validation_422": "seed 001: validation errors are FastAPI {\"detail\": [{loc, msg, type}]}; "
                              "they become UnprocessableEntityError with 'loc: msg' messages",
        },
    },
    {
        "name": "openroute",
        "api_base": "https://api.openroute.cn/v1",
        "api_key_env": ("OPENROUTE_API_KEY",),
        "key_required": False,
        "unsupported": ("modalities", "audio", "prediction", "reasoning_effort", "verbosity",
                        "web_search_options", "safety_identifier", "service_tier", *NON_OPENAI),
        "price_prefix": "openroute",
        "quirks": {
            "no_auth_in_docs": "seed 002 (openroute.cn): the curl examples send no Authorization header; "
                               "a key is optional here and sent as Bearer when given (unsure)",
            "routing_params": "seed 002 lists LiteLLM's routing params (num_retries, fallbacks, "
                              "model_list, prompt templates...) as body fields; routerlib applies them "
                              "itself and never forwards them",
            "params": "seed 002 lists the OpenAI params up to logprobs/top_logprobs, but no modalities, "
                      "audio, prediction, reasoning_effort or verbosity",
            "name_clash": "'openroute' is one letter from 'openrouter' (a different company): check the "
                          "prefix",
        },
    },
    {
        "name": "routeway",
        "api_base": "https://api.routeway.ai/v1",
        "api_key_env": ("ROUTEWAY_API_KEY", "Routeway_API_KEY"),
        "auth": "bearer+x-api-key",
        "unsupported": ("n", "seed", "user", *LOGPROBS, "parallel_tool_calls", *OPENAI_ONLY, *NON_OPENAI),
        "price_prefix": "routeway",
        "quirks": {
            "x_api_key": "seed 003 (Routeway API): Authorization: Bearer is required and an x-api-key "
                         "header is documented beside it; both carry the key",
            "key_env": "seed 003 examples read os.getenv('Routeway_API_KEY') (mixed case); "
                       "ROUTEWAY_API_KEY is checked first",
            "params": "seed 003 body schema lists no n, seed, user, logprobs or parallel_tool_calls",
            "reasoning_effort": "seed 003: reasoning_effort takes none|minimal|low|medium|high|xhigh",
        },
    },
    {
        "name": "wrouter",
        "api_base": "https://api.wrouter.io/v1",
        "api_key_env": ("WROUTER_API_KEY",),
        "unsupported": (*LOGPROBS, "parallel_tool_calls", "prediction", "verbosity", "web_search_options",
                        "safety_identifier", "service_tier", *NON_OPENAI),
        "price_prefix": "wrouter",
        "options": {"param_values": {"reasoning_effort": ("low", "medium", "high")}},
        "quirks": {
            "many_vendors": "seed 004 (wrouter.io): gpt-4o, claude-sonnet-4-5, gemini-2.5-pro, deepseek-chat... "
                            "through one endpoint; model ids are sent as given, prices are unknown "
                            "unless passed per call",
            "stream_usage": "seed 004: with stream_options.include_usage the last chunk before [DONE] "
                            "carries usage",
            "multimodal": "seed 004: content may be text, image_url or input_audio parts",
            "reasoning_effort": "seed 004: reasoning_effort is 'low' | 'medium' | 'high' only",
            "params": "seed 004 request table lists no logprobs, top_logprobs, parallel_tool_calls, "
                      "prediction or verbosity",
        },
    },
]


def _row(fields: dict[str, Any]) -> dict[str, Any]:
    """A row ready for ``spec_from_row``: rows with options get the adapter that honours them."""
    if fields.get("options"):
        return {**fields, "adapter": _QUIRKS}
    return fields


ROWS: list[dict[str, Any]] = [_row(r) for r in (*_OPENAI_ROWS, *_LOCAL_ROWS, *_SEED_ROWS)]
