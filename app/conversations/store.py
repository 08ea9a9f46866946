"""Turns and summaries in Chroma: each conversation's turns in a collection, its summaries in another.

Embedded Chroma (1.5) evaluates a metadata filter against the matching rows of every collection
before it keeps those of the one asked, so a `where` costs what the whole store holds. Reads here
go by collection and by id instead (a turn's id follows from its index); a filter is used only for
what ids cannot say (a time span, speakers), and its cost then still grows with the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from app.conversations.models import Recalled, Summary, Turn, turn_id
from app.storage.chroma import Metadata, collection_name, hits, iso, records, required_time
from app.storage.collections import HANDLES, Collections
from app.storage.migration import split_collection
from app.storage.threads import in_thread
from app.storage.vector_space import VectorSpace, space_metadata

T = TypeVar("T")

# Holds no records: its metadata records the vector space of all the conversations' collections.
COLLECTION = "mnemo_conversations"
LEGACY_COLLECTION = "mnemo_turns"  # every conversation in one collection, as stored before; moved at start
PREFIXES = {"turn": "mnemo_c_", "summary": "mnemo_s_"}  # a record's `kind` names its collection
READ_BATCH = 1000
EMPTY_GET: dict[str, Any] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}


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


def conversation_collection(tenant: str, conversation_id: str, kind: str = "turn") -> str:
    """The name of the collection that holds the turns (or summaries) of one tenant's conversation."""
    return collection_name(PREFIXES[kind], tenant, conversation_id)


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
    """Chroma behind the Store protocol, a collection per conversation; every call runs in a worker thread.

    Reads of a conversation that has no collection find nothing and create none.
    """

    def __init__(
        self,
        client: Any,
        tenant: str = "default",
        space: VectorSpace | None = None,
        handles: int = HANDLES,
    ) -> None:
        self._client = client
        self._tenant = tenant
        self._collections = Collections(client, space_metadata(space) if space else None, handles)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await in_thread(fn, "Chroma")

    def _name(self, conversation_id: str, kind: str = "turn") -> str:
        return conversation_collection(self._tenant, conversation_id, kind)

    def collection(self, name: str) -> Any:
        """The named collection, created if there is none (blocking: call it in a worker thread)."""
        return self._collections.open(name)

    async def _read(self, conversation_id: str, read: Callable[[Any], T], empty: T, kind: str = "turn") -> T:
        """`read` of the conversation's collection of `kind`; `empty` when there is none."""

        def run() -> T:
            found = self._collections.find(self._name(conversation_id, kind))
            return empty if found is None else read(found)

        return await self._run(run)

    async def _by_id(self, conversation_id: str, ids: list[str], include: list[str]) -> Any:
        return await self._read(conversation_id, lambda c: c.get(ids=ids, include=include), EMPTY_GET)

    async def _upsert(
        self, name: str, ids: list[str], docs: list[str], metas: list[Any], vectors: list[Any]
    ) -> None:
        await self._run(
            lambda: self.collection(name).upsert(ids=ids, documents=docs, metadatas=metas, embeddings=vectors)
        )

    async def add_turns(self, turns: Sequence[Turn], vectors: Sequence[Sequence[float]]) -> None:
        by_conversation: dict[str, list[tuple[Turn, list[float]]]] = {}
        for turn, vector in zip(turns, vectors, strict=True):
            by_conversation.setdefault(turn.conversation_id, []).append((turn, list(vector)))
        for conversation_id, pairs in by_conversation.items():
            await self._upsert(
                self._name(conversation_id),
                [t.id for t, _ in pairs],
                [t.content for t, _ in pairs],
                [turn_metadata(t, self._tenant) for t, _ in pairs],
                [v for _, v in pairs],
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
            result = await self._by_id(conversation_id, ids, ["documents", "metadatas"])
            found += [
                turn_from_record(doc, meta)
                for _, doc, meta in records(result)
                if include_abandoned or not meta.get("abandoned", False)
            ]
        return sorted(found, key=lambda t: t.turn_index)

    async def last_turn_index(self, conversation_id: str) -> int:
        """Highest stored turn index, -1 for an empty conversation.

        Indices run from 0 without gaps, so n turns end at n - 1: checked by id, with a read of
        every index as the fallback for a conversation that would break the rule.
        """

        def last(collection: Any) -> int:
            n = int(collection.count())
            ids = [turn_id(conversation_id, n - 1), turn_id(conversation_id, n)]
            if n == 0 or collection.get(ids=ids, include=[])["ids"] == ids[:1]:
                return n - 1
            metas = collection.get(include=["metadatas"])["metadatas"] or []
            return max((int(m["turn_index"]) for m in metas), default=-1)

        return await self._read(conversation_id, last, -1)

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
        clauses: list[dict[str, Any]] = []
        if between is not None:
            clauses += [{"created_at_ts": {"$gte": between[0]}}, {"created_at_ts": {"$lt": between[1]}}]
        if speakers:
            clauses.append({"name": {"$in": list(speakers)}})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        allowed = {turn_id(conversation_id, i) for i in range(before)}

        def nearest(collection: Any) -> list[Recalled]:
            # Abandoned turns are few: leave out those a query returns and ask again, rather than
            # filter on the flag, as a filter costs what the whole store holds.
            while allowed:
                result = collection.query(
                    query_embeddings=[list(vector)],
                    ids=sorted(allowed),
                    n_results=k,
                    where=where,
                    include=["documents", "metadatas", "distances"],
                )
                found = hits(result)
                abandoned = {i for i, _, meta, _ in found if meta.get("abandoned", False)}
                if not abandoned:
                    return [Recalled(turn_from_record(doc, meta), score) for _, doc, meta, score in found]
                allowed.difference_update(abandoned)
            return []

        return await self._read(conversation_id, nearest, [])

    async def score(
        self, conversation_id: str, indices: Sequence[int], vector: Sequence[float]
    ) -> list[Recalled]:
        """The given turns (abandoned ones left out), each with its cosine similarity to vector."""
        if not indices:
            return []
        ids = [turn_id(conversation_id, i) for i in indices]
        result = await self._by_id(conversation_id, ids, ["documents", "metadatas", "embeddings"])
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
        await self._read(conversation_id, lambda c: c.update(ids=ids, metadatas=metas), None)

    async def add_summary(self, summary: Summary, vector: Sequence[float]) -> None:
        meta = summary_metadata(summary, self._tenant)
        name = self._name(summary.conversation_id, "summary")
        await self._upsert(name, [summary.id], [summary.content], [meta], [list(vector)])

    async def summaries(self, conversation_id: str) -> list[Summary]:
        include = ["documents", "metadatas"]
        result = await self._read(conversation_id, lambda c: c.get(include=include), EMPTY_GET, "summary")
        found = [summary_from_record(doc, meta) for _, doc, meta in records(result)]
        return sorted(found, key=lambda s: (s.turn_to, s.level))

    async def delete_conversation(self, conversation_id: str) -> int:
        """Drop the conversation's collections; how many records (turns and summaries) they held."""
        names = [self._name(conversation_id, kind) for kind in PREFIXES]
        return await self._run(lambda: sum(self._collections.drop(name) for name in names))

    async def adopt_legacy(self) -> int:
        """Move the records of the one-collection layout into their conversations' collections; how many.

        Safe to interrupt: the next call goes on where this one stopped (see app.storage.migration).
        """
        return await self._run(
            lambda: split_collection(
                self._client,
                LEGACY_COLLECTION,
                lambda meta: self._name(str(meta["conversation_id"]), str(meta["kind"])),
                self.collection,
            )
        )

    async def ping(self) -> None:
        await self._run(self._client.heartbeat)
