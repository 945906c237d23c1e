"""One call in flight: the sans-I/O state the sync and async shells drive.

``Call`` holds everything per call (the runtime holds what is shared): the plan (a
deployment source and its current target), the attempt history, the deadline, the retry
state of the current target and the budget hold. Every decision and every record is made
here; the shells only send, sleep and do the ledger's I/O::

    next_deployment()        -> the next deployment the plan offers, or None
    fits(deployment)         -> whether the request fits it (else the skip is recorded)
    begin(deployment)        -> AttemptStart; the attempt's timeout
    build / interpret        -> HTTPRequest; response or typed error
                                (the request's ``operation`` picks the adapter's chat or
                                embedding methods: one core for both)
    succeeded(...)           -> response priced and decorated, attempt recorded
    failed(...)              -> attempt recorded
    after_failure(...)       -> seconds to wait before the next attempt, or None: the call
                                is over and the shell re-raises the error
    finished(response)       -> CallEnd
    exhausted(error)         -> the last typed error, carrying the whole history; CallEnd
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import tenacity

from .._usage import bound_usage
from ..exceptions import (
    APIError,
    APITimeoutError,
    ContextWindowExceededError,
    MissingAPIKeyError,
    NoDeploymentAvailableError,
    RouterlibError,
    StreamInterruptedError,
    UnsupportedParamsError,
)
from ..observe.events import AttemptEnd, AttemptReason, AttemptStart, CallEnd, CallStart, Fallback, Operation, Retry
from ..observe.logging import LOGGER, log_call_failed, log_fallback, log_retry
from ..providers._errors import SHAPE_ERRORS, wrong_shape
from ..providers.base import Deployment, embedding_adapter, select_params
from ..providers.mock import mocked
from ..types import Attempt, EmbeddingResponse, ModelResponse, TextChoice, TextCompletion
from .accounting import PromptCounts

if TYPE_CHECKING:
    from .._embedding import EmbeddingRequest, Request
    from ..cost.model_map import ModelInfo
    from ..request import ChatRequest
    from ..transport import HTTPRequest
    from ..types import Cost, Usage
    from .runtime import Runtime
    from .source import Target

#: What a chat call answers (streams assemble one too), and what any call answers.
ChatResponse = ModelResponse | TextCompletion
Response = ChatResponse | EmbeddingResponse


class Call:
    """One call in flight. Never shared between calls."""

    def __init__(self, runtime: Runtime, request: Request) -> None:
        self.runtime = runtime
        self.request = request
        self.clock = clock = runtime.clock
        self.started = clock()
        self.deadline_at = self.started + request.deadline if request.deadline else None
        self.policy = request.policy or runtime.policy
        self.num_retries = request.num_retries if request.num_retries is not None else self.policy.num_retries
        self.attempts: list[Attempt] = []
        self.call_id = os.urandom(16).hex()
        self.dropped: tuple[str, ...] = ()
        self.observers = observers = runtime.observers
        #: False for a client without observers: then no event is ever built.
        self._watch = self.watched = runtime.watched
        self._info: dict[str, ModelInfo | None] = {}
        self._tried: set[str] = set()
        #: ``prompt_tokens(deployment)``: the prompt's tokens for its tokenizer, counted once per tokenizer.
        self.prompt_tokens = PromptCounts(request)
        self._reason: AttemptReason = "first"
        self._pending_wait = 0.0
        self._retry_state: tenacity.RetryCallState | None = None
        self._attempt_started = 0.0
        #: Set while an attempt may be on the wire (between ``begin`` and its record).
        self.in_flight: Deployment | None = None
        #: Why the provider may have billed an attempt that brought no answer ("timeout"), if so.
        self.maybe_billed: str | None = None
        self._last: Deployment | None = None
        self.source = runtime.source_factory(request)
        self.target: Target | None = self.source.next_target(self, None)
        self.budget = runtime.budget.start(self) if runtime.budget is not None else None
        #: The call's response-cache handle: set by the shells (``caching.start``) when there is a cache.
        self.cache: Any = None
        if self._watch and observers.wants(CallStart):
            operation: Operation = ("embeddings" if request.operation == "embeddings"
                                    else "chat" if request.prompt is None else "text_completion")
            self.observers.emit(CallStart(self.call_id, operation, request.model, request.stream, request,
                                          self.started, time.time()))

    # -- what a deployment source may read (``_core.source.CallView``)
    @property
    def tried(self) -> frozenset[str]:
        return frozenset(self._tried)

    def output_tokens(self) -> int | None:
        return self.runtime.accounting.output_tokens(self.request)

    def seconds_left(self) -> float:
        return float("inf") if self.deadline_at is None else self.deadline_at - self.clock()

    def stream_total(self) -> float | None:
        """What bounds a whole stream, from connect to its last byte: the call's time left."""
        return None if self.deadline_at is None else max(self.seconds_left(), 0.0)

    def info(self, deployment: Deployment) -> ModelInfo | None:
        """The model map's entry for the deployment (prices, limits), looked up once per call."""
        try:
            return self._info[deployment.id]
        except KeyError:
            found = self._info[deployment.id] = self.runtime.accounting.info(deployment)
            return found

    # -- planning
    def next_deployment(self) -> Deployment | None:
        """The deployment the plan offers next, or None when the plan is exhausted (its context
        fit is checked by ``fits``, which records a skip)."""
        while self.target is not None:
            if self.deadline_at is not None and self.seconds_left() <= 0:
                raise self.deadline_error()
            try:
                return self._mocked(self.target.pick(self))
            except MissingAPIKeyError as error:
                self._record_unresolved(error)
                if not self._next_target(error):
                    raise
            except NoDeploymentAvailableError as error:  # a router group with nothing left: its fallbacks
                if not self._next_target(error):
                    raise
        return None

    async def anext_deployment(self) -> Deployment | None:
        """``next_deployment`` for the async shell: a target with ``apick`` (a router group whose
        state is shared through Redis) is awaited, so the event loop never blocks on a pick."""
        while self.target is not None:
            if self.deadline_at is not None and self.seconds_left() <= 0:
                raise self.deadline_error()
            apick = getattr(self.target, "apick", None)
            try:
                return self._mocked(await apick(self) if apick is not None else self.target.pick(self))
            except MissingAPIKeyError as error:
                self._record_unresolved(error)
                if not self._next_target(error):
                    raise
            except NoDeploymentAvailableError as error:
                if not self._next_target(error):
                    raise
        return None

    def _mocked(self, deployment: Deployment) -> Deployment:
        request = self.request
        if request.mock_response is not None or request.mock_testing_fallbacks or request.mock_tool_calls:
            # the same deployment, answered in memory (providers.mock); a fallback may stay real
            return mocked(deployment, request, self.target is not None and self.target.kind in _PRIMARY_KINDS)
        return deployment

    def fits(self, deployment: Deployment) -> bool:
        """True if the request fits the deployment; else the skip is recorded and the plan moves on."""
        skip = self.runtime.accounting.fits(self.request, deployment, self.info(deployment),
                                            lambda d=deployment: self.prompt_tokens(d))
        if skip is None:
            return True
        self._tried.add(deployment.id)
        if self._watch:
            self._start_event(deployment)
        self._record(deployment, "skipped", message=skip)
        self._next_target(ContextWindowExceededError(skip, code="context_length_exceeded"))
        self._reason = "context_window"
        return False

    def _next_target(self, error: RouterlibError) -> bool:
        """Give up the current target after ``error``: True when the call moves on to another,
        False when it is over.

        The caller re-raises ``error`` (from its ``except`` clause, which unbinds it): raised from
        here, its traceback would hold this frame, which holds the error, and every failed call
        would be a reference cycle (with its whole state) left to the garbage collector.
        """
        if not self.policy.should_fallback(error) and not isinstance(error, ContextWindowExceededError):
            return False
        self.target = self.source.next_target(self, error)
        self._retry_state = None
        self._reason = "fallback"
        return self.target is not None

    # -- one attempt
    def begin(self, deployment: Deployment) -> float:
        """Mark the attempt's start (AttemptStart) and return its timeout, never past the deadline."""
        timeout = float(deployment.options.timeout or self.request.timeout or self.runtime.timeout)
        if self.deadline_at is not None:
            left = self.seconds_left()
            if left <= 0:
                raise self.deadline_error()
            timeout = min(timeout, left)
        self._tried.add(deployment.id)
        self._attempt_started = self.clock()
        self.in_flight = self._last = deployment
        if self._watch:
            self._start_event(deployment)
        return timeout

    def _start_event(self, deployment: Deployment) -> None:
        if self.observers.wants(AttemptStart):
            self.observers.emit(AttemptStart(
                self.call_id, len(self.attempts) + 1, deployment.id, deployment.provider, deployment.model,
                deployment.api_base, self._reason, self._pending_wait, self.clock()))

    def elapsed(self) -> float:
        """Seconds since the current attempt began."""
        return self.clock() - self._attempt_started

    def build(self, deployment: Deployment) -> HTTPRequest:
        """The attempt's HTTP request, from the adapter (its provider params selected, dropped ones recorded)."""
        request = self.request
        if request.operation == "embeddings":
            return self._build_embedding(request, deployment)
        if request.prompt is not None:
            request = self.request_for(deployment)
        if request.router_preference is not None and getattr(self.target, "honours_preference", False) \
                and "router_preference" in deployment.spec.unsupported:
            # A router honoured it locally across the group; a WiseRouter deployment still gets it.
            request = request.model_copy(update={"router_preference": None})
        params, self.dropped = select_params(request, deployment.spec)
        return deployment.spec.adapter.build_request(request, params, deployment)

    def _build_embedding(self, request: EmbeddingRequest, deployment: Deployment) -> HTTPRequest:
        adapter = embedding_adapter(deployment)  # a provider without embeddings: refused, falls back
        params, self.dropped = select_params(request, deployment.spec)
        return adapter.build_embedding_request(request, params, deployment)

    def request_for(self, deployment: Deployment) -> ChatRequest:
        """The chat request as the deployment's adapter takes it.

        A text_completion() sent to a chat-only provider (Anthropic, Gemini, ...) goes as one
        user message; its answer comes back as a ``TextCompletion`` (see ``interpret``).
        """
        request = self.request
        if request.operation == "embeddings":
            raise TypeError("an embedding request has no chat form")
        if request.prompt is None or (getattr(deployment.spec.adapter, "accepts_prompt", False)
                                      and not prompt_goes_through_chat(deployment.provider, self.info(deployment))):
            return request
        if not isinstance(request.prompt, str):
            raise UnsupportedParamsError(
                f"{deployment.provider} takes no batch of prompts: send one prompt per call",
                provider=deployment.provider, model=deployment.model, code="unsupported_params")
        return request.model_copy(update={"prompt": None,
                                          "messages": ({"role": "user", "content": request.prompt},)})

    def interpret(self, deployment: Deployment, status: int, headers: Any, body: bytes) -> Response:
        adapter = deployment.spec.adapter
        if status >= 300:
            raise adapter.parse_error(status, headers, body, deployment)
        request = self.request
        try:
            if request.operation == "embeddings":
                return embedding_adapter(deployment).parse_embedding_response(status, headers, body, request,
                                                                              deployment)
            if request.prompt is None:
                return adapter.parse_response(status, headers, body, request, deployment)
            chat = self.request_for(deployment)
            response = adapter.parse_response(status, headers, body, chat, deployment)
        except SHAPE_ERRORS as exc:  # any adapter, ours or a user's: a typed, retryable error
            raise wrong_shape(exc, body, provider=deployment.provider, model=deployment.model) from exc
        if chat is not request and isinstance(response, ModelResponse):
            return as_text_completion(response)
        return response

    # -- outcomes
    def usage_and_cost(self, deployment: Deployment, usage: Usage | None, text: str | None,
                       latency: float) -> tuple[Usage | None, Cost | None]:
        """The attempt's usage and price: counted locally from ``text`` when the provider sent none,
        else bounded by what the call could have read and written."""
        accounting = self.runtime.accounting
        if usage is None and text is not None:
            usage = accounting.estimate(self.request, deployment, self.prompt_tokens(deployment), text)
        elif usage is not None:
            usage = bound_usage(usage, self.request, self.info(deployment))
        return usage, accounting.price(self.request, deployment, self.info(deployment), usage, latency)

    def succeeded(self, deployment: Deployment, response: Response, latency: float) -> Response:
        """The response priced, recorded as an attempt and decorated with the call's facts."""
        reported = response.usage  # the text is read only when usage must be counted locally
        usage, cost = self.usage_and_cost(deployment, reported, text_of(response) if reported is None else None,
                                          latency)
        response.usage = usage
        self._record(deployment, "ok", latency=latency, cost=cost, usage=usage, response=response)
        return self.decorate(response, deployment)

    def decorate(self, response: Response, deployment: Deployment) -> Response:
        response.provider = deployment.spec.name
        response.attempts = tuple(self.attempts)
        response.cost = self.call_cost()
        response.dropped_params = self.dropped
        return response

    def failed(self, deployment: Deployment, error: APIError, latency: float) -> None:
        error.redact(*deployment.secrets)  # some providers quote the key back in a 401
        if error.provider is None:
            error.provider = deployment.provider
        if error.model is None:
            error.model = deployment.model
        if isinstance(error, APITimeoutError):
            self.maybe_billed = "timeout"  # the request may have reached the provider, which bills it
        self._record(deployment, "error", latency=latency, error=error)

    def stream_ended(self, deployment: Deployment, usage: Usage | None, text: str | None,
                     error: APIError | None, response: Response | None = None) -> tuple[Usage | None, Cost | None]:
        """Price and record a stream's attempt at its end (complete, interrupted or closed early).

        ``text`` is None when no content arrived (nothing to estimate usage from)."""
        latency = self.elapsed()
        usage, cost = self.usage_and_cost(deployment, usage, text, latency)
        if error is not None:
            error.redact(*deployment.secrets)
        self._record(deployment, "ok" if error is None else "error", latency=latency, cost=cost,
                     usage=usage, error=error, response=response)
        if error is not None:
            error.attempts = tuple(self.attempts)
        return usage, cost

    def call_cost(self) -> Cost | None:
        """The call's cost: the sum of its attempts' costs (a stream cut off mid-way still cost)."""
        attempts = self.attempts
        if len(attempts) == 1:
            return attempts[0].cost
        costs = [a.cost for a in attempts if a.cost is not None]
        return sum(costs[1:], costs[0]) if costs else None

    def after_failure(self, deployment: Deployment, error: RouterlibError) -> float | None:
        """After a failed attempt: seconds to wait before the next one (the shell sleeps, then asks
        ``next_deployment``), or None when the call is over (the shell re-raises ``error``).

        A target with an untried alternative (a router group) switches at once when the error
        falls back; otherwise tenacity decides, through its sans-I/O ``iter()``, whether to retry
        the target and after how long. The first attempt runs before any of this exists, so a
        call that succeeds pays nothing for its policy.
        """
        target = self.target
        assert target is not None
        if self.policy.should_fallback(error) and target.alternative(self, deployment, error):
            self._reason = "switch"
            self._emit_fallback(deployment, error)
            return 0.0
        wait = self._retry_wait(error)
        if wait is None:
            if not self._next_target(error):
                return None
            self._emit_fallback(deployment, error)
            return 0.0
        self._reason = "retry"
        self._pending_wait = wait
        watched = self._watch and self.observers.wants(Retry)
        if watched or LOGGER.isEnabledFor(logging.INFO):
            event = Retry(self.call_id, len(self.attempts), deployment.id, error, wait, self.clock())
            log_retry(event)
            if watched:
                self.observers.emit(event)
        return wait

    def _retry_wait(self, error: RouterlibError) -> float | None:
        """Seconds before retrying this target, or None when tenacity gives up on it."""
        state = self._retry_state
        if state is None:
            retrying = self.policy.retrying(self.num_retries)
            retrying.begin()
            state = self._retry_state = tenacity.RetryCallState(
                retrying, None, (), {"seconds_left": self.seconds_left})
        else:
            state.prepare_for_next_attempt()
        traceback = error.__traceback__
        state.set_exception((type(error), error, traceback))
        try:
            action = state.retry_object.iter(state)
        except RouterlibError as raised:  # tenacity gives up by raising the error itself
            if raised is not error:
                raise
            # The raise added tenacity's frames and this one to the error's traceback, and they
            # hold the error: a reference cycle per failed call, left to the garbage collector.
            error.__traceback__ = traceback
            return None
        return float(cast(tenacity.DoSleep, action))

    def _emit_fallback(self, deployment: Deployment, error: RouterlibError) -> None:
        watched = self._watch and self.observers.wants(Fallback)
        if watched or LOGGER.isEnabledFor(logging.WARNING):
            event = Fallback(self.call_id, len(self.attempts), deployment.id, error, self.clock())
            log_fallback(event)
            if watched:
                self.observers.emit(event)

    def no_candidate_left(self) -> RouterlibError:
        """Every target was skipped (context window) or none could be resolved."""
        return ContextWindowExceededError(
            "every candidate model was skipped: the request does not fit their context windows",
            model=self.request.model, code="context_length_exceeded")

    def finished(self, response: Response | None, error: RouterlibError | None = None) -> None:
        """CallEnd: once per call (for a stream, when the stream ends), and the ``routerlib`` log
        line of a failed call. On success the shells call it only when ``watched``: a client
        without observers pays nothing."""
        watched = self._watch and self.observers.wants(CallEnd)
        failed = response is None
        if failed and (ended := getattr(self.source, "ended", None)) is not None:
            ended(self)  # a router gives back a pick the call never sent (a budget refusal, the deadline)
        if watched or (failed and LOGGER.isEnabledFor(logging.WARNING)):
            now = self.clock()
            event = CallEnd(self.call_id, "error" if failed or error is not None else "ok", response, error,
                            tuple(self.attempts), self.call_cost(), now - self.started, now)
            log_call_failed(event)
            if watched:
                self.observers.emit(event)

    def exhausted(self, error: RouterlibError) -> RouterlibError:
        """The error to raise when the call is over: the last typed error, with the history."""
        if not getattr(error, "attempts", None):
            error.attempts = tuple(self.attempts)  # type: ignore[attr-defined]
            if isinstance(error, APIError) and self.attempts:
                error.history = self.history()
        self.finished(None, error)
        return error

    def history(self) -> str:
        """E.g. "3 attempts on 2 models: openai/gpt-4o 429 x2, anthropic/claude-3 503"."""
        labels = Counter(a.summary() for a in self.attempts)
        models = {f"{a.provider}/{a.model}" for a in self.attempts}
        parts = [f"{label} x{n}" if n > 1 else label for label, n in labels.items()]
        s = "" if len(self.attempts) == 1 else "s"
        m = "" if len(models) == 1 else "s"
        return f"{len(self.attempts)} attempt{s} on {len(models)} model{m}: {', '.join(parts)}"

    def _record(self, deployment: Deployment, outcome: Any, *, latency: float = 0.0, cost: Cost | None = None,
                usage: Usage | None = None, error: APIError | None = None, message: str | None = None,
                response: Response | None = None) -> None:
        routed = getattr(self.target, "last", None)  # a router's (strategy, why it picked this one)
        attempt = Attempt(
            model=deployment.model, provider=deployment.spec.name, api_base=deployment.api_base,
            deployment_id=deployment.id, strategy=routed[0] if routed else None,
            reason=routed[1] if routed else None, outcome=outcome, latency=latency, waited=self._pending_wait,
            cost=cost, error=type(error).__name__ if error is not None else None,
            status_code=error.status_code if error is not None else None,
            message=message if error is None else error.message[:300],
            retry_after=error.retry_after if error is not None else None)
        self._pending_wait = 0.0
        self.in_flight = None
        self.attempts.append(attempt)
        if self._watch and self.observers.wants(AttemptEnd):
            self.observers.emit(AttemptEnd(
                self.call_id, len(self.attempts), deployment.id, deployment.provider, deployment.model,
                outcome, latency, attempt, usage, cost, response, error, self.clock()))

    def _record_unresolved(self, error: MissingAPIKeyError) -> None:
        """A target that could not even be resolved (no key): an attempt that sent nothing."""
        attempt = Attempt(model=error.model or "?", provider=error.provider or "?", outcome="error",
                          error=type(error).__name__, message=error.message)
        self.attempts.append(attempt)
        if self._watch and self.observers.wants(AttemptEnd):
            label = f"{attempt.provider}/{attempt.model}"
            self.observers.emit(AttemptStart(self.call_id, len(self.attempts), label, attempt.provider,
                                             attempt.model, "", self._reason, 0.0, self.clock()))
            self.observers.emit(AttemptEnd(self.call_id, len(self.attempts), label, attempt.provider,
                                           attempt.model, "error", 0.0, attempt, None, None, None, error,
                                           self.clock()))

    def end_reason(self, cancelled: bool) -> tuple[Deployment | None, str | None]:
        """For a call ending without an answer: the deployment last tried and why its provider may
        have billed it anyway (None: nothing was billed, the budget hold is released)."""
        if cancelled and self.in_flight is not None:
            return self.in_flight, "cancelled"
        return self._last, self.maybe_billed

    def deadline_error(self) -> APITimeoutError:
        return APITimeoutError(f"the call's deadline of {self.request.deadline} s has passed",
                               model=self.request.model, code="deadline_exceeded")

    def stream_not_started(self, has_finish: bool, done: bool) -> None:
        """A stream that ended before any content: fine if complete, else retryable."""
        if not done and not has_finish:
            raise StreamInterruptedError("the stream ended before any content arrived", partial_text="")


