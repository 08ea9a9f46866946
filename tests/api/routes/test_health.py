"""/health and /ready on fakes: what each check reports and when the service is not ready."""

from __future__ import annotations

import httpx
import pytest

from app.conversations.summarizer import SummaryScheduler
from app.errors import LLMUnavailable, StoreUnavailable
from app.wiring import Services
from tests.fakes import FakeLLM


async def test_health_is_ok_even_when_the_parts_are_down(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    llm.up = False
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_llm_and_store_answer(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "llm": "ok",
        "store": "ok",
        "context_tokens": llm.n_ctx,
        "token_counts": "exact",
        "summaries_in_progress": 0,
        "summary_failures": 0,
        "summary_queue": {"queued": 0, "running": 0, "dropped": 0, "owed": 0},
    }


async def test_llm_down_is_503_without_context_details(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    llm.up = False
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert (body["llm"], body["store"]) == ("unavailable", "ok")
    assert "context_tokens" not in body and "token_counts" not in body


async def test_store_down_is_503_naming_why(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ping() -> None:
        raise StoreUnavailable("Chroma is not reachable")

    monkeypatch.setattr(services.store, "ping", ping)
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["llm"], body["store"]) == ("unavailable", "ok", "Chroma is not reachable")
    assert body["context_tokens"] > 0  # the model is up, so its details are still told


async def test_a_failing_context_size_is_reported_not_raised(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def context_size() -> int:
        raise LLMUnavailable("no /props")

    monkeypatch.setattr(services.builder, "context_size", context_size)
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["context_tokens"] == "no /props"


async def test_estimated_counts_and_summary_state_are_told(
    client: httpx.AsyncClient, services: Services
) -> None:
    services.counter.exact = False
    services.scheduler.failures = 3
    body = (await client.get("/ready")).json()
    assert body["token_counts"] == "estimate"
    assert body["summary_failures"] == 3


async def test_the_summary_queue_tells_what_waits_behind_a_reply_and_what_the_cap_dropped(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    services.scheduler = SummaryScheduler(
        services.scheduler._summarizer, traffic=services.traffic, max_queued=2
    )
    reply = services.traffic.enter()  # a chat reply is streaming
    history = [{"role": "user", "content": f"message {n}"} for n in range(12)]
    for cid in ["c1", "c2", "c3"]:
        await client.post(f"/conversations/{cid}/messages", json={"messages": history})
    expected = {"queued": 2, "running": 0, "dropped": 1, "owed": 1}
    assert (await client.get("/ready")).json()["summary_queue"] == expected
    assert (await client.get("/memories/stats")).json()["summary_queue"] == expected
    assert llm.completions == []
    services.traffic.leave(reply)
    await services.scheduler.drain()
    # the owed conversation took the place of a finished job while the model was idle
    assert (await client.get("/ready")).json()["summary_queue"] == {
        "queued": 0,
        "running": 0,
        "dropped": 1,
        "owed": 0,
    }
    assert len(llm.completions) == 3
