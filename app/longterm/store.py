"""Long-term memories on disk: Chroma for records and vectors, SQLite FTS5 for keywords.

Chroma holds each memory (content as the document, every other field as metadata, our
own vector); the FTS5 table indexes title, content and tags for keyword search. Writes
go to both inside one SQLite transaction that commits only after Chroma accepted the
write, and `reconcile()` (run at start-up) repairs the index after a crash in between.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from app.errors import StoreUnavailable
from app.longterm.models import LongTermMemory, MemoryType, Source

T = TypeVar("T")
Meta = Mapping[str, str | int | float | bool]

COLLECTION = "mnemo_memories"
WORD = re.compile(r"\w+", re.UNICODE)
BATCH = 1000


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def encode_tags(tags: Sequence[str]) -> str:
    """Tags as one string, '|' around each, so a substring test is a tag test."""
    return "|" + "|".join(tags) + "|" if tags else ""


def memory_metadata(memory: LongTermMemory, tenant: str) -> dict[str, str | int | float | bool]:
    # Chroma metadata takes no None: an empty string stands for "absent".
    return {
        "tenant": tenant,
        "kind": "memory",
        "type": memory.type.value,
        "title": memory.title,
        "tags": encode_tags(memory.tags),
        "project": memory.project or "",
        "source": memory.source.value,
        "pinned": memory.pinned,
        "created_at": _iso(memory.created_at),
        "created_at_ts": memory.created_at.timestamp(),
        "updated_at": _iso(memory.updated_at),
        "use_count": memory.use_count,
        "last_used_at": _iso(memory.last_used_at),
        "valid_to": _iso(memory.valid_to),
        "superseded_by": memory.superseded_by or "",
        "supersedes": memory.supersedes or "",
        "archived": memory.archived,
        "current": memory.current,
    }


def memory_from_record(memory_id: str, document: str, meta: Meta) -> LongTermMemory:
    created = _when(meta["created_at"])
    updated = _when(meta["updated_at"])
    assert created is not None and updated is not None
    return LongTermMemory(
        id=memory_id,
        type=MemoryType(str(meta["type"])),
        title=str(meta["title"]),
        content=document,
        tags=tuple(t for t in str(meta.get("tags", "")).split("|") if t),
        project=str(meta.get("project") or "") or None,
        source=Source(str(meta["source"])),
        pinned=bool(meta.get("pinned", False)),
        created_at=created,
        updated_at=updated,
        use_count=int(meta.get("use_count", 0)),
        last_used_at=_when(meta.get("last_used_at")),
        valid_to=_when(meta.get("valid_to")),
        superseded_by=str(meta.get("superseded_by") or "") or None,
        supersedes=str(meta.get("supersedes") or "") or None,
        archived=bool(meta.get("archived", False)),
    )


def fts_query(text: str) -> str:
    """Any of the words, each quoted so FTS5 syntax in user text is inert."""
    words = dict.fromkeys(w.lower() for w in WORD.findall(text))
    return " OR ".join(f'"{w}"' for w in words)


class MemoryKeywordIndex:
    """SQLite FTS5 over title, content and tags; BM25 ranks the hits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5("
            "id UNINDEXED, tenant UNINDEXED, title, content, tags, tokenize='porter unicode61')"
        )
        self.lock = threading.Lock()  # one connection, shared by worker threads

    def begin(self) -> None:
        self._db.execute("BEGIN")

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def put(self, memories: Sequence[LongTermMemory], tenant: str) -> None:
        self.remove([m.id for m in memories])
        self._db.executemany(
            "INSERT INTO memory_fts (id, tenant, title, content, tags) VALUES (?, ?, ?, ?, ?)",
            [(m.id, tenant, m.title, m.content, " ".join(m.tags)) for m in memories],
        )

    def remove(self, ids: Sequence[str]) -> None:
        self._db.executemany("DELETE FROM memory_fts WHERE id = ?", [(i,) for i in ids])

    def ids(self, tenant: str) -> set[str]:
        rows = self._db.execute("SELECT id FROM memory_fts WHERE tenant = ?", (tenant,)).fetchall()
        return {str(r[0]) for r in rows}

    def search(self, text: str, tenant: str, limit: int) -> dict[str, float]:
        """Ids matching any word, scored by BM25 relative to the best hit (best = 1.0)."""
        query = fts_query(text)
        if not query:
            return {}
        rows = self._db.execute(
            "SELECT id, bm25(memory_fts) AS rank FROM memory_fts "
            "WHERE memory_fts MATCH ? AND tenant = ? ORDER BY rank LIMIT ?",
            (query, tenant, limit),
        ).fetchall()
        if not rows:
            return {}
        best = float(rows[0][1]) or -1.0  # bm25 is negative; more negative is better
        return {str(i): round(float(rank) / best, 4) if best else 1.0 for i, rank in rows}

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())

    def close(self) -> None:
        self._db.close()


