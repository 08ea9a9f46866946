"""The long-term memory book: create (merging duplicates, superseding old facts), read, search, edit.

The supersession rule, applied on every create:

1. `supersedes=<id>` given: that memory (which must be current) is closed and the new one replaces it.
2. Otherwise, among the current memories of the same type and scope (project, or global):
   a. one with the same content (ignoring case and spacing), or cosine >= duplicate_threshold
      (0.9), is a duplicate: it is merged (use_count + 1, updated_at, tags united) and nothing is added;
   b. else the nearest with cosine >= supersede_threshold (0.75) is about the same subject with a new
      value: it is closed (`valid_to`, `superseded_by`) and the new memory records `supersedes`.
3. A closed memory stays, readable and in `GET /memories/{id}/history`, but is never injected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import anyio

from app.errors import InvalidInput, NotFound
from app.fields import utcnow
from app.longterm.models import LongTermMemory, MemoryQuery, MemoryType, Page, Scored, Source
from app.longterm.store import MemoryStore
from app.storage.embedder import Embedder

SEMANTIC_WEIGHT = 0.7  # hybrid score = 0.7 * cosine + 0.3 * relative BM25
NEIGHBOURS = 5


class Outcome(StrEnum):
    CREATED = "created"
    MERGED = "merged"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class Stored:
    """What a create did: the memory now holding the fact, and the one it closed, if any."""

    memory: LongTermMemory
    outcome: Outcome
    closed: LongTermMemory | None = None


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return float(sum(x * y for x, y in zip(a, b, strict=False)))


def scope_clause(project: str | None) -> dict[str, Any]:
    """Global memories always apply; a project's only in conversations that name it."""
    return {"project": {"$in": ["", project]}} if project else {"project": ""}