#: Target kinds that make up a call's primary (``mock_testing_fallbacks`` fails them).
_PRIMARY_KINDS = frozenset({"primary", "deployment", "group"})  # "group": a router call's own group


def prompt_goes_through_chat(provider: str, info: ModelInfo | None) -> bool:
    """Whether a text_completion() to this deployment must be sent as a chat call.

    True for an OpenAI chat-only model (the model map says ``mode: chat`` for an ``openai``
    row: gpt-4o-mini, gpt-4.1, o3...), which OpenAI refuses at /v1/completions with 404 "This
    is a chat model and not supported in the v1/completions endpoint". LiteLLM's rule is the
    same (a name in ``open_ai_chat_completion_models`` goes through chat; any other name, e.g.
    a model served by vLLM, to /completions).
    """
    return provider == "openai" and info is not None and info.mode == "chat" and info.provider == "openai"


def text_of(response: Response) -> str:
    """The generated text of a response (all choices), for local usage estimates ("" for embeddings)."""
    if isinstance(response, EmbeddingResponse):
        return ""
    if isinstance(response, TextCompletion):
        return "".join(c.text for c in response.choices)
    return "".join(c.message.content or "" for c in response.choices)


def as_text_completion(response: ModelResponse) -> TextCompletion:
    """A chat answer to a text_completion() call, reshaped as the caller asked."""
    choices = [TextChoice(index=c.index, text=c.message.content or "", finish_reason=c.finish_reason,
                          logprobs=c.logprobs) for c in response.choices]
    return TextCompletion(id=response.id, created=response.created, model=response.model,
                          choices=choices, usage=response.usage,
                          system_fingerprint=response.system_fingerprint)
