"""embedding() / aembedding() end to end against HTTP servers on 127.0.0.1.

One server speaks two wire formats, as the real providers do (everything it receives is
recorded, so each test checks exactly what went on the wire):

- OpenAI's ``/v1/embeddings`` (``scripted_openai.embeddings_answer``), and Azure's
  ``/openai/deployments/<name>/embeddings?api-version=...`` (the same body);
- Gemini's ``/v1beta/models/<m>:embedContent`` and ``:batchEmbedContents`` (``gemini_answer``),
  which report no usage, so routerlib counts it;
- ``/fail/<status>/...``: that status with an OpenAI error body; ``/flaky/<n>/...``: 503 for
  the first ``n`` requests on that path, then the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from recording_server import RecordingServer
from scripted_openai import embedding_vector, embeddings_answer

import routerlib
from routerlib.spend import Budget, SQLiteLedger
from routerlib.tokens import count_text

KEY = "sk-embed-test-0123456789"
GEMINI_KEY = "gm-embed-test-0123456789"
TEXTS = ["the cat sat on the mat", "hello world", "routerlib embeds"]
OPENAI_PRICE = Decimal("2E-8")  # text-embedding-3-small, per input token (the packaged map)
GEMINI_PRICE = Decimal("1.5E-7")  # gemini/gemini-embedding-001


def gemini_answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Gemini's answer: {"embedding": ...} for embedContent, {"embeddings": [...]} for a batch."""
    def values(request: dict[str, Any], i: int) -> list[float]:
        text = request["content"]["parts"][0]["text"]
        return embedding_vector(text, i, request.get("outputDimensionality") or 4)

    if path.endswith(":embedContent"):
        return {"embedding": {"values": values(body, 0)}}
    return {"embeddings": [{"values": values(r, i)} for i, r in enumerate(body["requests"])]}


class Servers:
    def __init__(self) -> None:
        self.flaky: dict[str, int] = {}
        self.lock = threading.Lock()
        self.http = RecordingServer(self.respond)
        self.openai = self.http.url
        self.root = self.openai.removesuffix("/v1")

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
        failing = re.match(r"/fail/(\d{3})/", path)
        if failing:
            status = int(failing.group(1))
            return status, "application/json", json.dumps({"error": {
                "message": f"loopback failure {status}", "type": "server_error", "code": None}}).encode()
        flaky = re.match(r"/flaky/(\d+)/", path)
        if flaky:
            with self.lock:
                seen = self.flaky[path] = self.flaky.get(path, 0) + 1
            if seen <= int(flaky.group(1)):
                return 503, "application/json", b'{"error": {"message": "overloaded", "type": "server_error"}}'
        if ":embedContent" in path or ":batchEmbedContents" in path:
            return 200, "application/json", json.dumps(gemini_answer(path, body)).encode()
        answer = embeddings_answer(body)
        if "nousage" in body.get("model", ""):
            del answer["usage"]
        return 200, "application/json", json.dumps(answer).encode()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.http.requests


@pytest.fixture(scope="module")
def running() -> Iterator[Servers]:
    servers = Servers()
    try:
        yield servers
    finally:
        servers.http.close()


@pytest.fixture
def servers(running: Servers) -> Servers:
    running.http.requests.clear()
    running.flaky.clear()
    return running


def quiet_client(**kwargs: Any) -> tuple[routerlib.Client, list[float]]:
    """A client whose retry waits are recorded instead of slept (the waits are the policy's)."""
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    return routerlib.Client(sleep=waits.append, async_sleep=asleep, **kwargs), waits


def test_openai_compatible_embedding_on_the_wire_and_back(servers: Servers) -> None:
    client, _ = quiet_client()
    response = client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.openai, api_key=KEY,
                                dimensions=3, user="u-1")
    sent = servers.requests[-1]
    assert sent["path"] == "/v1/embeddings"
    assert sent["body"] == {"model": "text-embedding-3-small", "input": TEXTS, "dimensions": 3, "user": "u-1"}
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert [d.embedding for d in response.data] == [embedding_vector(t, i) for i, t in enumerate(TEXTS)]
    assert response["data"][1]["embedding"] == response.data[1].embedding  # LiteLLM's dict style
    words = sum(len(t.split()) for t in TEXTS)
    assert response.usage is not None and response.usage.prompt_tokens == words and not response.usage.estimated
    assert response.cost is not None and response.cost.total == OPENAI_PRICE * words
    assert response._hidden_params["response_cost"] == float(OPENAI_PRICE * words)
    assert response.provider == "openai" and [a.outcome for a in response.attempts] == ["ok"]
    dumped = response.model_dump()
    assert set(dumped) == {"object", "data", "model", "usage"}  # OpenAI's shape, routerlib's fields apart
    json.dumps(response.to_dict())


