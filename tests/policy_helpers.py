"""Shared fakes for the policy tests: a scripted transport and a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from routerlib.transport import AsyncMockTransport, HTTPRequest, HTTPResponse, MockTransport

MESSAGES = [{"role": "user", "content": "hello"}]


@dataclass
class FakeClock:
    """Time that moves only when the code under test sleeps (or a test advances it)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def ok_body(model: str = "gpt-4o-mini", text: str = "hi", prompt_tokens: int = 10,
            completion_tokens: int = 5) -> bytes:
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }).encode()


def error(status: int, message: str = "boom", code: str | None = None,
          headers: dict[str, str] | None = None) -> HTTPResponse:
    body = json.dumps({"error": {"message": message, "type": "x", "code": code}}).encode()
    return HTTPResponse(status, headers or {}, body)


def ok(model: str = "gpt-4o-mini", text: str = "hi") -> HTTPResponse:
    return HTTPResponse(200, {}, ok_body(model, text))


class Script:
    """Answers requests per model from queues of responses; the last answer repeats."""

    def __init__(self, answers: dict[str, Iterable[HTTPResponse | Exception]]) -> None:
        self._answers = {model: list(items) for model, items in answers.items()}
        self.seen: list[HTTPRequest] = []

    def models(self) -> list[str]:
        return [json.loads(r.body)["model"] for r in self.seen]

    def __call__(self, request: HTTPRequest) -> HTTPResponse:
        self.seen.append(request)
        model = json.loads(request.body)["model"]
        queue = self._answers[model]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def transports(script: Callable[[HTTPRequest], HTTPResponse]) -> dict[str, Any]:
    return {"transport": MockTransport(script), "async_transport": AsyncMockTransport(script)}
