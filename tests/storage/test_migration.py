"""A data folder of the one-collection layout, moved into a collection per conversation."""

from typing import Any

import chromadb
import pytest

from app.conversations.models import Summary, Turn
from app.conversations.store import (
    LEGACY_COLLECTION,
    ChromaStore,
    conversation_collection,
    summary_metadata,
    turn_metadata,
)
from app.fields import utcnow
from app.storage.chroma import find_collection, open_collection
from app.storage.migration import split_collection
from app.storage.vector_space import VectorSpace, recorded
from tests.fakes import HashEmbedder

embedder = HashEmbedder()
SPACE = VectorSpace("hash", 384)


def legacy_folder(chroma: chromadb.ClientAPI, conversations: dict[str, int]) -> dict[str, list[float]]:
    """The old layout: every turn (and a summary per conversation) in one collection; the vectors by id."""
    collection = open_collection(chroma, LEGACY_COLLECTION)
    vectors: dict[str, list[float]] = {}
    for cid, count in conversations.items():
        turns = [Turn(cid, i, "user", f"{cid} says {i}") for i in range(count)]
        now = utcnow()
        summary = Summary(cid, 0, 0, count - 1, f"{cid} in short", now, now)
        ids = [t.id for t in turns] + [summary.id]
        embeddings = [embedder.vector(t.content) for t in turns] + [embedder.vector(summary.content)]
        metas: list[Any] = [turn_metadata(t, "default") for t in turns] + [
            summary_metadata(summary, "default")
        ]
        collection.add(
            ids=ids,
            documents=[t.content for t in turns] + [summary.content],
            metadatas=metas,
            embeddings=embeddings,
        )
        vectors.update(zip(ids, embeddings, strict=True))
    return vectors


async def assert_all_moved(
    store: ChromaStore, chroma: chromadb.ClientAPI, vectors: dict[str, list[float]]
) -> None:
    """Each record in its conversation's collection, once, with the vector it had; the old collection gone."""
    assert find_collection(chroma, LEGACY_COLLECTION) is None
    for cid, count in (("c1", 5), ("c2", 3), ("c3", 1)):
        collection = chroma.get_collection(conversation_collection("default", cid))
        summaries = chroma.get_collection(conversation_collection("default", cid, "summary"))
        assert (collection.count(), summaries.count()) == (count, 1)
        assert [t.content for t in await store.turns(cid, 0, 10)] == [f"{cid} says {i}" for i in range(count)]
        assert [s.content for s in await store.summaries(cid)] == [f"{cid} in short"]
        for held in (collection.get(include=["embeddings"]), summaries.get(include=["embeddings"])):
            for record_id, vector in zip(held["ids"], held["embeddings"], strict=True):
                assert list(vector) == pytest.approx(
                    vectors[record_id], abs=1e-6
                )  # copied, not embedded again
        assert recorded(collection) == recorded(summaries) == SPACE
    [hit] = await store.search("c2", embedder.vector("c2 says 1"), k=1, before=3)
    assert (hit.turn.turn_index, hit.score) == (1, pytest.approx(1.0, abs=1e-4))


async def test_the_one_collection_layout_is_moved_into_a_collection_per_conversation(
    chroma: chromadb.ClientAPI,
) -> None:
    vectors = legacy_folder(chroma, {"c1": 5, "c2": 3, "c3": 1})
    store = ChromaStore(chroma, space=SPACE)
    assert await store.adopt_legacy() == 12
    await assert_all_moved(store, chroma, vectors)
    assert await store.adopt_legacy() == 0  # the next start finds nothing to move


class Killed(Exception):
    """The process died here."""


async def test_a_move_killed_midway_loses_nothing_and_the_next_start_finishes_it(
    chroma: chromadb.ClientAPI,
) -> None:
    vectors = legacy_folder(chroma, {"c1": 5, "c2": 3, "c3": 1})
    store = ChromaStore(chroma, space=SPACE)
    writes: list[str] = []

    def dies_on_the_third_write(name: str) -> Any:
        writes.append(name)
        if len(writes) == 3:
            raise Killed  # after copies, before the source's batch is deleted
        return store.collection(name)

    key = lambda meta: conversation_collection("default", str(meta["conversation_id"]), str(meta["kind"]))  # noqa: E731
    with pytest.raises(Killed):
        split_collection(chroma, LEGACY_COLLECTION, key, dies_on_the_third_write, batch=4)
    legacy = chroma.get_collection(LEGACY_COLLECTION)
    assert 0 < legacy.count() < 12  # the first batch went, the one being copied is still there
    copied = chroma.get_collection(conversation_collection("default", "c1")).count()
    assert legacy.count() + copied > 12  # some records are in both places at once
    assert find_collection(chroma, conversation_collection("default", "c2")) is None

    left = legacy.count()
    assert await ChromaStore(chroma, space=SPACE).adopt_legacy() == left
    await assert_all_moved(store, chroma, vectors)


async def test_without_an_old_collection_nothing_is_moved_or_created(chroma: chromadb.ClientAPI) -> None:
    assert await ChromaStore(chroma).adopt_legacy() == 0
    assert chroma.list_collections() == []