def test_token_inputs_and_base64_reach_the_server_as_given(servers: Servers) -> None:
    client, _ = quiet_client()
    response = client.embedding("openai/text-embedding-3-small", [[1, 2, 3], [4, 5]], api_base=servers.openai,
                                api_key=KEY, encoding_format="base64")
    assert servers.requests[-1]["body"]["input"] == [[1, 2, 3], [4, 5]]
    assert all(isinstance(d.embedding, str) for d in response.data)
    assert response.usage is not None and response.usage.prompt_tokens == 5


def test_usage_is_counted_locally_when_the_server_sends_none(servers: Servers) -> None:
    client, _ = quiet_client()
    response = client.embedding("openai/nousage-embed", TEXTS, api_base=servers.openai, api_key=KEY,
                                input_cost_per_token="0.000001")
    counted = sum(count_text("nousage-embed", t) for t in TEXTS)
    assert response.usage is not None and response.usage.estimated
    assert response.usage.prompt_tokens == counted and response.usage.completion_tokens == 0
    assert response.cost is not None and response.cost.estimated
    assert response.cost.total == Decimal("0.000001") * counted and response.cost.source == "override"


def test_retries_on_503_then_answers(servers: Servers) -> None:
    client, waits = quiet_client()
    base = servers.root + "/flaky/2/v1"
    response = client.embedding("openai/text-embedding-3-small", "hello", api_base=base, api_key=KEY)
    assert [r["path"] for r in servers.requests] == ["/flaky/2/v1/embeddings"] * 3
    assert [a.status_code for a in response.attempts] == [503, 503, None] and len(waits) == 2
    assert response.data[0].embedding == embedding_vector("hello", 0)


def test_falls_back_to_gemini_which_gets_its_own_key_and_shape(servers: Servers) -> None:
    client, _ = quiet_client()
    gemini = {"model": "gemini/gemini-embedding-001", "api_base": servers.root + "/v1beta", "api_key": GEMINI_KEY}
    response = client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.root + "/fail/500/v1",
                                api_key=KEY, num_retries=0, fallbacks=[gemini], dimensions=4)
    primary, second = servers.requests
    assert primary["path"] == "/fail/500/v1/embeddings"
    assert second["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert second["headers"]["x-goog-api-key"] == GEMINI_KEY and "authorization" not in second["headers"]
    assert second["body"] == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 4}
        for t in TEXTS]}
    assert response.provider == "gemini" and response.model == "gemini-embedding-001"
    assert [d.embedding for d in response.data] == [embedding_vector(t, i, 4) for i, t in enumerate(TEXTS)]
    assert [(a.provider, a.status_code) for a in response.attempts] == [("openai", 500), ("gemini", None)]
    counted = sum(count_text("gemini-embedding-001", t) for t in TEXTS)  # Gemini reports no usage
    assert response.usage is not None and response.usage.estimated and response.usage.prompt_tokens == counted
    assert response.cost is not None and response.cost.total == GEMINI_PRICE * counted


def test_gemini_single_input_goes_to_embed_content_with_extra_body(servers: Servers) -> None:
    client, _ = quiet_client()
    response = client.embedding("gemini/gemini-embedding-001", "one text", api_base=servers.root + "/v1beta",
                                api_key=GEMINI_KEY, extra_body={"taskType": "RETRIEVAL_QUERY"})
    sent = servers.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-embedding-001:embedContent"
    assert sent["body"] == {"content": {"parts": [{"text": "one text"}]}, "taskType": "RETRIEVAL_QUERY"}
    assert GEMINI_KEY not in sent["path"] and len(response.data) == 1


def test_azure_embeddings_go_to_the_deployment_url(servers: Servers) -> None:
    client, _ = quiet_client()
    response = client.embedding("azure/my-embedder", ["a b", "c"], api_base=servers.root, api_key=KEY,
                                api_version="2024-10-21")
    sent = servers.requests[-1]
    assert sent["path"] == "/openai/deployments/my-embedder/embeddings?api-version=2024-10-21"
    assert sent["headers"]["api-key"] == KEY and "authorization" not in sent["headers"]
    assert response.provider == "azure" and len(response.data) == 2


def test_budget_is_reserved_and_the_ledger_records_the_call(servers: Servers, tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "spend.db")
    client, _ = quiet_client(ledger=ledger, budgets=[Budget(Decimal("0.01"), scope="global")])
    response = client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.openai, api_key=KEY,
                                metadata={"user": "alice", "tags": ["search"]})
    (record,) = SQLiteLedger(tmp_path / "spend.db").records()
    assert (record.model, record.provider, record.user, record.tags) == (
        "text-embedding-3-small", "openai", "alice", ("search",))
    assert response.usage is not None and record.prompt_tokens == response.usage.prompt_tokens
    assert record.completion_tokens == 0 and response.cost is not None and record.cost == response.cost.total


