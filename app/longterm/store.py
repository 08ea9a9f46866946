"""Long-term memories on disk: Chroma for records and vectors, SQLite FTS5 for keywords.

Chroma holds each memory (content as the document, every other field as metadata, our
own vector); the FTS5 table indexes title, content and tags for keyword search. Writes
go to both inside one SQLite transaction that commits only after Chroma accepted the
write, and `reconcile()` (run at start-up) repairs the index after a crash in between.

Every tenant's memories share the one collection, so a record's Chroma id is its tenant and
its memory id (`tenant/id`; a memory id never holds a '/'): two tenants may use the same
memory id, and no id one tenant sends can name another's record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from app.errors import check_room
from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.models import LongTermMemory, MemoryType, Source
from app.storage.chroma import Metadata, from_iso, hits, iso, open_collection, records, required_time
from app.storage.threads import in_thread

T = TypeVar("T")

COLLECTION = "mnemo_memories"
BATCH = 1000


def record_id(tenant: str, memory_id: str) -> str:
    """The Chroma id of a tenant's memory."""
    return f"{tenant}/{memory_id}"


def memory_id_of(record: str) -> str:
    """The memory id a Chroma id stands for (tenant names may hold '/', memory ids never do)."""
    return record.rsplit("/", 1)[-1]


def key_by_tenant(collection: Any) -> int:
    """Give records stored before tenants (the memory id alone as Chroma id) their `tenant/id`; how many.

    Blocking (run it in a worker thread at start). Safe to interrupt: a record is copied under
    its new id before the old one goes, and the next start finishes what is left.
    """
    legacy = [i for i in collection.get(include=[])["ids"] if "/" not in i]
    if not legacy:
        return 0
    for start in range(0, len(legacy), BATCH):
        batch = legacy[start : start + BATCH]
        found = collection.get(ids=batch, include=["documents", "metadatas", "embeddings"])
        collection.upsert(
            ids=[
                record_id(str(meta["tenant"]), i)
                for i, meta in zip(found["ids"], found["metadatas"], strict=True)
            ],
            documents=found["documents"],
            metadatas=found["metadatas"],
            embeddings=found["embeddings"],
        )
        collection.delete(ids=list(found["ids"]))
    return len(legacy)


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
        "created_at": iso(memory.created_at),
        "created_at_ts": memory.created_at.timestamp(),
        "updated_at": iso(memory.updated_at),
        "use_count": memory.use_count,
        "last_used_at": iso(memory.last_used_at),
        "valid_to": iso(memory.valid_to),
        "superseded_by": memory.superseded_by or "",
        "supersedes": memory.supersedes or "",
        "archived": memory.archived,
        "current": memory.current,
    }


def memory_from_record(memory_id: str, document: str, meta: Metadata) -> LongTermMemory:
    return LongTermMemory(
        id=memory_id,
        type=MemoryType(str(meta["type"])),
        title=str(meta["title"]),
        content=document,
        tags=tuple(t for t in str(meta.get("tags", "")).split("|") if t),
        project=str(meta.get("project") or "") or None,
        source=Source(str(meta["source"])),
        pinned=bool(meta.get("pinned", False)),
        created_at=required_time(meta["created_at"]),
        updated_at=required_time(meta["updated_at"]),
        use_count=int(meta.get("use_count", 0)),
        last_used_at=from_iso(meta.get("last_used_at")),
        valid_to=from_iso(meta.get("valid_to")),
        superseded_by=str(meta.get("superseded_by") or "") or None,
        supersedes=str(meta.get("supersedes") or "") or None,
        archived=bool(meta.get("archived", False)),
    )


def stored_tenants(collection: Any, index: MemoryKeywordIndex) -> set[str]:
    """The tenants with memories in Chroma or in the keyword index (blocking; run it at start)."""
    held = {i.rsplit("/", 1)[0] for i in collection.get(include=[])["ids"] if "/" in i}
    with index.lock:
        return held | index.tenants()


