"""One call end to end through the engine: fallbacks, context window, deadline, history, streams."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from policy_helpers import MESSAGES, FakeClock, Script, error, ok, ok_body, transports

import routerlib
from routerlib.exceptions import APITimeoutError, ContextWindowExceededError, RateLimitError
from routerlib.transport import HTTPRequest, HTTPResponse


def client_for(script: object, clock: FakeClock | None = None, **kwargs: object) -> routerlib.Client:
    clock = clock or FakeClock()
    return routerlib.Client(clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep,
                            environ={}, **transports(script), **kwargs)  # type: ignore[arg-type]


def complete(client: routerlib.Client, model: str = "openai/gpt-4o-mini", **params: object
             ) -> routerlib.ModelResponse:
    params.setdefault("api_key", "k")
    response = client.completion(model, MESSAGES, **params)
    assert isinstance(response, routerlib.ModelResponse)
    return response


# -- fallbacks
def test_fallback_after_retries_each_with_its_own_retries() -> None:
    script = Script({"gpt-4o-mini": [error(503)], "gpt-4o": [error(503)], "gpt-4.1": [ok("gpt-4.1")]})
    response = complete(client_for(script), num_retries=1, fallbacks=["openai/gpt-4o", "openai/gpt-4.1"])
    assert script.models() == ["gpt-4o-mini"] * 2 + ["gpt-4o"] * 2 + ["gpt-4.1"]
    assert response.model == "gpt-4.1"
    assert [a.model for a in response.attempts] == script.models()


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_not_found_fall_back_without_retry(status: int) -> None:
    script = Script({"gpt-4o-mini": [error(status)], "gpt-4o": [ok("gpt-4o")]})
    response = complete(client_for(script), num_retries=3, fallbacks=["openai/gpt-4o"])
    assert script.models() == ["gpt-4o-mini", "gpt-4o"]
    assert response.attempts[0].status_code == status


@pytest.mark.parametrize("status", [400, 422])
def test_request_errors_do_not_fall_back(status: int) -> None:
    script = Script({"gpt-4o-mini": [error(status)], "gpt-4o": [ok("gpt-4o")]})
    with pytest.raises(routerlib.APIStatusError) as info:
        complete(client_for(script), fallbacks=["openai/gpt-4o"])
    assert script.models() == ["gpt-4o-mini"]
    assert info.value.status_code == status


def test_validation_errors_make_no_call_at_all() -> None:
    script = Script({"gpt-4o-mini": [ok()]})
    with pytest.raises(routerlib.InvalidRequestError):
        complete(client_for(script), temperature=5, fallbacks=["openai/gpt-4o"])
    assert script.seen == []


def test_exhaustion_raises_last_typed_error_with_history() -> None:
    script = Script({"gpt-4o-mini": [error(429)], "gpt-4o": [error(503)]})
    with pytest.raises(routerlib.ServiceUnavailableError) as info:
        complete(client_for(script), num_retries=1, fallbacks=["openai/gpt-4o"])
    err = info.value
    assert [a.status_code for a in err.attempts] == [429, 429, 503, 503]
    assert "4 attempts on 2 models: openai/gpt-4o-mini 429 x2, openai/gpt-4o 503 x2" in str(err)
    assert err.__cause__ is None or isinstance(err.__cause__, Exception)
    assert isinstance(err, routerlib.InternalServerError)


def test_exhausted_rate_limit_is_catchable_as_rate_limit_error() -> None:
    script = Script({"gpt-4o-mini": [error(503)], "gpt-4o": [error(429)]})
    with pytest.raises(RateLimitError) as info:
        complete(client_for(script), num_retries=0, fallbacks=["openai/gpt-4o"])
    assert len(info.value.attempts) == 2


def test_model_list_deployments_are_tried_in_order_never_together() -> None:
    calls: list[str] = []

    def handler(request: HTTPRequest) -> HTTPResponse:
        calls.append(request.url)
        return error(503) if "one" in request.url else HTTPResponse(200, {}, ok_body())

    client = client_for(handler)
    response = complete(client, model="gpt-4o-mini", num_retries=0, model_list=[
        {"model": "openai/gpt-4o-mini", "api_base": "http://one.test/v1", "api_key": "k1"},
        {"model": "openai/gpt-4o-mini", "api_base": "http://two.test/v1", "api_key": "k2"},
    ])
    assert calls == ["http://one.test/v1/chat/completions", "http://two.test/v1/chat/completions"]
    assert response.attempts[-1].api_base == "http://two.test/v1"


# -- inheritance of endpoint and credentials
def test_same_provider_fallback_inherits_base_key_and_headers() -> None:
    seen: list[HTTPRequest] = []

    def handler(request: HTTPRequest) -> HTTPResponse:
        seen.append(request)
        return error(503) if json.loads(request.body)["model"] == "gpt-4o-mini" else ok("gpt-4o")

    complete(client_for(handler), api_base="http://primary.test/v1", api_key="primary-key",
             headers={"x-team": "a"}, num_retries=0, fallbacks=["openai/gpt-4o"])
    assert seen[1].url == "http://primary.test/v1/chat/completions"
    assert seen[1].headers["authorization"] == "Bearer primary-key"
    assert seen[1].headers["x-team"] == "a"


def test_fallback_entry_overrides_inherited_values() -> None:
    seen: list[HTTPRequest] = []

    def handler(request: HTTPRequest) -> HTTPResponse:
        seen.append(request)
        return error(503) if "primary" in request.url else ok("gpt-4o")

    complete(client_for(handler), api_base="http://primary.test/v1", api_key="primary-key", num_retries=0,
             fallbacks=[{"model": "openai/gpt-4o", "api_base": "http://other.test/v1", "api_key": "other"}])
    assert seen[1].url.startswith("http://other.test/v1")
    assert seen[1].headers["authorization"] == "Bearer other"


def test_other_provider_fallback_never_gets_the_primary_key_or_base() -> None:
    script = Script({"gpt-4o-mini": [error(503)]})
    client = routerlib.Client(environ={}, **transports(script))  # type: ignore[arg-type]
    client.register_provider(name="acme", api_base="http://acme.test/v1", api_key_env=("ACME_KEY",))
    with pytest.raises(routerlib.MissingAPIKeyError) as info:
        client.completion("openai/gpt-4o-mini", MESSAGES, api_key="primary-secret", num_retries=0,
                          api_base="http://primary.test/v1", fallbacks=["acme/big-model"])
    assert "ACME_KEY" in str(info.value)
    assert "primary-secret" not in str(info.value)
    assert [a.outcome for a in info.value.attempts] == ["error", "error"]


def test_other_provider_fallback_uses_its_own_environment_key() -> None:
    seen: list[HTTPRequest] = []

    def handler(request: HTTPRequest) -> HTTPResponse:
        seen.append(request)
        return error(503) if "primary" in request.url else ok("big-model")

    client = routerlib.Client(environ={"ACME_KEY": "acme-secret"}, **transports(handler))  # type: ignore[arg-type]
    client.register_provider(name="acme", api_base="http://acme.test/v1", api_key_env=("ACME_KEY",))
    response = client.completion("openai/gpt-4o-mini", MESSAGES, api_key="primary-secret", num_retries=0,
                                 api_base="http://primary.test/v1", headers={"x-secret-header": "1"},
                                 fallbacks=["acme/big-model"])
    assert isinstance(response, routerlib.ModelResponse)
    assert response.provider == "acme"
    assert seen[1].url == "http://acme.test/v1/chat/completions"
    assert seen[1].headers["authorization"] == "Bearer acme-secret"
    assert "x-secret-header" not in seen[1].headers


def test_missing_key_on_primary_falls_back_to_a_deployment_with_a_key() -> None:
    script = Script({"gpt-4o": [ok("gpt-4o")]})
    client = client_for(script)
    response = client.completion("openai/gpt-4o-mini", MESSAGES,
                                 fallbacks=[{"model": "openai/gpt-4o", "api_key": "k"}])
    assert isinstance(response, routerlib.ModelResponse)
    assert response.attempts[0].error == "MissingAPIKeyError"
    assert script.models() == ["gpt-4o"]


# -- context window
def test_context_window_precheck_skips_to_the_mapped_model_before_any_call() -> None:
    script = Script({"gpt-4": [ok("gpt-4")], "gpt-4o": [ok("gpt-4o")]})
    big = [{"role": "user", "content": "word " * 9000}]  # ~9k tokens: over gpt-4's 8k window
    response = client_for(script).completion(
        "openai/gpt-4", big, api_key="k", num_retries=3,
        context_window_fallback_dict={"openai/gpt-4": "openai/gpt-4o"})
    assert isinstance(response, routerlib.ModelResponse)
    assert script.models() == ["gpt-4o"]
    assert response.attempts[0].outcome == "skipped"
    assert "context window" in (response.attempts[0].message or "")


def test_small_prompt_is_not_skipped_and_not_tokenized(monkeypatch: pytest.MonkeyPatch) -> None:
    import routerlib.tokens

    def no_counting(*args: object) -> int:
        raise AssertionError("a prompt that obviously fits must not be tokenized")

    monkeypatch.setattr(routerlib.tokens, "count_messages", no_counting)
    script = Script({"gpt-4": [ok("gpt-4")]})
    complete(client_for(script), model="openai/gpt-4",
             context_window_fallback_dict={"openai/gpt-4": "openai/gpt-4o"})
    assert script.models() == ["gpt-4"]


def test_provider_context_error_goes_to_mapped_model_without_retry() -> None:
    script = Script({"gpt-4o-mini": [error(400, "too long", code="context_length_exceeded")],
                     "gpt-4o": [ok("gpt-4o")]})
    response = complete(client_for(script), num_retries=3,
                        context_window_fallback_dict={"openai/gpt-4o-mini": "openai/gpt-4o"})
    assert script.models() == ["gpt-4o-mini", "gpt-4o"]
    assert response.attempts[0].error == "ContextWindowExceededError"


def test_requested_output_over_model_limit_is_skipped() -> None:
    script = Script({"gpt-4o": [ok("gpt-4o")]})
    with pytest.raises(ContextWindowExceededError):
        complete(client_for(script), model="openai/gpt-4o", max_tokens=10_000_000)
    assert script.seen == []


# -- deadline
def test_deadline_bounds_the_whole_call() -> None:
    clock = FakeClock()

    class SlowFailing:
        """Each attempt takes 4 s of fake time, or times out at its timeout if that is shorter."""

        def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
            if timeout < 4:
                clock.now += timeout
                raise APITimeoutError("timed out")
            clock.now += 4
            return error(503)

    client = routerlib.Client(transport=SlowFailing(), clock=clock, sleep=clock.sleep,  # type: ignore[arg-type]
                              environ={})
    with pytest.raises(APITimeoutError) as info:
        complete(client, num_retries=10, deadline=10, fallbacks=["openai/gpt-4o"])
    assert clock.now - 1000 <= 10.0001
    assert info.value.attempts[-1].error == "APITimeoutError"
    assert 2 <= len(info.value.attempts) <= 4


def test_attempt_timeout_never_exceeds_the_remaining_deadline() -> None:
    timeouts: list[float] = []

    class Recording:
        def send(self, request: HTTPRequest, timeout: float) -> HTTPResponse:
            timeouts.append(timeout)
            return HTTPResponse(200, {}, ok_body())

    client = routerlib.Client(transport=Recording(), environ={})  # type: ignore[arg-type]
    complete(client, deadline=2.5, timeout=30)
    assert 0 < timeouts[0] <= 2.5
    complete(client, timeout=7)
    assert timeouts[1] == 7


# -- callbacks and history
def test_callbacks_see_every_event_and_cannot_fail_the_call() -> None:
    events: list[str] = []

    class Observer:
        def on_attempt(self, attempt: routerlib.Attempt) -> None:
            events.append(f"attempt {attempt.model} {attempt.outcome}")

        def on_retry(self, err: Exception) -> None:
            events.append("retry")

        def on_fallback(self, err: Exception) -> None:
            events.append("fallback")

        def on_success(self, response: routerlib.ModelResponse) -> None:
            events.append("success")
            raise RuntimeError("a broken callback")

    script = Script({"gpt-4o-mini": [error(503)], "gpt-4o": [ok("gpt-4o")]})
    response = complete(client_for(script, callbacks=[Observer()]), num_retries=1, fallbacks=["openai/gpt-4o"])
    assert response.model == "gpt-4o"
    assert events == ["attempt gpt-4o-mini error", "retry", "attempt gpt-4o-mini error", "fallback",
                      "attempt gpt-4o ok", "success"]


def test_attempts_record_latency_and_waits() -> None:
    script = Script({"gpt-4o-mini": [error(429, headers={"retry-after": "2"}), ok()]})
    response = complete(client_for(script), num_retries=1)
    first, second = response.attempts
    assert (first.outcome, first.status_code, first.retry_after) == ("error", 429, 2.0)
    assert (second.outcome, second.waited) == ("ok", 2.0)


# -- streams
def _sse(*events: dict | str, done: bool = True) -> bytes:
    out = b"".join(b"data: " + (e if isinstance(e, str) else json.dumps(e)).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def _delta(content: str, finish: str | None = None) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


def test_stream_failing_before_first_content_is_retried() -> None:
    bodies = [_sse(_delta(""), done=False), _sse(_delta("Hel"), _delta("lo", "stop"))]

    def handler(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200, {}, bodies.pop(0))

    stream = client_for(handler).completion("openai/gpt-4o-mini", MESSAGES, api_key="k", stream=True,
                                            num_retries=1)
    text = "".join(c.choices[0].delta.content or "" for c in stream)  # type: ignore[union-attr]
    assert text == "Hello"
    assert [a.outcome for a in stream.attempts] == ["error", "ok"]  # type: ignore[union-attr]


def test_stream_failing_after_content_raises_interrupted_with_partial_text() -> None:
    def handler(request: HTTPRequest) -> HTTPResponse:
        return HTTPResponse(200, {}, _sse(_delta("Hel"), _delta("lo"), done=False))

    stream = client_for(handler).completion("openai/gpt-4o-mini", MESSAGES, api_key="k", stream=True,
                                            num_retries=3)
    seen = []
    with pytest.raises(routerlib.StreamInterruptedError) as info:
        for chunk in stream:  # type: ignore[union-attr]
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["Hel", "lo"]
    assert info.value.partial_text == "Hello"
    assert info.value.usage is not None and info.value.usage.estimated
    assert info.value.cost is not None and info.value.cost.total is not None


def test_stream_falls_back_when_the_primary_fails_before_content() -> None:
    def handler(request: HTTPRequest) -> HTTPResponse:
        if json.loads(request.body)["model"] == "gpt-4o-mini":
            return error(503)
        return HTTPResponse(200, {}, _sse(_delta("ok", "stop")))

    stream = client_for(handler).completion("openai/gpt-4o-mini", MESSAGES, api_key="k", stream=True,
                                            num_retries=0, fallbacks=["openai/gpt-4o"])
    assert [c.choices[0].delta.content for c in stream] == ["ok"]  # type: ignore[union-attr]
    assert stream.provider == "openai"  # type: ignore[union-attr]
    assert stream.response is not None and stream.response.attempts[-1].model == "gpt-4o"  # type: ignore[union-attr]


async def test_async_call_follows_the_same_policy() -> None:
    script = Script({"gpt-4o-mini": [error(503)], "gpt-4o": [error(429), ok("gpt-4o")]})
    clock = FakeClock()
    client = client_for(script, clock)
    response = await client.acompletion("openai/gpt-4o-mini", MESSAGES, api_key="k", num_retries=1,
                                        fallbacks=["openai/gpt-4o"])
    assert isinstance(response, routerlib.ModelResponse)
    assert script.models() == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "gpt-4o"]
    assert len(clock.sleeps) == 2


# -- text_completion() of a chat-only model goes through chat


@pytest.mark.parametrize(("provider", "model", "chat"), [
    ("openai", "gpt-4o-mini", True),
    ("openai", "o3-mini", True),
    ("openai", "gpt-3.5-turbo-instruct", False),  # a completion model: /v1/completions
    ("openai", "meta-llama/Llama-3-8B", False),  # unknown to the map (e.g. vLLM): /v1/completions
    ("together_ai", "gpt-4o-mini", False),  # a gateway decides for itself
])
def test_prompt_goes_through_chat(provider: str, model: str, chat: bool) -> None:
    from routerlib._core.call import prompt_goes_through_chat
    from routerlib.cost import ModelMap

    assert prompt_goes_through_chat(provider, ModelMap.default().get(model, "openai")) is chat


# -- embeddings: the same core, another operation
def embedded(model: str = "text-embedding-3-small", n: int = 1) -> HTTPResponse:
    return HTTPResponse(200, {}, json.dumps({
        "object": "list", "model": model, "usage": {"prompt_tokens": 4, "total_tokens": 4},
        "data": [{"object": "embedding", "index": i, "embedding": [0.5, float(i)]} for i in range(n)]}).encode())


def test_an_embedding_retries_and_falls_back_like_a_completion() -> None:
    clock = FakeClock()
    script = Script({"text-embedding-3-small": [error(429, headers={"retry-after": "1"})],
                     "text-embedding-3-large": [error(503), embedded("text-embedding-3-large", 2)]})
    response = client_for(script, clock).embedding("openai/text-embedding-3-small", ["a", "b"], api_key="k",
                                                   num_retries=1, fallbacks=["openai/text-embedding-3-large"])
    assert script.models() == ["text-embedding-3-small"] * 2 + ["text-embedding-3-large"] * 2
    assert clock.sleeps[0] == 1.0 and len(clock.sleeps) == 2
    assert [(a.model, a.status_code) for a in response.attempts] == [
        ("text-embedding-3-small", 429), ("text-embedding-3-small", 429), ("text-embedding-3-large", 503),
        ("text-embedding-3-large", None)]
    assert response.cost is not None and response.cost.total == Decimal("1.3E-7") * 4  # the large model's price
    assert response.attempts[-1].cost == response.cost


def test_a_provider_without_embeddings_is_refused_then_falls_back() -> None:
    script = Script({"text-embedding-3-small": [embedded()]})
    response = client_for(script).embedding("anthropic/claude-3-5-haiku-latest", "x", api_key="k",
                                            fallbacks=[{"model": "openai/text-embedding-3-small", "api_key": "k"}])
    assert script.models() == ["text-embedding-3-small"]  # nothing was sent to anthropic
    assert response.attempts[0].error == "UnsupportedParamsError"
    assert "no embeddings API" in (response.attempts[0].message or "")


def test_an_input_over_the_models_limit_is_skipped_before_sending() -> None:
    script = Script({"text-embedding-3-small": [embedded()]})
    client = client_for(script)
    client.register_model("tiny-embedder", litellm_provider="openai", mode="embedding", max_input_tokens=5,
                          input_cost_per_token="0.000001")
    response = client.embedding("openai/tiny-embedder", "word " * 50, api_key="k",
                                context_window_fallback_dict={"openai/tiny-embedder": "openai/text-embedding-3-small"})
    assert script.models() == ["text-embedding-3-small"]
    assert response.attempts[0].outcome == "skipped" and "input[0]" in (response.attempts[0].message or "")


def test_embeddings_are_their_operation_for_observers() -> None:
    from routerlib.observe import Observer

    class Seen(Observer):
        def __init__(self) -> None:
            self.operations: list[str] = []

        def on_call_start(self, event: object) -> None:
            self.operations.append(event.operation)  # type: ignore[attr-defined]

    seen = Seen()
    client_for(Script({"text-embedding-3-small": [embedded()]}), observers=[seen]).embedding(
        "openai/text-embedding-3-small", "x", api_key="k")
    assert seen.operations == ["embeddings"]


async def test_aembedding_runs_the_async_shell() -> None:
    clock = FakeClock()
    script = Script({"text-embedding-3-small": [error(500), embedded()]})
    response = await client_for(script, clock).aembedding("openai/text-embedding-3-small", "x", api_key="k")
    assert len(script.seen) == 2 and len(clock.sleeps) == 1 and response.data[0].embedding == [0.5, 0.0]


def test_mock_testing_fallbacks_fails_a_routers_own_group_and_runs_its_fallbacks() -> None:
    # LiteLLM honours the switch on a Router: the called group fails (in memory), its fallbacks answer.
    def entry(group: str, id_: str) -> dict[str, object]:
        return {"model_name": group, "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-test"},
                "model_info": {"id": id_}}

    router = routerlib.Router([entry("chat", "a"), entry("backup", "b")], fallbacks=[{"chat": ["backup"]}],
                              num_retries=0, environ={})
    response = router.completion("chat", MESSAGES, mock_testing_fallbacks=True, mock_response="from b")
    assert [(a.deployment_id, a.outcome) for a in response.attempts] == [("a", "error"), ("b", "ok")]
    assert response.choices[0].message.content == "from b"
