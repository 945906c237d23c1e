"""The sans-I/O core of one call, shared by the sync and async shells in ``client``.

``CallState`` holds everything per call (the immutable policy lives on the client): the
targets still to try, the attempt history, the deadline, and the spend reservation. The
shells only send requests and sleep; every decision and every record is made here::

    next_deployment()  -> the next target resolved (context-window skips recorded here)
    build(deployment)  -> HTTPRequest (params selected or dropped for the provider)
    interpret(...)     -> response, or the typed error for a non-2xx / unreadable answer
    succeeded(...)     -> the response, priced, with its attempts, spend recorded
    failed(...)        -> attempt recorded
    retry_wait(error)  -> seconds to wait before retrying the deployment, or the error raised
    give_up(...)       -> after a deployment gave up: fall back, or raise
    exhausted(...)     -> the last typed error, carrying the whole history
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import tenacity

from ._request import ChatRequest
from .exceptions import (
    APIError,
    APITimeoutError,
    ContextWindowExceededError,
    MissingAPIKeyError,
    RouterlibError,
    StreamInterruptedError,
    UnsupportedParamsError,
)
from .planning import Target, targets_for
from .providers.base import Deployment, select_params
from .types import Attempt, ChatCompletionMessage, Choice, Cost, ModelResponse, TextChoice, TextCompletion, Usage

if TYPE_CHECKING:
    from .client import Client
    from .streaming import StreamAccumulator
    from .transport import HTTPRequest

Response = ModelResponse | TextCompletion


class CallState:
    """One call in flight. Not shared between calls; safe because each call has its own."""

    def __init__(self, client: Client, request: ChatRequest) -> None:
        self.client = client
        self.request = request
        self.clock: Callable[[], float] = client._clock
        self.started = self.clock()
        self.deadline_at = self.started + request.deadline if request.deadline else None
        self.policy = request.policy or client.policy
        self.num_retries = (request.num_retries if request.num_retries is not None
                            else self.policy.num_retries)
        self.attempts: list[Attempt] = []
        self.call_id = os.urandom(16).hex()
        self.primary: Deployment | None = None
        self.dropped: tuple[str, ...] = ()
        self.pending_wait = 0.0
        self._retry_state: tenacity.RetryCallState | None = None
        targets = targets_for(request)
        if len(targets) > 1:
            client._planner.check(targets, request)
        self._targets: deque[Target] = deque(targets)
        self._spend = client._spend.start(self) if client._spend is not None else None

    # -- planning
    def next_deployment(self) -> Deployment | None:
        """The next deployment to try, or None when every target has been tried or skipped."""
        while self._targets:
            if self.seconds_left() <= 0:
                raise self.deadline_error()
            target = self._targets.popleft()
            self._retry_state = None
            try:
                deployment = self.client._planner.resolve(target, self.request, self.primary)
            except MissingAPIKeyError as error:
                self._record_unresolved(error)
                if not self._targets or not self.policy.should_fallback(error):
                    raise
                continue
            if self.primary is None:
                self.primary = deployment
            skip = self.client._context.check(self.request, deployment)
            if skip is not None:
                self._record(deployment, "skipped", message=skip)
                self._push_context_fallback(target, deployment)
                continue
            if self._spend is not None:
                self._spend.reserve(deployment)
            return deployment
        return None

    def _push_context_fallback(self, target: Target, deployment: Deployment) -> None:
        mapping = self.request.context_window_fallback_dict or {}
        mapped = (mapping.get(target.model) or mapping.get(deployment.label)
                  or mapping.get(deployment.model))
        if mapped:
            self._targets.appendleft(Target(mapped, "context_window", target.entry))

    # -- one attempt
    def seconds_left(self) -> float:
        return float("inf") if self.deadline_at is None else self.deadline_at - self.clock()

    def attempt_timeout(self, deployment: Deployment) -> float:
        """Per-attempt timeout, never past the deadline (so no attempt can overrun it)."""
        timeout = (deployment.options.timeout or self.request.timeout
                   or self.client.timeout)
        left = self.seconds_left()
        if left <= 0:
            raise self.deadline_error()
        return min(float(timeout), left)

    def build(self, deployment: Deployment) -> HTTPRequest:
        return deployment.adapter.build_request(*self.adapter_params(deployment), deployment)

    def adapter_params(self, deployment: Deployment) -> tuple[ChatRequest, dict[str, Any]]:
        """The request as the adapter takes it, and its provider params (dropped ones recorded)."""
        request = self.request_for(deployment)
        params, self.dropped = select_params(request, deployment.spec)
        return request, params

    def request_for(self, deployment: Deployment) -> ChatRequest:
        """The request as the deployment's adapter takes it.

        A text_completion() sent to a chat-only provider (Anthropic, Gemini, ...) goes as one
        user message; its answer comes back as a ``TextCompletion`` (see ``interpret``).
        """
        request = self.request
        if request.prompt is None or getattr(deployment.adapter, "accepts_prompt", False):
            return request
        if not isinstance(request.prompt, str):
            raise UnsupportedParamsError(
                f"{deployment.provider} takes no batch of prompts: send one prompt per call",
                provider=deployment.provider, model=deployment.model, code="unsupported_params")
        return request.model_copy(update={"prompt": None,
                                          "messages": ({"role": "user", "content": request.prompt},)})

    def interpret(self, deployment: Deployment, status: int, headers: Any, body: bytes) -> Response:
        adapter = deployment.adapter
        if status >= 300:
            raise adapter.parse_error(status, headers, body, deployment)
        request = self.request_for(deployment)
        response = adapter.parse_response(status, headers, body, request, deployment)
        if request is not self.request and isinstance(response, ModelResponse):
            return _as_text_completion(response)
        return response

    def mock(self, deployment: Deployment) -> Response:
        """The response for mock_response=...: no network, usage counted locally (estimated).

        The provider's parameter check still runs, so a mocked test fails (or drops) exactly
        where the real call would.
        """
        from .tokens import count_messages, count_text

        self.adapter_params(deployment)
        text = self.request.mock_response or ""
        model = deployment.model
        prompts = self.request.prompt
        if prompts is None:
            prompt = count_messages(model, self.request.messages)
        else:
            prompt = sum(count_text(model, p) for p in ((prompts,) if isinstance(prompts, str) else prompts))
        completion = count_text(model, text)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion,
                      total_tokens=prompt + completion, estimated=True)
        ident = "mock-" + self.call_id
        if self.request.prompt is not None:
            return TextCompletion(id=ident, created=int(time.time()), model=model, usage=usage,
                                  choices=[TextChoice(text=text, finish_reason="stop")])
        return ModelResponse(id=ident, created=int(time.time()), model=model, usage=usage, choices=[
            Choice(message=ChatCompletionMessage(content=text), finish_reason="stop")])

    # -- outcomes
    def succeeded(self, deployment: Deployment, response: Response, latency: float) -> Response:
        usage = response.usage
        if usage is None:
            usage = response.usage = self.client._estimate_usage(deployment, self.request, _text_of(response))
        cost = self.client._price(deployment, self.request, usage, latency)
        self._record(deployment, "ok", latency=latency, cost=cost)
        response.provider = deployment.provider
        response.attempts = tuple(self.attempts)
        response.cost = self.call_cost()
        response.dropped_params = self.dropped
        if self._spend is not None:
            self._spend.settle(deployment, usage, cost, latency)
        self.client._callbacks.emit("on_success", response)
        return response

    def stream_finished(self, deployment: Deployment, acc: StreamAccumulator,
                        error: APIError | None, latency: float) -> Cost | None:
        """Price and record a stream at its end (complete, interrupted or closed early)."""
        usage = acc.usage
        if usage is None and acc.has_content:
            usage = self.client._estimate_usage(deployment, self.request, acc.text)
            acc.usage = usage
        cost = self.client._price(deployment, self.request, usage, latency) if usage else None
        outcome = "ok" if error is None else "error"
        if error is not None:
            error.redact(deployment.api_key)
        self._record(deployment, outcome, latency=latency, cost=cost, error=error)
        if self._spend is not None:
            self._spend.settle(deployment, usage, cost, latency)
        if error is not None:
            error.attempts = tuple(self.attempts)
            self.client._callbacks.emit("on_failure", error)
        return cost

    def call_cost(self) -> Cost | None:
        """The call's cost: the sum of its attempts' costs (a stream cut off mid-way still cost)."""
        costs = [a.cost for a in self.attempts if a.cost is not None]
        return sum(costs[1:], costs[0]) if costs else None

    def failed(self, deployment: Deployment, error: APIError, latency: float) -> None:
        error.redact(deployment.api_key)  # some providers quote the key back in a 401
        if error.provider is None:
            error.provider = deployment.provider
        if error.model is None:
            error.model = deployment.model
        self._record(deployment, "error", latency=latency, error=error)

    def retry_wait(self, error: RouterlibError) -> float:
        """After a failed attempt: seconds to wait before retrying the same deployment.

        Raises ``error`` when the policy gives up on this deployment (not retryable, out of
        retries, or a wait past the cap or the deadline). tenacity decides, through its
        sans-I/O ``iter()``; the shells only sleep. The first attempt runs before any of
        this exists, so a call that succeeds pays nothing for its policy.
        """
        state = self._retry_state
        if state is None:
            retrying = self.policy.retrying(self.num_retries)
            retrying.begin()
            state = self._retry_state = tenacity.RetryCallState(
                retrying, None, (), {"seconds_left": self.seconds_left})
        else:
            state.prepare_for_next_attempt()
        state.set_exception((type(error), error, error.__traceback__))
        action = state.retry_object.iter(state)  # raises the error when giving up
        wait = float(cast(tenacity.DoSleep, action))
        self.pending_wait = wait
        self.client._callbacks.emit("on_retry", error)
        return wait

    def give_up(self, deployment: Deployment, error: RouterlibError) -> bool:
        """After ``deployment`` failed for good: True to raise now, False to try the next target."""
        if isinstance(error, ContextWindowExceededError):
            self._push_context_fallback(Target(deployment.label, "fallback"), deployment)
        if not self._targets or not self.policy.should_fallback(error):
            return True
        self.client._callbacks.emit("on_fallback", error)
        return False

    def no_candidate_left(self) -> RouterlibError:
        """Every target was skipped (context window) or none could be resolved."""
        return ContextWindowExceededError(
            "every candidate model was skipped: the request does not fit their context windows",
            model=self.request.model, code="context_length_exceeded")

    def exhausted(self, error: RouterlibError) -> RouterlibError:
        """The error to raise when the call is over: the last typed error, with the history."""
        if not getattr(error, "attempts", None):
            error.attempts = tuple(self.attempts)  # type: ignore[attr-defined]
            if isinstance(error, APIError) and self.attempts:
                error.history = self.history()
        if self._spend is not None:
            self._spend.release()
        self.client._callbacks.emit("on_failure", error)
        return error

    def abandon(self) -> None:
        """Release what the call holds after an unexpected exception."""
        if self._spend is not None:
            self._spend.release()

    def history(self) -> str:
        """E.g. "3 attempts on 2 models: openai/gpt-4o 429 x2, anthropic/claude-3 503"."""
        labels = Counter(a.summary() for a in self.attempts)
        models = {f"{a.provider}/{a.model}" for a in self.attempts}
        parts = [f"{label} x{n}" if n > 1 else label for label, n in labels.items()]
        s = "" if len(self.attempts) == 1 else "s"
        m = "" if len(models) == 1 else "s"
        return f"{len(self.attempts)} attempt{s} on {len(models)} model{m}: {', '.join(parts)}"

    def _record(self, deployment: Deployment, outcome: Any, *, latency: float = 0.0,
                cost: Cost | None = None, error: APIError | None = None, message: str | None = None) -> None:
        attempt = Attempt(
            model=deployment.model, provider=deployment.provider, api_base=deployment.api_base,
            outcome=outcome, latency=latency, waited=self.pending_wait, cost=cost,
            error=type(error).__name__ if error is not None else None,
            status_code=error.status_code if error is not None else None,
            message=message if error is None else error.message[:300],
            retry_after=error.retry_after if error is not None else None)
        self.pending_wait = 0.0
        self.attempts.append(attempt)
        self.client._callbacks.emit("on_attempt", attempt)

    def _record_unresolved(self, error: MissingAPIKeyError) -> None:
        """A target that could not even be resolved (no key): an attempt that sent nothing."""
        self.attempts.append(Attempt(model=error.model or "?", provider=error.provider or "?",
                                     outcome="error", error=type(error).__name__, message=error.message))

    def deadline_error(self) -> APITimeoutError:
        return APITimeoutError(f"the call's deadline of {self.request.deadline} s has passed",
                               model=self.request.model, code="deadline_exceeded")

    def stream_not_started(self, acc: StreamAccumulator, done: bool) -> None:
        """A stream that ended before any content: fine if complete, else retryable."""
        if not done and not acc.finish_reasons:
            raise StreamInterruptedError("the stream ended before any content arrived",
                                         partial_text="")


def _text_of(response: Response) -> str:
    """The generated text of a response (all choices), for local usage estimates."""
    if isinstance(response, TextCompletion):
        return "".join(c.text for c in response.choices)
    return "".join(c.message.content or "" for c in response.choices)


def _as_text_completion(response: ModelResponse) -> TextCompletion:
    """A chat answer to a text_completion() call, reshaped as the caller asked."""
    choices = [TextChoice(index=c.index, text=c.message.content or "", finish_reason=c.finish_reason,
                          logprobs=c.logprobs) for c in response.choices]
    return TextCompletion(id=response.id, created=response.created, model=response.model,
                          choices=choices, usage=response.usage,
                          system_fingerprint=response.system_fingerprint)
