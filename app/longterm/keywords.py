"""BM25 keyword search over long-term memories (title, content, tags) with SQLite FTS5."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from app.longterm.models import LongTermMemory
from app.storage.fts import connect, match_expression, transaction, words


class MemoryKeywordIndex:
    """SQLite FTS5 over title, content and tags; BM25 ranks the hits.

    Not thread-safe by itself: callers hold `lock` around every use (MemoryStore does).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5("
            "id UNINDEXED, tenant UNINDEXED, title, content, tags, tokenize='porter unicode61')"
        )
        self.lock = threading.Lock()  # one connection, shared by worker threads

    def transaction(self) -> AbstractContextManager[None]:
        """Writes inside commit together, or not at all."""
        return transaction(self._db)

    def put(self, memories: Sequence[LongTermMemory], tenant: str) -> None:
        self.remove([m.id for m in memories], tenant)
        self._db.executemany(
            "INSERT INTO memory_fts (id, tenant, title, content, tags) VALUES (?, ?, ?, ?, ?)",
            [(m.id, tenant, m.title, m.content, " ".join(m.tags)) for m in memories],
        )

    def remove(self, ids: Sequence[str], tenant: str) -> None:
        """Drop the tenant's rows of these memory ids (another tenant may use the same ids)."""
        self._db.executemany("DELETE FROM memory_fts WHERE id = ? AND tenant = ?", [(i, tenant) for i in ids])

    def ids(self, tenant: str) -> set[str]:
        rows = self._db.execute("SELECT id FROM memory_fts WHERE tenant = ?", (tenant,)).fetchall()
        return {str(r[0]) for r in rows}

    def count(self, tenant: str) -> int:
        """How many memories of the tenant are indexed (every memory is, see MemoryStore)."""
        return int(
            self._db.execute("SELECT count(*) FROM memory_fts WHERE tenant = ?", (tenant,)).fetchone()[0]
        )

    def tenants(self) -> set[str]:
        """The tenants with indexed memories."""
        return {str(r[0]) for r in self._db.execute("SELECT DISTINCT tenant FROM memory_fts")}

    def total(self) -> int:
        """How many memories are indexed, every tenant's."""
        return int(self._db.execute("SELECT count(*) FROM memory_fts").fetchone()[0])

    def held(self, ids: Sequence[str], tenant: str) -> set[str]:
        """Which of these ids the tenant's memories use."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # under SQLite's limit on parameters
            batch = list(ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            sql = f"SELECT id FROM memory_fts WHERE tenant = ? AND id IN ({marks})"
            found |= {str(r[0]) for r in self._db.execute(sql, (tenant, *batch))}
        return found

    def search(self, text: str, tenant: str, limit: int) -> dict[str, float]:
        """Ids matching any word, scored by BM25 relative to the best hit (best = 1.0)."""
        terms = words(text)
        if not terms:
            return {}
        rows = self._db.execute(
            "SELECT id, bm25(memory_fts) AS rank FROM memory_fts "
            "WHERE memory_fts MATCH ? AND tenant = ? ORDER BY rank LIMIT ?",
            (match_expression(terms), tenant, limit),
        ).fetchall()
        if not rows:
            return {}
        best = float(rows[0][1]) or -1.0  # bm25 is negative; more negative is better
        return {str(i): round(float(rank) / best, 4) if best else 1.0 for i, rank in rows}

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())

    def close(self) -> None:
        self._db.close()
