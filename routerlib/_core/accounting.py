"""One accounting path: prompt tokens, local usage estimates, prices and worst cases.

Calls, streams, the context-window pre-check, budgets and routers all ask the same object,
so a prompt is counted one way (messages, raw prompts and tool schemas alike) and priced
one way (the call's prices, overridden by the deployment's, else the model map)::

    prompt_tokens(request, model)        exact tiktoken count (tools included; an embedding's inputs)
    fits(request, deployment, info, n)   None, or why the request cannot fit the model
    estimate(request, deployment, text)  Usage counted locally, marked estimated
    price(request, deployment, info, ...) Cost (None without usage)
    worst_case(request, deployment, n)   the most the call can be billed, for budgets

Prompt counts are cached per call and tokenizer by ``PromptCounts`` (a call's
``prompt_tokens``); ``Accounting`` is shared by every call of a client and holds no per-call
state.

An embedding request (``operation == "embeddings"``) goes the same way with its own rules:
its inputs are the prompt (a token-id input counts its ids), it produces no output, each
input must fit the model's input limit (OpenAI's limit is per input), and its worst case is
its input tokens at the dearest input rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..providers.base import PRICE_FIELDS

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest, Request
    from ..cost.model_map import ModelInfo
    from ..planning import Planner
    from ..providers.base import Deployment
    from ..request import ChatRequest
    from ..types import Cost, Usage

#: Content parts whose billed size cannot be known before the call (audio length, PDF pages).
UNBOUNDED_PARTS = frozenset({"input_audio", "file"})


class Accounting:
    """Counting and pricing for one client (its planner knows the model map)."""

    __slots__ = ("_planner",)

    def __init__(self, planner: Planner) -> None:
        self._planner = planner

    def info(self, deployment: Deployment) -> ModelInfo | None:
        return self._planner.info(deployment)

    # -- tokens
    @staticmethod
    def prompt_tokens(request: Request, model: str) -> int:
        """The request's prompt tokens for ``model``: messages (or raw prompts) plus tool schemas,
        or an embedding's inputs."""
        from ..tokens import count_messages, count_text

        if request.operation == "embeddings":
            return input_tokens(request, model)
        if request.prompt is not None:
            prompts = (request.prompt,) if isinstance(request.prompt, str) else request.prompt
            total = sum(count_text(model, p) for p in prompts)
        else:
            total = count_messages(model, request.messages)
        if request.tools:
            total += count_text(model, json.dumps(request.tools, default=str, separators=(",", ":")))
        return total

    @staticmethod
    def output_tokens(request: Request) -> int | None:
        """The most output the request may be billed for: the max tokens times the choices (0 for embeddings)."""
        if request.operation == "embeddings":
            return 0
        output = request.max_completion_tokens or request.max_tokens
        if output is None:
            return None
        return output * (request.n or 1)

    def fits(self, request: Request, deployment: Deployment, info: ModelInfo | None, count: Any) -> str | None:
        """None if the request fits the deployment's model (or its limits are unknown), else why not.

        ``count()`` gives the exact prompt tokens; it is called only when the cheap bound, one
        token per UTF-8 byte at most, says the prompt might not fit: most calls never tokenize.
        """
        if request.operation == "embeddings":
            return inputs_fit(request, deployment, info)
        opts = deployment.options
        window = opts.max_input_tokens or (info.max_input_tokens if info is not None else None)
        max_out = opts.max_output_tokens or (info.max_output_tokens if info is not None else None)
        output = request.max_completion_tokens or request.max_tokens or 0
        if max_out and output > max_out:
            return f"max output {output} > {max_out} tokens"
        if not window or byte_bound(request) + output <= window:
            return None
        prompt = count()
        if prompt + output > window:
            return f"{prompt} prompt + {output} output tokens > {window} context window"
        return None

    def estimate(self, request: Request, deployment: Deployment, prompt: int, text: str) -> Usage:
        """Usage counted locally (tiktoken) when the provider sent none; marked estimated."""
        from ..tokens import count_text
        from ..types import Usage

        completion = count_text(deployment.model, text) if text else 0
        return Usage(prompt_tokens=prompt, completion_tokens=completion,
                     total_tokens=prompt + completion, estimated=True)

    # -- money
    def price(self, request: Request, deployment: Deployment, info: ModelInfo | None, usage: Usage | None,
              seconds: float) -> Cost | None:
        from ..cost.pricing import compute_cost

        if usage is None:
            return None
        return compute_cost(usage, info, self._override(request, deployment),
                            response_seconds=seconds, estimated=usage.estimated, model=deployment.label)

    def worst_case(self, request: Request, deployment: Deployment, prompt: int) -> tuple[Decimal | None, str]:
        """The most the call can be billed on ``deployment``, or None and why it cannot be bounded.

        Every prompt token at the dearest input rate, every possible output token (max tokens
        times ``n``) at the dearest output rate. Audio and file parts are billed by their
        decoded size, which cannot be known before the call, so they cannot be bounded. An
        embedding has no output: its inputs at the dearest input rate.
        """
        from ..cost.pricing import worst_case_cost

        if request.operation == "embeddings":
            amount = worst_case_cost(self.info(deployment), self._override(request, deployment), prompt, 0)
            return amount, "" if amount is not None else "no known input price, or priced per second"
        part = unbounded_part(request)
        if part is not None:
            return None, f"the request has an {part!r} content part, whose billed size cannot be known in advance"
        if request.audio is not None or (request.modalities and "audio" in request.modalities):
            return None, "audio output is billed by its length, which cannot be known in advance"
        info = self.info(deployment)
        output = self.output_tokens(request)
        if output is None and info is not None and (limit := info.max_output_tokens or info.max_tokens):
            output = limit * (request.n or 1)
        amount = worst_case_cost(info, self._override(request, deployment), prompt, output)
        if amount is None:
            return None, "no known price, or priced per second"
        return amount, ""

    @staticmethod
    def _override(request: Request, deployment: Deployment) -> Any:
        """Per-call prices: the call's parameters, overridden by the deployment's configuration."""
        from ..cost.pricing import PriceOverride

        values = request.__dict__
        prices = {k: values[k] for k in PRICE_FIELDS if values[k] is not None}
        if deployment.options.prices is not None:
            prices.update(deployment.options.prices.given())
        return PriceOverride.from_params(**prices) if prices else None


