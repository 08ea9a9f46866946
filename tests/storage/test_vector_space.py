from pathlib import Path
from typing import Any

import pytest

from app.errors import VectorSpaceMismatch
from app.settings import Settings
from app.storage.chroma import chroma_client, open_collection
from app.storage.vector_space import VectorSpace, claim, claim_collections, recorded, space_metadata
from tests.fakes import HashEmbedder

MINILM = VectorSpace("all-MiniLM-L6-v2", 384)
NOMIC = VectorSpace("nomic-embed-text-v1.5", 768)
NAME = "mnemo_turns"


def reopen(tmp_path: Path) -> Any:
    """The collection as a newly started service sees it: a new client on the same folder."""
    return open_collection(chroma_client(Settings(data_dir=tmp_path)), NAME)


def add_vector(collection: Any, dimensions: int) -> None:
    collection.add(ids=["t1"], embeddings=[[1.0] + [0.0] * (dimensions - 1)], documents=["hello"])


def test_a_new_collection_records_its_space_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    claim(reopen(tmp_path), MINILM, legacy=MINILM.model)
    collection = reopen(tmp_path)
    assert recorded(collection) == MINILM
    claim(collection, MINILM, legacy=MINILM.model)  # the same embedder starts again
    assert recorded(reopen(tmp_path)) == MINILM


def test_recording_the_space_keeps_the_cosine_distance(tmp_path: Path) -> None:
    collection = reopen(tmp_path)
    claim(collection, VectorSpace("tiny", 2), legacy="tiny")
    collection.add(ids=["a"], embeddings=[[3.0, 0.0]], documents=["a"])
    found = reopen(tmp_path).query(query_embeddings=[[1.0, 0.0]], n_results=1)
    assert found["distances"][0][0] == pytest.approx(0.0, abs=1e-6)  # cosine ignores length; l2 would be 4


def test_another_model_refuses_to_start_and_says_how_to_go_on(tmp_path: Path) -> None:
    claim(reopen(tmp_path), MINILM, legacy=MINILM.model)
    with pytest.raises(VectorSpaceMismatch) as caught:
        claim(reopen(tmp_path), NOMIC, legacy=MINILM.model)
    message = caught.value.message
    assert "'mnemo_turns' holds vectors of all-MiniLM-L6-v2 (384 dimensions)" in message
    assert "configured to embed with nomic-embed-text-v1.5 (768 dimensions)" in message
    assert "switch back to all-MiniLM-L6-v2" in message and "fresh MNEMO_DATA_DIR" in message
    assert recorded(reopen(tmp_path)) == MINILM  # the refusal changed nothing


def test_a_model_of_the_same_name_and_another_dimension_is_refused(tmp_path: Path) -> None:
    claim(reopen(tmp_path), MINILM, legacy=MINILM.model)
    with pytest.raises(VectorSpaceMismatch, match=r"configured to embed with all-MiniLM-L6-v2 \(512"):
        claim(reopen(tmp_path), VectorSpace(MINILM.model, 512), legacy=MINILM.model)


def test_vectors_from_before_spaces_were_recorded_belong_to_the_legacy_model(tmp_path: Path) -> None:
    add_vector(reopen(tmp_path), 384)
    with pytest.raises(VectorSpaceMismatch, match=r"holds vectors of all-MiniLM-L6-v2 \(384 dimensions\)"):
        claim(reopen(tmp_path), NOMIC, legacy=MINILM.model)
    assert recorded(reopen(tmp_path)) is None
    claim(reopen(tmp_path), MINILM, legacy=MINILM.model)
    assert recorded(reopen(tmp_path)) == MINILM


def test_an_empty_unrecorded_collection_is_free_for_any_model(tmp_path: Path) -> None:
    reopen(tmp_path)
    claim(reopen(tmp_path), NOMIC, legacy=MINILM.model)
    assert recorded(reopen(tmp_path)) == NOMIC


async def test_the_service_claims_its_collections_for_the_embedder_it_runs(tmp_path: Path) -> None:
    client = chroma_client(Settings(data_dir=tmp_path))
    space = await claim_collections(client, ["mnemo_turns", "mnemo_memories"], HashEmbedder(96), "hash", "x")
    assert space == VectorSpace("hash", 96)
    assert [recorded(open_collection(client, n)) for n in ("mnemo_turns", "mnemo_memories")] == [space, space]


async def test_the_conversations_and_an_old_collection_of_another_model_refuse_to_start(
    tmp_path: Path,
) -> None:
    client = chroma_client(Settings(data_dir=tmp_path))
    await claim_collections(client, ["mnemo_conversations"], HashEmbedder(96), "hash", "x")
    with pytest.raises(VectorSpaceMismatch, match=r"'mnemo_conversations' holds vectors of hash \(96"):
        await claim_collections(client, ["mnemo_conversations"], HashEmbedder(384), "other", "x")

    add_vector(open_collection(client, "mnemo_turns"), 384)  # written before spaces were recorded
    with pytest.raises(VectorSpaceMismatch, match=r"'mnemo_turns' holds vectors of all-MiniLM-L6-v2 \(384"):
        await claim_collections(
            client, [], HashEmbedder(96), "hash", MINILM.model, if_present=["mnemo_turns"]
        )


async def test_a_collection_claimed_only_if_present_is_not_created(tmp_path: Path) -> None:
    client = chroma_client(Settings(data_dir=tmp_path))
    await claim_collections(
        client, ["mnemo_conversations"], HashEmbedder(96), "hash", "x", if_present=["gone"]
    )
    assert [c.name for c in client.list_collections()] == ["mnemo_conversations"]


def test_a_collection_made_for_a_space_records_it_from_the_start(tmp_path: Path) -> None:
    client = chroma_client(Settings(data_dir=tmp_path))
    collection = open_collection(client, "made", space_metadata(NOMIC))
    assert recorded(collection) == NOMIC
    with pytest.raises(VectorSpaceMismatch):
        claim(collection, MINILM, legacy=MINILM.model)
