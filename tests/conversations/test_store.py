from datetime import UTC, datetime, timedelta
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from app.conversations.models import Summary, Turn
from app.conversations.store import ChromaStore, conversation_collection
from app.fields import utcnow
from app.storage.vector_space import VectorSpace, recorded
from tests.fakes import HashEmbedder

embedder = HashEmbedder()


async def add(store: ChromaStore, cid: str, texts: list[str]) -> list[Turn]:
    turns = [Turn(cid, i, "user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(texts)]
    await store.add_turns(turns, await embedder.embed(texts, "document"))
    return turns


async def test_turns_come_back_in_order_and_exactly_as_stored(store: ChromaStore) -> None:
    texts = ["  first  message\n", "second", "third ünïcode ✓", "fourth"]
    await add(store, "c1", texts)
    turns = await store.turns("c1", 0, 10)
    assert [t.content for t in turns] == texts
    assert [t.turn_index for t in turns] == [0, 1, 2, 3]
    assert [t.content for t in await store.turns("c1", 1, 3)] == texts[1:3]
    assert await store.last_turn_index("c1") == 3
    assert await store.last_turn_index("nobody") == -1


async def test_search_stays_in_its_conversation_and_before_the_window(store: ChromaStore) -> None:
    await add(store, "c1", ["my dog is called Rex", "nice", "the weather is bad", "ok"])
    await add(store, "c2", ["my dog is called Fido"])
    hits = await store.search("c1", embedder.vector("what is my dog called"), k=5, before=4)
    assert hits[0].turn.content == "my dog is called Rex"
    assert all(h.turn.conversation_id == "c1" for h in hits)
    assert hits[0].score > hits[-1].score
    assert await store.search("c1", embedder.vector("dog"), k=5, before=0) == []
    hidden = await store.search("c1", embedder.vector("weather"), k=5, before=2)
    assert all(h.turn.turn_index < 2 for h in hidden)


async def test_delete_removes_turns_and_summaries_of_one_conversation(store: ChromaStore) -> None:
    await add(store, "c1", ["a", "b"])
    await add(store, "c2", ["c"])
    now = utcnow()
    await store.add_summary(Summary("c1", 0, 0, 1, "sum", now, now), embedder.vector("sum"))
    assert len(await store.summaries("c1")) == 1
    assert await store.delete_conversation("c1") == 3
    assert await store.turns("c1", 0, 10) == []
    assert await store.summaries("c1") == []
    assert len(await store.turns("c2", 0, 10)) == 1


async def test_data_survives_reopening_the_folder(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    first = ChromaStore(
        chromadb.PersistentClient(path=path, settings=ChromaSettings(anonymized_telemetry=False))
    )
    await add(first, "c1", ["remember me"])
    again = ChromaStore(
        chromadb.PersistentClient(path=path, settings=ChromaSettings(anonymized_telemetry=False))
    )
    assert [t.content for t in await again.turns("c1", 0, 5)] == ["remember me"]


async def test_a_range_is_read_by_id_across_batches_without_abandoned_turns(
    store: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.conversations.store.READ_BATCH", 3)
    texts = [f"turn {i}" for i in range(8)]
    await add(store, "c1", texts)
    await store.abandon("c1", [2, 5])
    assert [t.turn_index for t in await store.turns("c1", 1, 7)] == [1, 3, 4, 6]
    kept = await store.turns("c1", 1, 7, include_abandoned=True)
    assert [(t.turn_index, t.abandoned) for t in kept] == [
        (1, False),
        (2, True),
        (3, False),
        (4, False),
        (5, True),
        (6, False),
    ]
    assert [t.content for t in await store.turns("c1", 6, 20)] == ["turn 6", "turn 7"]  # past the end
    assert await store.turns("c1", 5, 5) == []
    assert await store.turns("nobody", 0, 10) == []


def names(chroma: chromadb.ClientAPI) -> set[str]:
    return {c.name for c in chroma.list_collections()}


async def test_each_conversation_has_a_collection_of_its_own(
    store: ChromaStore, chroma: chromadb.ClientAPI
) -> None:
    await add(store, "c1", ["a", "b"])
    await add(store, "c2", ["c"])
    assert names(chroma) == {
        conversation_collection("default", "c1"),
        conversation_collection("default", "c2"),
    }
    held = chroma.get_collection(conversation_collection("default", "c1")).get(include=["metadatas"])
    assert {(m["conversation_id"], m["tenant"]) for m in held["metadatas"]} == {("c1", "default")}


async def test_reading_a_conversation_never_stored_finds_nothing_and_creates_nothing(
    store: ChromaStore, chroma: chromadb.ClientAPI
) -> None:
    vector = embedder.vector("anything")
    assert await store.turns("ghost", 0, 10) == []
    assert await store.last_turn_index("ghost") == -1
    assert await store.search("ghost", vector, k=5, before=10) == []
    assert await store.score("ghost", [0, 1], vector) == []
    assert await store.summaries("ghost") == []
    await store.abandon("ghost", [0])
    assert await store.delete_conversation("ghost") == 0
    assert names(chroma) == set()


async def test_the_tenant_is_part_of_a_conversations_address(chroma: chromadb.ClientAPI) -> None:
    ours, theirs = ChromaStore(chroma, tenant="ours"), ChromaStore(chroma, tenant="theirs")
    await add(ours, "c1", ["ours only"])
    assert await theirs.turns("c1", 0, 5) == []
    assert await theirs.search("c1", embedder.vector("ours only"), k=5, before=5) == []
    assert conversation_collection("ours", "c1") != conversation_collection("theirs", "c1")
    assert [t.content for t in await ours.turns("c1", 0, 5)] == ["ours only"]


async def test_any_conversation_id_makes_a_valid_collection_name(store: ChromaStore) -> None:
    odd = ["é" * 300, "a/b c?", "", "..", "x" * 2000]
    for cid in odd:
        name = conversation_collection("default", cid)
        assert 3 <= len(name) <= 63 and name[0].isalnum() and name[-1].isalnum()
        await add(store, cid, [f"in {cid[:5]}"])
    assert len({conversation_collection("default", cid) for cid in odd}) == len(odd)
    assert [t.content for t in await store.turns("..", 0, 5)] == ["in .."]


async def test_a_deleted_conversation_can_start_again(store: ChromaStore, chroma: chromadb.ClientAPI) -> None:
    await add(store, "c1", ["first life", "still first"])
    assert await store.delete_conversation("c1") == 2
    assert names(chroma) == set()
    await add(store, "c1", ["second life"])  # its old handle, cached, must not be used
    assert [t.content for t in await store.turns("c1", 0, 5)] == ["second life"]
    assert await store.last_turn_index("c1") == 0


async def test_conversations_stay_reachable_beyond_the_handles_kept(chroma: chromadb.ClientAPI) -> None:
    store = ChromaStore(chroma, handles=2)
    for cid in ("c1", "c2", "c3"):
        await add(store, cid, [f"hello from {cid}"])
    for cid in ("c1", "c2", "c3", "c1"):
        assert [t.content for t in await store.turns(cid, 0, 5)] == [f"hello from {cid}"]
    assert await store.delete_conversation("c2") == 1


async def test_a_new_conversation_records_the_embedding_model_of_its_vectors(
    chroma: chromadb.ClientAPI,
) -> None:
    store = ChromaStore(chroma, space=VectorSpace("hash", 384))
    await add(store, "c1", ["hello"])
    assert recorded(chroma.get_collection(conversation_collection("default", "c1"))) == VectorSpace(
        "hash", 384
    )


async def test_search_keeps_to_the_time_span_and_the_speakers_asked_for(store: ChromaStore) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    turns = [
        Turn("c1", i, "user", f"my dog {name}", created_at=base + timedelta(days=i), name=name)
        for i, name in enumerate(["ann", "bob", "ann", "bob"])
    ]
    await store.add_turns(turns, await embedder.embed([t.content for t in turns], "document"))
    vector = embedder.vector("dog")
    span = ((base + timedelta(days=1)).timestamp(), (base + timedelta(days=3)).timestamp())
    assert sorted(h.turn.turn_index for h in await store.search("c1", vector, 5, 4, between=span)) == [1, 2]
    assert sorted(h.turn.turn_index for h in await store.search("c1", vector, 5, 4, speakers=["bob"])) == [
        1,
        3,
    ]
    await store.abandon("c1", [3])
    assert [h.turn.turn_index for h in await store.search("c1", vector, 5, 4, speakers=["bob"])] == [1]


async def test_the_last_index_is_found_even_past_a_gap(store: ChromaStore) -> None:
    turns = [Turn("c1", i, "user", f"turn {i}") for i in (0, 1, 5)]
    await store.add_turns(turns, await embedder.embed([t.content for t in turns], "document"))
    assert await store.last_turn_index("c1") == 5


async def test_search_skips_abandoned_turns_however_near_they_are(store: ChromaStore) -> None:
    await add(store, "c1", ["dog dog", "dog", "a dog here", "cat"])
    await store.abandon("c1", [0, 1])
    hits = await store.search("c1", embedder.vector("dog dog"), k=1, before=4)
    assert [h.turn.turn_index for h in hits] == [2]
    await store.abandon("c1", [2, 3])
    assert await store.search("c1", embedder.vector("dog"), k=2, before=4) == []
