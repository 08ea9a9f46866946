"""Which embedding model made a Chroma collection's vectors, so that two models' vectors never mix.

Vectors of two models live in two unrelated spaces: a query of one against records of the other
finds noise with confident scores. Each collection records its model and dimension in its metadata;
a service started with another embedder refuses to start rather than mix them. Collections made
on demand (one per conversation) are created with the space recorded (`space_metadata`), and one
collection standing for all of them is claimed at start, so that the check stays one lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from app.errors import VectorSpaceMismatch
from app.storage.chroma import find_collection, open_collection
from app.storage.embedder import Embedder

MODEL_KEY = "mnemo_embedding_model"
DIMENSIONS_KEY = "mnemo_embedding_dimensions"


@dataclass(frozen=True)
class VectorSpace:
    """An embedding model's name and the length of its vectors."""

    model: str
    dimensions: int

    def __str__(self) -> str:
        return f"{self.model} ({self.dimensions} dimensions)"


def space_metadata(space: VectorSpace) -> dict[str, str | int]:
    """The collection metadata that records `space`, for a collection made for it."""
    return {MODEL_KEY: space.model, DIMENSIONS_KEY: space.dimensions}


def recorded(collection: Any) -> VectorSpace | None:
    """The space the collection says its vectors are in, if it says."""
    metadata = collection.metadata or {}
    if MODEL_KEY not in metadata:
        return None
    return VectorSpace(str(metadata[MODEL_KEY]), int(metadata.get(DIMENSIONS_KEY, 0)))


def stored_dimensions(collection: Any) -> int | None:
    """The length of a stored vector; None when the collection is empty."""
    embeddings = collection.get(limit=1, include=["embeddings"])["embeddings"]
    return None if embeddings is None or len(embeddings) == 0 else len(embeddings[0])


def space_of(collection: Any, legacy: str) -> VectorSpace | None:
    """The collection's space: recorded, else (written before spaces were recorded) `legacy`'s, else None."""
    found = recorded(collection)
    if found is not None:
        return found
    dimensions = stored_dimensions(collection)
    return None if dimensions is None else VectorSpace(legacy, dimensions)


def mismatch(name: str, found: VectorSpace, wanted: VectorSpace) -> VectorSpaceMismatch:
    return VectorSpaceMismatch(
        f"the Chroma collection {name!r} holds vectors of {found}, but Mnemo is configured to embed with "
        f"{wanted}; vectors of two models cannot be compared. Either switch back to {found.model} "
        f"(MNEMO_EMBEDDER and MNEMO_EMBEDDER_MODEL as they were), or start {wanted.model} on a fresh "
        "MNEMO_DATA_DIR (or MNEMO_CHROMA_URL) and import what you keep there, which embeds it anew "
        "(GET /conversations/{id}/messages then POST it; GET /memories/export then POST /memories/import)"
    )


def claim(collection: Any, wanted: VectorSpace, legacy: str) -> None:
    """Record `wanted` on the collection, or raise VectorSpaceMismatch when it holds another space.

    `legacy` names the model that wrote a collection from before spaces were recorded.
    """
    found = space_of(collection, legacy)
    if found is not None and found != wanted:
        raise mismatch(collection.name, found, wanted)
    if recorded(collection) != wanted:
        # Chroma refuses a metadata update that repeats hnsw:space; the distance stays in its configuration.
        kept = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
        collection.modify(metadata={**kept, **space_metadata(wanted)})


async def claim_collections(
    client: Any,
    names: Sequence[str],
    embedder: Embedder,
    model: str,
    legacy: str,
    if_present: Sequence[str] = (),
) -> VectorSpace:
    """Claim each named collection for `model`, whose dimension one embedding tells.

    Those of `if_present` are claimed where they exist and not created where they do not.
    """
    [probe] = await embedder.embed(["which space"], "document")
    wanted = VectorSpace(model, len(probe))

    def claim_each() -> None:
        present = [find_collection(client, name) for name in if_present]
        collections = [c for c in present if c is not None] + [open_collection(client, n) for n in names]
        for collection in collections:
            claim(collection, wanted, legacy)

    await anyio.to_thread.run_sync(claim_each)
    return wanted