class MemoryStore:
    """The memories of one tenant, in Chroma and the keyword index, kept consistent."""

    def __init__(self, client: Any, index: MemoryKeywordIndex, tenant: str = "default") -> None:
        self._client = client
        self._index = index
        self._tenant = tenant
        # Our own vectors always: Chroma's default embedder would download a model.
        self._collection = client.get_or_create_collection(
            COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._index.lock:
                return fn()

        try:
            return await anyio.to_thread.run_sync(locked)
        except StoreUnavailable:
            raise
        except Exception as exc:  # chromadb and sqlite raise many unrelated types
            raise StoreUnavailable(f"the memory store failed: {exc}") from exc

    def _where(self, *clauses: dict[str, Any]) -> dict[str, Any]:
        return {"$and": [{"tenant": self._tenant}, {"kind": "memory"}, *clauses]}

    async def put(self, memories: Sequence[LongTermMemory], vectors: Sequence[Sequence[float]]) -> None:
        """Insert or replace memories with their vectors, in both stores or in neither."""
        if not memories:
            return
        ids = [m.id for m in memories]

        def write() -> None:
            self._index.begin()
            try:
                self._index.put(memories, self._tenant)
                self._collection.upsert(
                    ids=ids,
                    documents=[m.content for m in memories],
                    metadatas=[memory_metadata(m, self._tenant) for m in memories],
                    embeddings=[list(v) for v in vectors],
                )
            except BaseException:
                self._index.rollback()
                raise
            self._index.commit()

        await self._run(write)

    async def update(self, memories: Sequence[LongTermMemory]) -> None:
        """Rewrite fields that do not change the vector (use counts, links, flags)."""
        if not memories:
            return

        def write() -> None:
            self._index.begin()
            try:
                self._index.put(memories, self._tenant)
                # No documents: Chroma would embed them with its default (downloading) model.
                self._collection.update(
                    ids=[m.id for m in memories],
                    metadatas=[memory_metadata(m, self._tenant) for m in memories],
                )
            except BaseException:
                self._index.rollback()
                raise
            self._index.commit()

        await self._run(write)

    async def get(self, ids: Sequence[str]) -> dict[str, LongTermMemory]:
        if not ids:
            return {}
        result = await self._run(
            lambda: self._collection.get(
                ids=list(ids), where=self._where(), include=["documents", "metadatas"]
            )
        )
        return {
            i: memory_from_record(i, doc, meta)
            for i, doc, meta in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True
            )
        }

    async def scan(self, with_vectors: bool = False) -> list[tuple[LongTermMemory, list[float] | None]]:
        """Every memory of the tenant (and its vector when asked)."""
        include = ["documents", "metadatas", *(["embeddings"] if with_vectors else [])]
        result = await self._run(lambda: self._collection.get(where=self._where(), include=include))
        vectors: Any = result.get("embeddings") if with_vectors else None
        found = []
        for n, (i, doc, meta) in enumerate(
            zip(result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True)
        ):
            vector = [float(x) for x in vectors[n]] if vectors is not None else None
            found.append((memory_from_record(i, doc, meta), vector))
        return found

    async def find(self, *clauses: dict[str, Any]) -> list[LongTermMemory]:
        """The memories matching metadata clauses (Chroma `where` syntax)."""
        where = self._where(*clauses)
        result = await self._run(
            lambda: self._collection.get(where=where, include=["documents", "metadatas"])
        )
        return [
            memory_from_record(i, doc, meta)
            for i, doc, meta in zip(
                result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True
            )
        ]

    async def nearest(
        self, vector: Sequence[float], k: int, *clauses: dict[str, Any]
    ) -> list[tuple[LongTermMemory, float]]:
        """The k memories nearest to vector among those matching clauses, with cosine similarity."""
        if k <= 0:
            return []
        where = self._where(*clauses)

        def query() -> Any:
            n = len(self._collection.get(where=where, include=[])["ids"])
            if n == 0:
                return None
            return self._collection.query(
                query_embeddings=[list(vector)],
                n_results=min(k, n),
                where=where,
                include=["documents", "metadatas", "distances"],
            )

        result = await self._run(query)
        if result is None:
            return []
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        dists = (result["distances"] or [[]])[0]
        return [
            (memory_from_record(i, doc, meta), round(1.0 - float(dist), 4))
            for i, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    async def keyword(self, text: str, limit: int = 1000) -> dict[str, float]:
        return await self._run(lambda: self._index.search(text, self._tenant, limit))

    async def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return

        def delete() -> None:
            self._index.begin()
            try:
                self._index.remove(ids)
                for start in range(0, len(ids), BATCH):
                    self._collection.delete(ids=list(ids[start : start + BATCH]))
            except BaseException:
                self._index.rollback()
                raise
            self._index.commit()

        await self._run(delete)

    async def reconcile(self) -> tuple[int, int]:
        """Make the keyword index hold exactly the memories Chroma holds: (added, removed)."""

        def repair() -> tuple[int, int]:
            result = self._collection.get(where=self._where(), include=["documents", "metadatas"])
            held = {
                i: memory_from_record(i, doc, meta)
                for i, doc, meta in zip(
                    result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True
                )
            }
            indexed = self._index.ids(self._tenant)
            missing = [m for i, m in held.items() if i not in indexed]
            extra = [i for i in indexed if i not in held]
            self._index.begin()
            self._index.put(missing, self._tenant)
            self._index.remove(extra)
            self._index.commit()
            return len(missing), len(extra)

        return await self._run(repair)

    async def index_bytes(self) -> int:
        return await self._run(self._index.size)

    def close(self) -> None:
        self._index.close()
