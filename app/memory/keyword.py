"""BM25 keyword search over turns with SQLite FTS5 (Chroma's local mode has no sparse index)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from app.errors import StoreUnavailable
from app.memory.types import Turn

T = TypeVar("T")
WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to say anything about a turn; BM25 would weigh them down anyway,
# but leaving them out keeps an OR query from matching every turn.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()  # noqa: SIM905 (a word list reads best as words)
)


def query_terms(text: str) -> list[str]:
    """The distinct content words of a query, in order."""
    seen: dict[str, None] = {}
    for word in WORD.findall(text.lower()):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query matching any term; quoting keeps user text from being read as FTS syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


class KeywordIndex:
    """Turn texts in an FTS5 table, searched with BM25; one SQLite file beside Chroma's folder."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS turns USING fts5("
                "content, conversation_id UNINDEXED, turn_index UNINDEXED, tokenize='porter unicode61')"
            )

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn()

        try:
            return await anyio.to_thread.run_sync(locked)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the keyword index failed: {exc}") from exc

    async def add(self, turns: Sequence[Turn], texts: Sequence[str]) -> None:
        """Index turns (replacing any earlier text of the same turn)."""
        rows = [(text, t.conversation_id, t.turn_index) for t, text in zip(turns, texts, strict=True)]

        def add() -> None:
            self._db.execute("BEGIN")
            try:
                for _, cid, index in rows:
                    self._db.execute(
                        "DELETE FROM turns WHERE conversation_id = ? AND turn_index = ?", (cid, index)
                    )
                self._db.executemany("INSERT INTO turns VALUES (?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

        await self._run(add)

    async def remove(self, conversation_id: str, indices: Sequence[int]) -> None:
        params = [(conversation_id, i) for i in indices]
        await self._run(
            lambda: (
                self._db.executemany(
                    "DELETE FROM turns WHERE conversation_id = ? AND turn_index = ?", params
                ).rowcount
            )
        )

    async def search(self, conversation_id: str, query: str, k: int, before: int) -> list[tuple[int, float]]:
        """(turn_index, BM25 score, higher is better) of the k best turns with turn_index < before."""
        terms = query_terms(query)
        if not terms or k <= 0 or before <= 0:
            return []
        sql = (
            "SELECT turn_index, -bm25(turns) FROM turns WHERE turns MATCH ? "
            "AND conversation_id = ? AND turn_index < ? ORDER BY bm25(turns) LIMIT ?"
        )
        params = (match_expression(terms), conversation_id, before, k)
        rows = await self._run(lambda: self._db.execute(sql, params).fetchall())
        return [(int(index), float(score)) for index, score in rows]

    async def count(self, conversation_id: str) -> int:
        sql = "SELECT count(*) FROM turns WHERE conversation_id = ?"
        return int((await self._run(lambda: self._db.execute(sql, (conversation_id,)).fetchone()))[0])

    async def delete_conversation(self, conversation_id: str) -> int:
        sql = "DELETE FROM turns WHERE conversation_id = ?"
        return int(await self._run(lambda: self._db.execute(sql, (conversation_id,)).rowcount))

    def close(self) -> None:
        with self._lock:
            self._db.close()