def test_a_budget_too_small_for_the_inputs_refuses_before_sending(servers: Servers, tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "spend.db")
    client, _ = quiet_client(ledger=ledger, budgets=[Budget(Decimal("0.0000001"), scope="global")])
    with pytest.raises(routerlib.BudgetExceededError) as caught:
        client.embedding("openai/text-embedding-3-small", TEXTS * 10, api_base=servers.openai, api_key=KEY)
    assert servers.requests == [] and ledger.records() == []
    counted = sum(count_text("text-embedding-3-small", t) for t in TEXTS * 10)
    assert caught.value.requested == OPENAI_PRICE * counted  # the worst case: input tokens only


def test_concurrent_calls_never_spend_past_a_shared_budget(servers: Servers, tmp_path: Path) -> None:
    limit = Decimal("0.0000020")  # 100 tokens at 2e-8: far fewer than the calls below
    ledger = SQLiteLedger(tmp_path / "spend.db")
    client, _ = quiet_client(ledger=ledger, budgets=[Budget(limit, scope="global")])
    outcomes: list[str] = []

    def calls() -> None:
        for _ in range(6):
            try:
                client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.openai, api_key=KEY)
                outcomes.append("ok")
            except routerlib.BudgetExceededError:
                outcomes.append("refused")

    threads = [threading.Thread(target=calls) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = ledger.records()
    assert len(records) == outcomes.count("ok") == len(servers.requests) >= 1
    assert "refused" in outcomes and ledger.total() <= limit


def test_aembedding_concurrently_on_one_client(servers: Servers) -> None:
    client, _ = quiet_client()

    async def main() -> list[routerlib.EmbeddingResponse]:
        try:
            return list(await asyncio.gather(*(
                client.aembedding("openai/text-embedding-3-small", [f"text {i}", "x"], api_base=servers.openai,
                                  api_key=KEY) for i in range(20))))
        finally:
            await client.aclose()

    responses = asyncio.run(main())
    assert len(servers.requests) == 20
    assert sorted(r.data[0].embedding[0] for r in responses) == [2.0] * 20
    assert all(r.cost is not None and r.cost.total == OPENAI_PRICE * 3 for r in responses)


def test_aembedding_falls_back_after_retries(servers: Servers) -> None:
    client, waits = quiet_client()
    gemini = {"model": "gemini/gemini-embedding-001", "api_base": servers.root + "/v1beta", "api_key": GEMINI_KEY}
    response = asyncio.run(client.aembedding("openai/text-embedding-3-small", ["a", "b"],
                                             api_base=servers.root + "/fail/503/v1", api_key=KEY,
                                             fallbacks=[gemini]))
    assert [r["path"] for r in servers.requests] == ["/fail/503/v1/embeddings"] * 3 + [
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"]
    assert len(waits) == 2 and response.provider == "gemini"


def test_an_identical_embedding_is_answered_from_the_cache_in_another_process(servers: Servers,
                                                                              tmp_path: Path) -> None:
    import subprocess
    import sys

    from routerlib.cache import SQLiteCache

    path = tmp_path / "cache.db"
    ledger = SQLiteLedger(tmp_path / "spend.db")
    client = routerlib.Client(cache=SQLiteCache(str(path)), ledger=ledger)
    first = client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.openai, api_key=KEY)
    hit = client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.openai, api_key=KEY)
    assert len(servers.requests) == 1 and hit.cache_hit and not first.cache_hit
    assert [d.embedding for d in hit.data] == [d.embedding for d in first.data]
    assert hit.cost.total == 0 and hit.cost.saved == first.cost.total > 0
    assert [r.cache_hit for r in ledger.records()] == [False, True]
    script = ("import sys, routerlib\nfrom routerlib.cache import SQLiteCache\n"
              "r = routerlib.Client(cache=SQLiteCache(sys.argv[1])).embedding('openai/text-embedding-3-small', "
              "sys.argv[3:], api_base=sys.argv[2], api_key='another-key-0123456789')\n"
              "print(r.cache_hit, r.data[0].embedding)")
    out = subprocess.run([sys.executable, "-c", script, str(path), servers.openai, *TEXTS], capture_output=True,
                         text=True, check=True, timeout=60).stdout.split(" ", 1)
    assert out[0] == "True" and json.loads(out[1]) == first.data[0].embedding
    assert len(servers.requests) == 1
    client.embedding("openai/text-embedding-3-small", TEXTS, api_base=servers.openai, api_key=KEY, dimensions=2)
    assert len(servers.requests) == 2
