"""Extraction after a chat turn, with the fake model's scripted JSON replies."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from app.errors import LLMUnavailable, StoreUnavailable
from app.longterm.book import Memories
from app.longterm.extractor import Extractor
from app.longterm.proposals import grammar, max_reply_tokens
from app.longterm.store import MemoryStore
from app.settings import Settings
from app.wiring import Services
from tests.fakes import FakeLLM, HashEmbedder, QueuedCompleter

MESSAGE = "Please remember that I prefer tea over coffee in the morning."
TEA = {
    "type": "user_preference",
    "title": "Morning drink",
    "content": "The user prefers tea over coffee in the morning",
    "tags": ["Drinks", "drinks", "morning"],
}


def reply(*memories: dict[str, object]) -> str:
    return json.dumps({"memories": list(memories)})


async def chat(client: httpx.AsyncClient, services: Services, message: str = MESSAGE) -> None:
    body = {"conversation_id": "c1", "message": message, "stream": False, "project": "home"}
    assert (await client.post("/chat", json=body)).status_code == 200
    assert services.long_term is not None
    await services.long_term.drain()


async def test_a_stated_preference_is_extracted_after_the_turn(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    llm.extraction.enqueue(reply(TEA))
    await chat(client, services)
    messages, params = llm.extraction.requests[0]
    assert MESSAGE in messages[-1]["content"]
    assert params["grammar"] == grammar(3) and params["temperature"] == 0.0
    assert params["max_tokens"] == max_reply_tokens(3)  # the longest reply the grammar allows fits
    found = (await client.get("/memories", params={"source": "extracted"})).json()["memories"]
    assert len(found) == 1
    assert found[0]["content"] == TEA["content"] and found[0]["tags"] == ["drinks", "morning"]
    assert found[0]["project"] is None  # a preference is global even in a project conversation
    stats = (await client.get("/memories/stats")).json()["extraction"]
    assert stats["runs"] == 1 and stats["succeeded"] == 1 and stats["created"] == 1 and stats["failed"] == 0

    # The next conversation gets it in its system message.
    context = (
        await client.post("/conversations/c2/context", json={"query": "tea or coffee in the morning?"})
    ).json()
    assert (
        "[user_preference, extracted] Morning drink: The user prefers tea over coffee"
        in context["messages"][0]["content"]
    )


async def test_a_repeated_fact_is_merged_and_project_facts_keep_their_project(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    kettle = {
        "type": "project_knowledge",
        "title": "Kettle",
        "content": "The kettle project brews every morning",
        "tags": [],
    }
    llm.extraction.enqueue(
        reply(TEA, kettle),
        reply({**TEA, "content": "the user prefers tea over coffee in the morning"}),
    )
    await chat(client, services)
    await chat(client, services)
    stats = (await client.get("/memories/stats")).json()
    assert stats["extraction"]["created"] == 2 and stats["extraction"]["merged"] == 1
    assert stats["current"] == 2 and stats["by_project"] == {"": 1, "home": 1}
    tea = (await client.get("/memories", params={"q": "tea morning", "mode": "keyword"})).json()["memories"]
    assert next(m for m in tea if m["title"] == "Morning drink")["use_count"] >= 1


async def test_failures_are_retried_then_counted_and_nothing_is_stored(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    llm.extraction.enqueue("{not json", reply(TEA))
    await chat(client, services)
    stats = (await client.get("/memories/stats")).json()["extraction"]
    assert stats["retries"] == 1 and stats["succeeded"] == 1 and stats["created"] == 1
    assert llm.extraction.requests[1][1]["temperature"] > 0  # a retry can differ

    llm.extraction.enqueue('{"memories": [{"type": "opinion"}]}', LLMUnavailable("down"), '{"memories": 3}')
    await chat(client, services, "I also like green tea with lemon, please remember it.")
    stats = (await client.get("/memories/stats")).json()
    assert stats["extraction"]["failed"] == 1 and stats["extraction"]["retries"] == 3
    assert stats["extraction"]["last_error"]
    assert stats["total"] == 1  # only the first turn's memory
    # Each job is recorded, newest first: why the second failed, what the first stored.
    assert stats["extraction"]["failures"] == {"invalid": 1}  # the last attempt's reason
    failed, stored = stats["extraction"]["recent"]
    assert not failed["ok"] and failed["reason"] == "invalid" and "green tea" in failed["subject"]
    assert stored["ok"] and stored["reason"] is None and "Morning drink" in stored["detail"]


async def test_invented_facts_are_dropped(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    octopus = {"type": "general", "title": "Octopus", "content": "Octopuses have three hearts", "tags": []}
    llm.extraction.enqueue(reply(octopus))
    await chat(client, services, "Hello there, how are you?")
    stats = (await client.get("/memories/stats")).json()
    assert stats["total"] == 0 and stats["extraction"]["ungrounded"] == 1


async def test_extraction_can_be_switched_off(
    tmp_path: Path, settings: Settings, llm: FakeLLM, services: Services, memory_store: MemoryStore
) -> None:
    off = settings.model_copy(update={"extraction_enabled": False})
    assert services.memories is not None
    quiet = Services.assemble(off, llm, services.store, services.embedder, memory_store, "hash")
    assert quiet.long_term is not None and quiet.long_term.extractor is None


async def test_the_extractor_alone_never_reports_what_the_store_refused(memory_store: MemoryStore) -> None:
    memories = Memories(memory_store, HashEmbedder(), "hash")
    model = QueuedCompleter('{"memories": []}')
    extractor = Extractor(model, memories, retries=0)
    model.enqueue(reply(TEA))
    memory_store.close()  # the keyword index is gone: every write fails
    with pytest.raises(StoreUnavailable):
        await extractor.extract(MESSAGE, None)
    assert extractor.stats.created == 0 and extractor.stats.succeeded == 1