def unbounded_part(request: ChatRequest) -> str | None:
    """The first content part type whose billed size is unknown before the call, if any."""
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, list | tuple):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in UNBOUNDED_PARTS:
                    return str(part["type"])
    return None


def byte_bound(request: ChatRequest) -> int:
    """An upper bound of the prompt's tokens: UTF-8 bytes plus per-message overhead."""
    prompt = request.prompt
    prompts = (prompt,) if isinstance(prompt, str) else tuple(prompt or ())
    total = sum(len(p.encode("utf-8", "surrogatepass")) for p in prompts)
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content.encode("utf-8", "surrogatepass")) + 8
        elif content:
            total += sum(len(str(part).encode("utf-8", "surrogatepass")) for part in content) + 8
        for call in message.get("tool_calls") or ():
            total += len(str(call).encode("utf-8", "surrogatepass"))
    if request.tools:
        total += len(str(request.tools).encode("utf-8", "surrogatepass"))
    return total + 8


def input_tokens(request: EmbeddingRequest, model: str) -> int:
    """An embedding's billed input: each text counted by the model's tokenizer, token ids as given."""
    from ..tokens import count_text

    texts = request.texts()
    if texts is None:
        return sum(len(tokens) for tokens in request.token_lists())
    return sum(count_text(model, text) for text in texts)


def inputs_fit(request: EmbeddingRequest, deployment: Deployment, info: ModelInfo | None) -> str | None:
    """None if every input fits the model's input limit (or it is unknown), else which does not.

    The limit is per input (OpenAI: "must not exceed the max input tokens for the model");
    a text is tokenized only when its UTF-8 size, a bound on its tokens, goes past the limit.
    """
    from ..tokens import count_text, upper_bound_tokens

    window = deployment.options.max_input_tokens or (info.max_input_tokens if info is not None else None)
    if not window:
        return None
    texts = request.texts()
    sizes: tuple[Any, ...] = texts if texts is not None else request.token_lists()
    for i, item in enumerate(sizes):
        if isinstance(item, str):
            if upper_bound_tokens(item) <= window:
                continue
            tokens = count_text(deployment.model, item)
        else:
            tokens = len(item)
        if tokens > window:
            return f"input[{i}]: {tokens} tokens > {window} input tokens"
    return None


class PromptCounts:
    """One call's prompt tokens for a deployment, counted at most once per tokenizer and shared
    by the context check, a router's strategies and the usage estimate.

    It holds the request, not the call: a router keeps it for the call's later picks, and a
    reference back to the call would make every routed call a reference cycle, freed only by
    the garbage collector (memory that grows under load until a full collection).
    """

    __slots__ = ("_counts", "_request")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._counts: dict[str, int] = {}

    def __call__(self, deployment: Deployment) -> int:
        from ..tokens import encoding_name_for_model

        key = encoding_name_for_model(deployment.model)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = Accounting.prompt_tokens(self._request, deployment.model)
        return count
