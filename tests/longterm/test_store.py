from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.errors import StoreUnavailable
from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.models import LongTermMemory, MemoryType, Source
from app.longterm.store import COLLECTION, MemoryStore, encode_tags, key_by_tenant, memory_metadata
from app.storage.chroma import open_collection
from tests.fakes import HashEmbedder

embedder = HashEmbedder()
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def fact(content: str, title: str = "Fact", **fields: Any) -> LongTermMemory:
    return LongTermMemory(MemoryType.GENERAL, title, content, **fields)


async def put(store: MemoryStore, *memories: LongTermMemory) -> None:
    await store.put(memories, [embedder.vector(m.embed_text) for m in memories])


def test_tags_are_encoded_so_a_substring_test_is_a_tag_test() -> None:
    assert encode_tags(("a", "b c")) == "|a|b c|"
    assert encode_tags(()) == ""


async def test_every_field_comes_back_as_stored(memory_store: MemoryStore) -> None:
    full = LongTermMemory(
        MemoryType.PROJECT_KNOWLEDGE,
        "Deploy",
        "We deploy with docker compose",
        tags=("ops", "docker"),
        project="mnemo",
        source=Source.EXTRACTED,
        pinned=True,
        created_at=T0,
        updated_at=T0 + timedelta(hours=1),
        use_count=3,
        last_used_at=T0 + timedelta(days=1),
        valid_to=T0 + timedelta(days=2),
        superseded_by="mem_b",
        supersedes="mem_a",
        archived=True,
    )
    bare = fact("The sky is blue", created_at=T0, updated_at=T0)
    await put(memory_store, full, bare)
    assert await memory_store.get([full.id, bare.id, "mem_missing"]) == {full.id: full, bare.id: bare}
    assert await memory_store.get([]) == {}


async def test_scan_gives_every_memory_and_its_vector_when_asked(memory_store: MemoryStore) -> None:
    sky, sea = fact("The sky is blue"), fact("The sea is green")
    await put(memory_store, sky, sea)
    assert (
        sorted((m.id, v) for m, v in await memory_store.scan())
        == [(sky.id, None), (sea.id, None)][:: 1 if sky.id < sea.id else -1]
    )
    vectors = {m.id: v for m, v in await memory_store.scan(with_vectors=True)}
    assert vectors[sky.id] == pytest.approx(embedder.vector(sky.embed_text), abs=1e-6)


async def test_update_rewrites_fields_and_keeps_the_vector(memory_store: MemoryStore) -> None:
    sky = fact("The sky is blue")
    await put(memory_store, sky)
    used = sky.used(T0)
    await memory_store.update([used])
    assert (await memory_store.get([sky.id]))[sky.id] == used
    [(_, vector)] = await memory_store.scan(with_vectors=True)
    assert vector == pytest.approx(embedder.vector(sky.embed_text), abs=1e-6)


async def test_find_and_nearest_filter_by_metadata(memory_store: MemoryStore) -> None:
    pinned = fact("I drink green tea", pinned=True)
    project = fact("The tea service runs on port 8080", project="tea")
    closed = fact("I drink black tea", valid_to=T0)
    await put(memory_store, pinned, project, closed)
    assert [m.id for m in await memory_store.find({"pinned": True})] == [pinned.id]
    assert {m.id for m in await memory_store.find({"current": True})} == {pinned.id, project.id}
    near = await memory_store.nearest(embedder.vector("what tea do I drink"), 5, {"current": True})
    assert [m.id for m, _ in near] == [pinned.id, project.id]
    assert near[0][1] > near[1][1] > 0
    assert await memory_store.nearest(embedder.vector("tea"), 5, {"project": "none"}) == []
    assert await memory_store.nearest(embedder.vector("tea"), 0) == []
    assert len(await memory_store.nearest(embedder.vector("tea"), 1)) == 1


