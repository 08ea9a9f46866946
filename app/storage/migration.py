"""Moving the records of one Chroma collection into many, in batches that a crash cannot lose.

Each batch is copied first (an upsert, so copying it again does no harm), then deleted from
the source: a process killed midway leaves every record in the source, the destination or
both, and the next run goes on from there. The emptied source is dropped at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.storage.chroma import Metadata, find_collection

log = logging.getLogger(__name__)

BATCH = 1000


def split_collection(
    client: Any,
    source: str,
    key: Callable[[Metadata], str],
    destination: Callable[[str], Any],
    batch: int = BATCH,
) -> int:
    """Move every record of `source` to the collection `destination(key(its metadata))`; how many.

    Vectors are copied as they are, never embedded again. Nothing happens when `source` is absent.
    """
    collection = find_collection(client, source)
    if collection is None:
        return 0
    total = int(collection.count())
    if total:
        log.info("moving %d records out of the Chroma collection %r", total, source)
    moved = 0
    while True:
        found = collection.get(limit=batch, include=["documents", "metadatas", "embeddings"])
        if not found["ids"]:
            break
        copy(found, key, destination)
        collection.delete(ids=found["ids"])
        moved += len(found["ids"])
        log.info("moved %d of %d records out of %r", moved, total, source)
    client.delete_collection(source)
    log.info("dropped the emptied Chroma collection %r", source)
    return moved


def copy(found: Any, key: Callable[[Metadata], str], destination: Callable[[str], Any]) -> None:
    """Upsert the records of a `get` result into their destinations, one write per destination."""
    groups: dict[str, list[int]] = {}
    for position, meta in enumerate(found["metadatas"]):
        groups.setdefault(key(meta), []).append(position)
    embeddings = found["embeddings"]
    for name, positions in groups.items():
        destination(name).upsert(
            ids=[found["ids"][p] for p in positions],
            documents=[found["documents"][p] for p in positions],
            metadatas=[found["metadatas"][p] for p in positions],
            embeddings=[as_floats(embeddings[p]) for p in positions],
        )


def as_floats(vector: Any) -> list[float]:
    """A stored vector (a numpy row from Chroma) as the plain list an upsert takes."""
    return [float(x) for x in vector]
