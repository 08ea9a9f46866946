"""Turns and summaries in Chroma: one collection, records told apart by `kind`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol, TypeVar

from app.conversations.models import Recalled, Summary, Turn, turn_id
from app.storage.chroma import Metadata, hits, iso, open_collection, records, required_time
from app.storage.threads import in_thread

T = TypeVar("T")

COLLECTION = "mnemo_turns"
DELETE_BATCH = 5000  # below Chroma's maximum batch size
READ_BATCH = 1000
# Matches turns stored before the flag existed too (Chroma's $ne matches a missing key).
NOT_ABANDONED: dict[str, Any] = {"abandoned": {"$ne": True}}


class Store(Protocol):
    """What the rest of Mnemo needs from the vector store."""

    async def add_turns(self, turns: Sequence[Turn], vectors: Sequence[Sequence[float]]) -> None: ...
    async def turns(
        self, conversation_id: str, start: int, stop: int, include_abandoned: bool = False
    ) -> list[Turn]: ...
    async def abandon(self, conversation_id: str, turn_indices: Sequence[int]) -> None: ...
    async def last_turn_index(self, conversation_id: str) -> int: ...
    async def search(
        self,
        conversation_id: str,
        vector: Sequence[float],
        k: int,
        before: int,
        between: tuple[float, float] | None = None,
        speakers: Sequence[str] = (),
    ) -> list[Recalled]: ...
    async def score(
        self, conversation_id: str, indices: Sequence[int], vector: Sequence[float]
    ) -> list[Recalled]: ...
    async def add_summary(self, summary: Summary, vector: Sequence[float]) -> None: ...
    async def summaries(self, conversation_id: str) -> list[Summary]: ...
    async def delete_conversation(self, conversation_id: str) -> int: ...
    async def ping(self) -> None: ...


def turn_metadata(turn: Turn, tenant: str) -> dict[str, str | int | float | bool]:
    meta: dict[str, str | int | float | bool] = {
        "conversation_id": turn.conversation_id,
        "tenant": tenant,
        "kind": "turn",
        "role": turn.role,
        "turn_index": turn.turn_index,
        "created_at": iso(turn.created_at),
        "created_at_ts": turn.created_at.timestamp(),
        "incomplete": turn.incomplete,
        "abandoned": turn.abandoned,
    }
    if turn.name:
        meta["name"] = turn.name
    return meta


def turn_from_record(document: str, meta: Metadata) -> Turn:
    role = str(meta["role"])
    assert role in ("user", "assistant", "system")
    return Turn(
        conversation_id=str(meta["conversation_id"]),
        turn_index=int(meta["turn_index"]),
        role=role,  # type: ignore[arg-type]
        content=document,
        created_at=required_time(meta["created_at"]),
        name=str(meta["name"]) if meta.get("name") else None,
        incomplete=bool(meta.get("incomplete", False)),
        abandoned=bool(meta.get("abandoned", False)),
    )


def summary_metadata(summary: Summary, tenant: str) -> dict[str, str | int | float | bool]:
    return {
        "conversation_id": summary.conversation_id,
        "tenant": tenant,
        "kind": "summary",
        "level": summary.level,
        "turn_from": summary.turn_from,
        "turn_to": summary.turn_to,
        "covers_from": iso(summary.covers_from),
        "covers_to": iso(summary.covers_to),
        "created_at": iso(summary.created_at),
        "created_at_ts": summary.created_at.timestamp(),
    }


def summary_from_record(document: str, meta: Metadata) -> Summary:
    return Summary(
        conversation_id=str(meta["conversation_id"]),
        level=int(meta["level"]),
        turn_from=int(meta["turn_from"]),
        turn_to=int(meta["turn_to"]),
        content=document,
        covers_from=required_time(meta["covers_from"]),
        covers_to=required_time(meta["covers_to"]),
        created_at=required_time(meta["created_at"]),
    )


class ChromaStore:
    """Chroma behind the Store protocol; every call runs in a worker thread."""

    def __init__(self, client: Any, tenant: str = "default") -> None:
        self._client = client
        self._tenant = tenant
        self._collection = open_collection(client, COLLECTION)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await in_thread(fn, "Chroma")

    def _where(self, conversation_id: str, kind: str, *extra: dict[str, Any]) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = [{"conversation_id": conversation_id}, {"kind": kind}, *extra]
        return {"$and": clauses}

    async def add_turns(self, turns: Sequence[Turn], vectors: Sequence[Sequence[float]]) -> None:
        if not turns:
            return
        ids = [t.id for t in turns]
        docs = [t.content for t in turns]
        metas = [turn_metadata(t, self._tenant) for t in turns]
        embeddings = [list(v) for v in vectors]
        await self._run(
            lambda: self._collection.upsert(
                ids=ids,
                documents=docs,
                metadatas=metas,
                embeddings=embeddings,
            )
        )

    async def turns(
        self, conversation_id: str, start: int, stop: int, include_abandoned: bool = False
    ) -> list[Turn]:
        """Turns with start <= turn_index < stop, in order; abandoned ones only when asked.

        Read by id (a turn's id follows from its index), so the cost follows the range
        asked for, not the length of the conversation as a metadata filter's does.
        """
        found: list[Turn] = []
        for begin in range(start, stop, READ_BATCH):
            ids = [turn_id(conversation_id, i) for i in range(begin, min(stop, begin + READ_BATCH))]
            result = await self._run(
                partial(self._collection.get, ids=ids, include=["documents", "metadatas"])
            )
            found += [
                turn_from_record(doc, meta)
                for _, doc, meta in records(result)
                if include_abandoned or not meta.get("abandoned", False)
            ]
        return sorted(found, key=lambda t: t.turn_index)

    async def last_turn_index(self, conversation_id: str) -> int:
        """Highest stored turn index, -1 for an empty conversation."""
        where = self._where(conversation_id, "turn")
        result = await self._run(lambda: self._collection.get(where=where, include=["metadatas"]))
        indices = [int(m["turn_index"]) for m in result["metadatas"] or []]
        return max(indices, default=-1)

    async def search(
        self,
        conversation_id: str,
        vector: Sequence[float],
        k: int,
        before: int,
        between: tuple[float, float] | None = None,
        speakers: Sequence[str] = (),
    ) -> list[Recalled]:
        """The k turns nearest to vector with turn_index < before, created within `between` (epoch s)."""
        if k <= 0 or before <= 0:
            return []
        clauses: list[dict[str, Any]] = [{"turn_index": {"$lt": before}}, NOT_ABANDONED]
        if between is not None:
            clauses += [{"created_at_ts": {"$gte": between[0]}}, {"created_at_ts": {"$lt": between[1]}}]
        if speakers:
            clauses.append({"name": {"$in": list(speakers)}})
        where = self._where(conversation_id, "turn", *clauses)
        result = await self._run(
            lambda: self._collection.query(
                query_embeddings=[list(vector)],
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        )
        return [
            Recalled(turn=turn_from_record(doc, meta), score=score) for _, doc, meta, score in hits(result)
        ]

    async def score(
        self, conversation_id: str, indices: Sequence[int], vector: Sequence[float]
    ) -> list[Recalled]:
        """The given turns (abandoned ones left out), each with its cosine similarity to vector."""
        if not indices:
            return []
        ids = [turn_id(conversation_id, i) for i in indices]
        result = await self._run(
            lambda: self._collection.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        )
        embeddings = result["embeddings"] if result["embeddings"] is not None else []
        return [
            Recalled(
                turn=turn_from_record(doc, meta),
                score=round(float(sum(a * b for a, b in zip(emb, vector, strict=True))), 4),
            )
            for doc, meta, emb in zip(
                result["documents"] or [], result["metadatas"] or [], embeddings, strict=True
            )
            if not meta.get("abandoned", False)
        ]

    async def abandon(self, conversation_id: str, turn_indices: Sequence[int]) -> None:
        """Mark turns abandoned (kept, but no longer read into prompts or recalled)."""
        if not turn_indices:
            return
        ids = [turn_id(conversation_id, i) for i in turn_indices]
        metas: list[Any] = [{"abandoned": True} for _ in ids]
        await self._run(lambda: self._collection.update(ids=ids, metadatas=metas))

    async def add_summary(self, summary: Summary, vector: Sequence[float]) -> None:
        meta = summary_metadata(summary, self._tenant)
        await self._run(
            lambda: self._collection.upsert(
                ids=[summary.id],
                documents=[summary.content],
                metadatas=[meta],
                embeddings=[list(vector)],
            )
        )

    async def summaries(self, conversation_id: str) -> list[Summary]:
        where = self._where(conversation_id, "summary")
        result = await self._run(
            lambda: self._collection.get(where=where, include=["documents", "metadatas"])
        )
        found = [summary_from_record(doc, meta) for _, doc, meta in records(result)]
        return sorted(found, key=lambda s: (s.turn_to, s.level))

    async def delete_conversation(self, conversation_id: str) -> int:
        where = {"conversation_id": conversation_id}

        def delete() -> int:
            ids = self._collection.get(where=where, include=[])["ids"]
            for start in range(0, len(ids), DELETE_BATCH):
                self._collection.delete(ids=ids[start : start + DELETE_BATCH])
            return len(ids)

        return await self._run(delete)

    async def ping(self) -> None:
        await self._run(self._client.heartbeat)