async def test_keyword_search_and_delete(memory_store: MemoryStore) -> None:
    kayak, tax = fact("A kayak trip on the lake"), fact("Tax forms are due in April")
    await put(memory_store, kayak, tax)
    assert await memory_store.keyword("kayak lake") == {kayak.id: 1.0}
    await memory_store.delete([kayak.id])
    await memory_store.delete([])
    assert await memory_store.keyword("kayak") == {}
    assert list(await memory_store.get([kayak.id, tax.id])) == [tax.id]


async def test_tenants_share_the_collection_but_not_their_memories(
    chroma: Any, memory_store: MemoryStore, tmp_path: Path
) -> None:
    other = MemoryStore(chroma, MemoryKeywordIndex(tmp_path / "other.sqlite3"), tenant="other")
    mine = fact("A kayak trip on the lake")
    await put(memory_store, mine)
    assert await other.get([mine.id]) == {}
    assert await other.scan() == [] and await other.find() == []
    assert await other.nearest(embedder.vector("kayak"), 5) == []
    theirs = fact("A canoe trip on the river", id=mine.id)  # the same memory id, another tenant's memory
    await put(other, theirs)
    await other.delete([mine.id])  # deletes theirs, never mine
    assert (await memory_store.get([mine.id]))[mine.id].content == mine.content
    assert await memory_store.keyword("kayak") == {mine.id: 1.0}
    assert await other.get([mine.id]) == {} and await other.keyword("canoe") == {}
    other.close()


async def test_memories_stored_before_tenants_are_keyed_by_their_tenant(chroma: Any, tmp_path: Path) -> None:
    collection = open_collection(chroma, COLLECTION)
    old = fact("A kayak trip on the lake")
    collection.add(  # as stored before tenants: the memory id alone
        ids=[old.id],
        documents=[old.content],
        metadatas=[memory_metadata(old, "me")],
        embeddings=[embedder.vector(old.content)],
    )
    assert key_by_tenant(collection) == 1
    assert key_by_tenant(collection) == 0  # once
    assert collection.get(include=[])["ids"] == [f"me/{old.id}"]
    store = MemoryStore(chroma, MemoryKeywordIndex(tmp_path / "fts.sqlite3"), tenant="me")
    assert await store.reconcile() == (1, 0)
    assert (await store.get([old.id]))[old.id].content == old.content
    assert [m.id for m, _ in await store.nearest(embedder.vector("kayak"), 5)] == [old.id]
    store.close()


async def test_a_write_chroma_refuses_leaves_no_keyword_entry(memory_store: MemoryStore) -> None:
    await put(memory_store, fact("A kayak trip on the lake"))
    wrong = fact("A canoe trip on the river")
    with pytest.raises(StoreUnavailable, match=r"^the memory store failed: "):
        await memory_store.put([wrong], [[1.0, 0.0]])  # a vector of the wrong size
    assert await memory_store.keyword("canoe") == {}
    assert await memory_store.reconcile() == (0, 0)


async def test_reconcile_rebuilds_a_lost_index_and_drops_strays(chroma: Any, tmp_path: Path) -> None:
    first = MemoryStore(chroma, MemoryKeywordIndex(tmp_path / "fts.sqlite3"))
    kayak, tax = fact("A kayak trip on the lake"), fact("Tax forms are due in April")
    await put(first, kayak, tax)
    first.close()
    index = MemoryKeywordIndex(tmp_path / "lost.sqlite3")  # as if the keyword file had been lost
    index.put([fact("A stray entry about kayaks", id="mem_stray")], "default")
    again = MemoryStore(chroma, index)
    assert await again.keyword("kayak") == {"mem_stray": 1.0}
    assert await again.reconcile() == (2, 1)
    assert await again.keyword("kayak") == {kayak.id: 1.0}
    assert await again.reconcile() == (0, 0)
    assert await again.index_bytes() > 0
    again.close()


async def test_a_closed_index_is_store_unavailable(memory_store: MemoryStore) -> None:
    memory_store.close()
    with pytest.raises(StoreUnavailable, match=r"^the memory store failed: "):
        await memory_store.keyword("kayak")