class Memories:
    """Typed long-term memories of one tenant."""

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        embedding_model: str,
        duplicate_threshold: float = 0.9,
        supersede_threshold: float = 0.75,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self.embedding_model = embedding_model
        self.duplicate_threshold = duplicate_threshold
        self.supersede_threshold = supersede_threshold
        # Creates look for duplicates and then write: one at a time, so two cannot both add.
        self._write = anyio.Lock()

    async def vector(self, memory: LongTermMemory) -> list[float]:
        [vector] = await self.vectors([memory])
        return vector

    async def vectors(self, memories: Sequence[LongTermMemory]) -> list[list[float]]:
        """The vectors memories are stored with (of their title and content)."""
        return await self._embedder.embed([m.embed_text for m in memories], "document")

    async def create(self, memory: LongTermMemory, supersedes: str | None = None) -> Stored:
        """Store a fact by the rule in this module's docstring."""
        vector = await self.vector(memory)
        async with self._write:
            if supersedes is not None:
                old = await self.get(supersedes)
                if not old.current:
                    raise InvalidInput(f"memory {supersedes} is not current; supersede its newest version")
                return await self._supersede(old, memory, vector)
            same_kind = await self._store.nearest(
                vector,
                NEIGHBOURS,
                {"current": True},
                {"type": memory.type.value},
                {"project": memory.project or ""},
            )
            for existing, score in same_kind:
                if existing.same_text_key == memory.same_text_key or score >= self.duplicate_threshold:
                    return Stored(await self._merge(existing, memory), Outcome.MERGED)
            if same_kind and same_kind[0][1] >= self.supersede_threshold:
                return await self._supersede(same_kind[0][0], memory, vector)
            await self._store.put([memory], [vector])
            return Stored(memory, Outcome.CREATED)

    async def _merge(self, existing: LongTermMemory, duplicate: LongTermMemory) -> LongTermMemory:
        tags = tuple(dict.fromkeys((*existing.tags, *duplicate.tags)))
        merged = replace(existing, use_count=existing.use_count + 1, updated_at=utcnow(), tags=tags)
        await self._store.update([merged])
        return merged

    async def _supersede(self, old: LongTermMemory, new: LongTermMemory, vector: Sequence[float]) -> Stored:
        now = utcnow()
        new = replace(new, supersedes=old.id, pinned=new.pinned or old.pinned)
        closed = replace(old, valid_to=now, superseded_by=new.id, updated_at=now)
        await self._store.put([new], [vector])
        await self._store.update([closed])
        return Stored(new, Outcome.SUPERSEDED, closed)

    async def get(self, memory_id: str) -> LongTermMemory:
        found = (await self._store.get([memory_id])).get(memory_id)
        if found is None:
            raise NotFound(f"no memory with id {memory_id!r}")
        return found

    async def get_many(self, ids: Sequence[str]) -> dict[str, LongTermMemory]:
        """The memories of these ids that exist, by id."""
        return await self._store.get(ids)

    async def scan(self, with_vectors: bool = False) -> list[tuple[LongTermMemory, list[float] | None]]:
        """Every memory (current, superseded and archived), with its vector when asked."""
        return await self._store.scan(with_vectors=with_vectors)

    def stored_by_all(self) -> int:
        """How many memories every tenant stores together (blocking; for metrics)."""
        return self._store.total()

    async def make_room(self, new: int) -> None:
        """Raise StorageFull (429), or OverStorageCap (413), if `new` more memories would pass the cap."""
        await self._store.make_room(new)

    async def restore(self, memories: Sequence[LongTermMemory], vectors: Sequence[Sequence[float]]) -> None:
        """Write memories exactly as given (ids, times and links kept), outside the supersession rule."""
        await self._store.put(memories, vectors)

    async def rewrite(self, memories: Sequence[LongTermMemory]) -> None:
        """Save memories whose text is unchanged (counts, tags, flags) exactly as given."""
        await self._store.update(memories)

    async def remove(self, ids: Sequence[str]) -> None:
        """Delete memories by id, whatever links point at them."""
        await self._store.delete(ids)

    async def update(self, memory_id: str, changes: dict[str, Any]) -> LongTermMemory:
        """Edit fields in place (a correction, not a new fact); re-embeds when the text changed."""
        async with self._write:
            old = await self.get(memory_id)
            new = replace(old, **changes, updated_at=utcnow())
            if new.embed_text != old.embed_text:
                await self._store.put([new], [await self.vector(new)])
            else:
                await self._store.update([new])
            return new

    async def delete(self, memory_id: str) -> LongTermMemory:
        async with self._write:
            memory = await self.get(memory_id)
            await self._store.delete([memory_id])
            return memory

    async def mark_used(self, ids: Sequence[str], moment: datetime | None = None) -> None:
        async with self._write:
            found = await self._store.get(ids)
            await self._store.update([m.used(moment) for m in found.values()])

    async def history(self, memory_id: str) -> list[LongTermMemory]:
        """The memory's versions, oldest first: what it superseded and what superseded it."""
        memory = await self.get(memory_id)
        chain = [memory]
        seen = {memory.id}
        for link in ("supersedes", "superseded_by"):
            step = memory
            while (next_id := getattr(step, link)) and next_id not in seen:
                found = (await self._store.get([next_id])).get(next_id)
                if found is None:  # a deleted version leaves a gap; the chain ends there
                    break
                seen.add(found.id)
                chain.append(found)
                step = found
        return sorted(chain, key=lambda m: (m.created_at, m.id))

    async def search(self, query: MemoryQuery) -> Page:
        """Filter, score (when text is given) and page the memories."""
        text = (query.text or "").strip()
        semantic = bool(text) and query.mode in ("semantic", "hybrid")
        rows = [(m, v) for m, v in await self._store.scan(with_vectors=semantic) if query.admits(m)]
        if not text:
            rows.sort(key=lambda row: (row[0].created_at, row[0].id), reverse=True)
            items = [Scored(m) for m, _ in rows]
        else:
            items = await self._score(text, query, rows)
        page = items[query.offset : query.offset + query.limit]
        return Page(page, len(items), query.offset, query.limit)

    async def _score(
        self, text: str, query: MemoryQuery, rows: list[tuple[LongTermMemory, list[float] | None]]
    ) -> list[Scored]:
        qvec = (await self._embedder.embed([text], "query"))[0] if query.mode != "keyword" else None
        keyword = await self._store.keyword(text) if query.mode != "semantic" else {}
        items = []
        for memory, vector in rows:
            sem = round(dot(qvec, vector), 4) if qvec is not None and vector is not None else None
            kw = keyword.get(memory.id, 0.0) if query.mode != "semantic" else None
            if query.mode == "keyword":
                score = kw or 0.0
                if not score:
                    continue
            elif query.mode == "semantic":
                score = max(sem or 0.0, 0.0)
            else:
                score = SEMANTIC_WEIGHT * max(sem or 0.0, 0.0) + (1 - SEMANTIC_WEIGHT) * (kw or 0.0)
            if score < query.min_score:
                continue
            items.append(Scored(memory, round(score, 4), sem, kw))
        items.sort(key=lambda s: (-(s.score or 0.0), s.memory.created_at, s.memory.id))
        return items

    async def injectable(
        self, text: str, project: str | None, top_k: int, threshold: float
    ) -> tuple[list[LongTermMemory], list[Scored]]:
        """Pinned memories of the scope, and the current ones relevant to `text` (score >= threshold)."""
        scope = scope_clause(project)
        pinned = await self._store.find({"current": True}, {"pinned": True}, scope)
        pinned.sort(key=lambda m: (m.created_at, m.id))
        if top_k <= 0 or not text.strip():
            return pinned, []
        [vector] = await self._embedder.embed([text], "query")
        hits = await self._store.nearest(vector, top_k + len(pinned), {"current": True}, scope)
        relevant = [Scored(m, s, s) for m, s in hits if s >= threshold and not m.pinned]
        return pinned, relevant[:top_k]

    async def stats(self) -> dict[str, Any]:
        rows = await self._store.scan(with_vectors=True)
        memories = [m for m, _ in rows]
        dims = len(rows[0][1] or []) if rows else 0
        current = [m for m in memories if m.current]
        text_bytes = sum(len(m.content.encode()) + len(m.title.encode()) for m in memories)
        return {
            "total": len(memories),
            "current": len(current),
            "superseded": sum(1 for m in memories if m.valid_to is not None),
            "archived": sum(1 for m in memories if m.archived),
            "pinned": sum(1 for m in current if m.pinned),
            "by_type": {t.value: sum(1 for m in current if m.type == t) for t in MemoryType},
            "by_source": {s.value: sum(1 for m in current if m.source == s) for s in Source},
            "by_project": dict(Counter(m.project or "" for m in current)),
            "tags": dict(Counter(t for m in current for t in m.tags).most_common()),
            "storage": {
                "text_bytes": text_bytes,
                "vector_bytes": len(memories) * 4 * dims,
                "keyword_index_bytes": await self._store.index_bytes(),
            },
            "embedding_model": self.embedding_model,
        }
