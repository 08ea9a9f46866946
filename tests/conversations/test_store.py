from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from app.conversations.models import Summary, Turn
from app.conversations.store import ChromaStore
from app.fields import utcnow
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
