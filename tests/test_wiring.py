"""Building the service's parts and closing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.conversations.history import NewMessage
from app.conversations.store import COLLECTION as TURNS
from app.conversations.store import ChromaStore
from app.conversations.summarizer import SummaryScheduler
from app.errors import StoreUnavailable, VectorSpaceMismatch
from app.longterm.store import COLLECTION as MEMORIES
from app.longterm.store import MemoryStore
from app.settings import Settings
from app.storage.chroma import chroma_client, open_collection
from app.storage.vector_space import VectorSpace, claim, recorded
from app.wiring import Services, open_services
from tests.fakes import FakeLLM, HashEmbedder


def test_the_parts_share_one_history_and_the_book_knows_its_model(services: Services) -> None:
    assert services.memories is not None and services.long_term is not None
    assert services.require_memories() is services.memories
    assert services.memories.embedding_model == "hash-384"
    assert services.long_term.extractor is not None  # extraction is on by default
    assert services.sent.last("c1") is None


def test_without_a_memory_store_there_is_no_long_term_memory(
    settings: Settings, llm: FakeLLM, store: ChromaStore, embedder: HashEmbedder
) -> None:
    services = Services.assemble(settings, llm, store, embedder)
    assert services.memories is None and services.long_term is None
    with pytest.raises(StoreUnavailable, match="long-term memories are not configured"):
        services.require_memories()


def test_extraction_can_be_switched_off(
    settings: Settings, llm: FakeLLM, store: ChromaStore, embedder: HashEmbedder, memory_store: MemoryStore
) -> None:
    off = settings.model_copy(update={"extraction_enabled": False})
    services = Services.assemble(off, llm, store, embedder, memory_store=memory_store)
    assert services.long_term is not None and services.long_term.extractor is None


class Counting:
    def __init__(self) -> None:
        self.scheduled: list[str] = []

    def schedule(self, conversation_id: str) -> None:
        self.scheduled.append(conversation_id)

    async def needed(self, conversation_id: str) -> None:
        pass


async def test_turns_and_the_recorder_use_the_scheduler_in_place_when_used(services: Services) -> None:
    counting = Counting()
    services.scheduler = counting  # type: ignore[assignment]  # as the benches swap it
    await services.recorder.append("c1", [NewMessage(role="user", content="hi")])
    assert counting.scheduled == ["c1"]
    async with services.turns.chat("c2", "hello", None, {}) as turn:
        async for _ in turn.events():
            pass
        await turn.commit()
    assert counting.scheduled == ["c1", "c2"]


async def test_closing_stops_the_background_work(services: Services) -> None:
    closed: list[str] = []

    class Closing(SummaryScheduler):
        async def aclose(self) -> None:
            closed.append("summaries")

    services.scheduler = Closing(services.scheduler._summarizer)
    assert services.long_term is not None
    original = services.long_term.aclose

    async def long_term_closed() -> None:
        closed.append("long-term")
        await original()

    services.long_term.aclose = long_term_closed  # type: ignore[method-assign]
    await services.aclose()
    assert closed == ["summaries", "long-term"]


async def test_a_data_folder_of_another_embedding_model_refuses_to_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9")
    claim(open_collection(chroma_client(settings), MEMORIES), VectorSpace("nomic-embed-text-v1.5", 768), "")
    with pytest.raises(
        VectorSpaceMismatch, match=r"holds vectors of nomic-embed-text-v1.5 \(768 dimensions\)"
    ):
        async with open_services(settings):
            pass


async def test_the_default_service_records_minilm_on_its_collections(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9")
    async with open_services(settings) as services:
        assert services.memories is not None and services.memories.embedding_model == "all-MiniLM-L6-v2"
    chroma = chroma_client(settings)
    for name in (TURNS, MEMORIES):
        assert recorded(open_collection(chroma, name)) == VectorSpace("all-MiniLM-L6-v2", 384)
