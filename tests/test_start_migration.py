"""A data folder of the one-collection layout, opened by the service: moved before the first request."""

from pathlib import Path

from app.conversations.history import History, NewMessage
from app.conversations.keywords import KeywordIndex
from app.conversations.models import Turn
from app.conversations.store import LEGACY_COLLECTION, ChromaStore, turn_metadata
from app.longterm.models import LongTermMemory, MemoryQuery, MemoryType
from app.longterm.store import COLLECTION as MEMORIES
from app.longterm.store import memory_metadata, record_id
from app.settings import Settings
from app.storage.chroma import chroma_client, find_collection, open_collection
from app.wiring import open_services, open_tenancy
from tests.fakes import HashEmbedder


async def test_the_service_moves_an_old_data_folder_on_its_first_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9")
    turns = [Turn("c1", i, "user", f"old turn {i}") for i in range(3)]
    open_collection(chroma_client(settings), LEGACY_COLLECTION).add(
        ids=[t.id for t in turns],
        documents=[t.content for t in turns],
        metadatas=[turn_metadata(t, settings.tenant) for t in turns],  # type: ignore[misc]
        embeddings=[[1.0 if d == i else 0.0 for d in range(384)] for i in range(3)],  # type: ignore[arg-type]
    )
    async with open_services(settings) as services:
        assert [t.content for t in await services.store.turns("c1", 0, 10)] == [t.content for t in turns]
        assert await services.store.last_turn_index("c1") == 2
    assert find_collection(chroma_client(settings), LEGACY_COLLECTION) is None


async def test_the_service_lists_the_conversations_stored_before_the_catalog(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9")
    keywords = KeywordIndex(settings.data_dir / "keywords.sqlite3")
    history = History(ChromaStore(chroma_client(settings), settings.tenant), HashEmbedder(), keywords)
    async with history.locked("c1"):
        await history.append("c1", [NewMessage("user", "hello"), NewMessage("assistant", "hi")])
    keywords.close()
    assert not settings.catalog_path.exists()
    async with open_services(settings) as services:
        entries, total = await services.catalog.page(50, 0)
        assert total == 1 and (entries[0].conversation_id, entries[0].turns) == ("c1", 2)


async def test_memories_from_before_tenants_are_keyed_and_every_tenants_index_repaired(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9")
    old = LongTermMemory(MemoryType.GENERAL, "Bees", "Ada keeps bees on her roof")
    lost = LongTermMemory(MemoryType.GENERAL, "Cello", "Bob plays the cello")
    embedder = HashEmbedder()
    open_collection(chroma_client(settings), MEMORIES).add(
        ids=[old.id, record_id("bob", lost.id)],  # one stored before tenants, one whose keyword row was lost
        documents=[old.content, lost.content],
        metadatas=[memory_metadata(old, settings.tenant), memory_metadata(lost, "bob")],  # type: ignore[list-item]
        embeddings=[embedder.vector(old.content), embedder.vector(lost.content)],  # type: ignore[arg-type]
    )
    async with open_tenancy(settings) as tenancy:
        assert (await tenancy.memories_for(settings.tenant).get(old.id)).content == old.content
        bob = tenancy.memories_for("bob")
        assert (await bob.get(lost.id)).content == lost.content
        found = await bob.search(MemoryQuery(text="cello", mode="keyword"))
        assert [s.memory.id for s in found.items] == [lost.id]