class MemoryStore:
    """The memories of one tenant, in Chroma and the keyword index, kept consistent."""

    def __init__(
        self,
        client: Any,
        index: MemoryKeywordIndex,
        tenant: str = "default",
        collection: Any = None,
        max_memories: int = 0,
    ) -> None:
        """`collection`: the memories' collection already opened (tenants share it), else opened here;
        `max_memories`: how many the tenant may store (0: no cap)."""
        self._client = client
        self._index = index
        self._tenant = tenant
        self._max_memories = max_memories
        self._collection = collection if collection is not None else open_collection(client, COLLECTION)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await in_thread(fn, "the memory store", self._index.lock)

    def _where(self, *clauses: dict[str, Any]) -> dict[str, Any]:
        return {"$and": [{"tenant": self._tenant}, {"kind": "memory"}, *clauses]}

    def _ids(self, memory_ids: Sequence[str]) -> list[str]:
        return [record_id(self._tenant, i) for i in memory_ids]

    async def put(self, memories: Sequence[LongTermMemory], vectors: Sequence[Sequence[float]]) -> None:
        """Insert or replace memories with their vectors, in both stores or in neither."""
        if not memories:
            return
        ids = self._ids([m.id for m in memories])

        def write() -> None:
            with self._index.transaction():
                self._make_room(memories)
                self._index.put(memories, self._tenant)
                self._collection.upsert(
                    ids=ids,
                    documents=[m.content for m in memories],
                    metadatas=[memory_metadata(m, self._tenant) for m in memories],
                    embeddings=[list(v) for v in vectors],
                )

        await self._run(write)

    def _make_room(self, memories: Sequence[LongTermMemory]) -> None:
        """Refuse a write of new memories past the tenant's cap (replacing one takes no room)."""
        if self._max_memories > 0:
            self._check_room(
                len({m.id for m in memories} - self._index.held([m.id for m in memories], self._tenant))
            )

    def _check_room(self, adding: int) -> None:
        stored = self._index.count(self._tenant) if 0 < adding <= self._max_memories else 0
        check_room("memories", "MNEMO_MAX_STORED_MEMORIES", self._max_memories, stored, adding)

    async def make_room(self, adding: int) -> None:
        """Raise StorageFull (429), or OverStorageCap (413), if `adding` new memories would pass the cap."""
        if self._max_memories > 0:
            await self._run(lambda: self._check_room(adding))

    def total(self) -> int:
        """How many memories every tenant stores together (blocking; a scrape reads it)."""
        with self._index.lock:
            return self._index.total()

    async def count(self) -> int:
        """How many memories the tenant stores (superseded and archived ones too)."""
        return await self._run(lambda: self._index.count(self._tenant))

    async def update(self, memories: Sequence[LongTermMemory]) -> None:
        """Rewrite fields that do not change the vector (use counts, links, flags)."""
        if not memories:
            return

        def write() -> None:
            with self._index.transaction():
                self._index.put(memories, self._tenant)
                # No documents: Chroma would embed them with its default (downloading) model.
                self._collection.update(
                    ids=self._ids([m.id for m in memories]),
                    metadatas=[memory_metadata(m, self._tenant) for m in memories],
                )

        await self._run(write)

    async def get(self, ids: Sequence[str]) -> dict[str, LongTermMemory]:
        if not ids:
            return {}
        result = await self._run(
            lambda: self._collection.get(
                ids=self._ids(ids), where=self._where(), include=["documents", "metadatas"]
            )
        )
        found = [memory_from_record(memory_id_of(i), doc, meta) for i, doc, meta in records(result)]
        return {m.id: m for m in found}

    async def scan(self, with_vectors: bool = False) -> list[tuple[LongTermMemory, list[float] | None]]:
        """Every memory of the tenant (and its vector when asked)."""
        include = ["documents", "metadatas", *(["embeddings"] if with_vectors else [])]
        result = await self._run(lambda: self._collection.get(where=self._where(), include=include))
        vectors: Any = result.get("embeddings") if with_vectors else None
        found = []
        for n, (i, doc, meta) in enumerate(records(result)):
            vector = [float(x) for x in vectors[n]] if vectors is not None else None
            found.append((memory_from_record(memory_id_of(i), doc, meta), vector))
        return found

    async def find(self, *clauses: dict[str, Any]) -> list[LongTermMemory]:
        """The memories matching metadata clauses (Chroma `where` syntax)."""
        where = self._where(*clauses)
        result = await self._run(
            lambda: self._collection.get(where=where, include=["documents", "metadatas"])
        )
        return [memory_from_record(memory_id_of(i), doc, meta) for i, doc, meta in records(result)]

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
        return [
            (memory_from_record(memory_id_of(i), doc, meta), score) for i, doc, meta, score in hits(result)
        ]

    async def keyword(self, text: str, limit: int = 1000) -> dict[str, float]:
        return await self._run(lambda: self._index.search(text, self._tenant, limit))

    async def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return

        def delete() -> None:
            with self._index.transaction():
                self._index.remove(ids, self._tenant)
                keys = self._ids(ids)
                for start in range(0, len(keys), BATCH):
                    self._collection.delete(ids=keys[start : start + BATCH])

        await self._run(delete)

    async def reconcile(self) -> tuple[int, int]:
        """Make the keyword index hold exactly the memories Chroma holds: (added, removed)."""

        def repair() -> tuple[int, int]:
            result = self._collection.get(where=self._where(), include=["documents", "metadatas"])
            held = {
                memory_id_of(i): memory_from_record(memory_id_of(i), doc, meta)
                for i, doc, meta in records(result)
            }
            indexed = self._index.ids(self._tenant)
            missing = [m for i, m in held.items() if i not in indexed]
            extra = [i for i in indexed if i not in held]
            with self._index.transaction():
                self._index.put(missing, self._tenant)
                self._index.remove(extra, self._tenant)
            return len(missing), len(extra)

        return await self._run(repair)

    async def index_bytes(self) -> int:
        return await self._run(self._index.size)

    def close(self) -> None:
        self._index.close()
