"""instructor drives routerlib as it drives LiteLLM: ``instructor.from_litellm(routerlib.completion)``.

Sync and async, in TOOLS and JSON modes, for one object, partial objects (streamed) and
iterables (streamed), against the scripted loopback OpenAI server. The async partial and
iterable modes are the ones that need ``AsyncStream.__anext__``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from recording_server import RecordingServer
from scripted_openai import scripted_openai

import routerlib

instructor = pytest.importorskip("instructor")

MESSAGES = [{"role": "user", "content": "Extract: Jason is 25 years old."}]
JASON = {"name": "Jason", "age": 25}


class User(BaseModel):
    name: str
    age: int


MODES = {"tools": instructor.Mode.TOOLS, "json": instructor.Mode.JSON}


@pytest.fixture(scope="module")
def server() -> Iterator[RecordingServer]:
    with scripted_openai() as running:
        yield running


@pytest.fixture
def openai_env(server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> RecordingServer:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    server.requests.clear()
    return server


def sent(server: RecordingServer) -> dict[str, Any]:
    body = server.requests[-1]["body"]
    assert isinstance(body, dict)
    return body


def check_request(server: RecordingServer, mode: str, *, stream: bool) -> None:
    body = sent(server)
    assert body["model"] == "gpt-4o-mini"
    assert bool(body.get("stream")) is stream
    if mode == "tools":
        assert body["tools"][0]["function"]["name"].endswith("User")
    else:
        assert body["response_format"]["type"] == "json_object" and "tools" not in body


# -- sync


@pytest.mark.parametrize("mode", sorted(MODES))
def test_create(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.completion, mode=MODES[mode])
    user = client.chat.completions.create(model="gpt-4o-mini", response_model=User, messages=MESSAGES)
    assert user.model_dump() == JASON
    check_request(openai_env, mode, stream=False)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_create_with_completion_gives_routerlibs_response(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.completion, mode=MODES[mode])
    user, raw = client.chat.completions.create_with_completion(model="gpt-4o-mini", response_model=User,
                                                              messages=MESSAGES)
    assert user.model_dump() == JASON
    assert isinstance(raw, routerlib.ModelResponse) and raw.cost is not None
    assert routerlib.completion_cost(raw) > 0


@pytest.mark.parametrize("mode", sorted(MODES))
def test_create_partial(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.completion, mode=MODES[mode])
    partials = list(client.chat.completions.create_partial(model="gpt-4o-mini", response_model=User,
                                                           messages=MESSAGES))
    assert len(partials) > 1, "the object arrives in pieces"
    assert partials[-1].model_dump() == JASON
    check_request(openai_env, mode, stream=True)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_create_iterable(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.completion, mode=MODES[mode])
    users = list(client.chat.completions.create_iterable(model="gpt-4o-mini", response_model=User,
                                                         messages=MESSAGES))
    assert [u.model_dump() for u in users] == [JASON, JASON]
    check_request(openai_env, mode, stream=True)


# -- async


@pytest.mark.parametrize("mode", sorted(MODES))
def test_async_create(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.acompletion, mode=MODES[mode])

    async def main() -> User:
        result: User = await client.chat.completions.create(model="gpt-4o-mini", response_model=User,
                                                             messages=MESSAGES)
        return result

    assert asyncio.run(main()).model_dump() == JASON
    check_request(openai_env, mode, stream=False)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_async_create_partial(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.acompletion, mode=MODES[mode])

    async def main() -> list[Any]:
        return [p async for p in client.chat.completions.create_partial(model="gpt-4o-mini", response_model=User,
                                                                        messages=MESSAGES)]

    partials = asyncio.run(main())
    assert len(partials) > 1 and partials[-1].model_dump() == JASON
    check_request(openai_env, mode, stream=True)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_async_create_iterable(mode: str, openai_env: RecordingServer) -> None:
    client = instructor.from_litellm(routerlib.acompletion, mode=MODES[mode])

    async def main() -> list[Any]:
        return [u async for u in client.chat.completions.create_iterable(model="gpt-4o-mini", response_model=User,
                                                                         messages=MESSAGES)]

    assert [u.model_dump() for u in asyncio.run(main())] == [JASON, JASON]
    check_request(openai_env, mode, stream=True)


def test_a_validation_retry_sends_the_answer_back_cleanly(openai_env: RecordingServer) -> None:
    """instructor's re-ask appends the failed answer to the messages: it must go back without null fields."""

    class Adult(BaseModel):
        name: str
        age: int

        def model_post_init(self, context: Any) -> None:
            if len(openai_requests()) < 2:
                raise ValueError("ask again")

    def openai_requests() -> list[dict[str, Any]]:
        return [r for r in openai_env.requests if r["path"].endswith("/chat/completions")]

    client = instructor.from_litellm(routerlib.completion, mode=instructor.Mode.TOOLS)
    adult = client.chat.completions.create(model="gpt-4o-mini", response_model=Adult, messages=MESSAGES,
                                           max_retries=2)
    assert adult.model_dump() == JASON
    second = openai_requests()[1]["body"]["messages"]
    assert len(second) > len(MESSAGES)
    for message in second:
        assert None not in [v for k, v in message.items() if k != "content"], json.dumps(message)
