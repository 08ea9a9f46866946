"""BM25 keyword search over turns with SQLite FTS5 (Chroma's local mode has no sparse index)."""

from __future__ import annotations

import copy
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from app.conversations.models import Turn
from app.storage.fts import connect, match_expression, transaction, words
from app.storage.threads import in_thread

T = TypeVar("T")
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
    return [word for word in words(text) if word not in STOPWORDS]


def scope_token(conversation_id: str, tenant: str = "default") -> str:
    """One FTS token standing for a tenant's conversation, whatever characters either name has."""
    key = f"{len(tenant)}:{tenant}/{conversation_id}"  # the length keeps ("a/b", "c") apart from ("a", "b/c")
    return "c" + hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


class KeywordIndex:
    """Turn texts in an FTS5 table, searched with BM25; one SQLite file beside Chroma's folder.

    `turn_rows` maps (tenant, conversation, turn) to the row id of the turn's text, so writes
    and deletes are keyed lookups. Each text carries its tenant's conversation as an FTS token
    (`scope`, weighted 0 in BM25), so a search intersects with that conversation's postings
    instead of ranking the matches of every conversation and filtering after.

    An index is one tenant's view of the file: every row it reads or writes carries its tenant.
    `scoped` gives another tenant's view of the same file; only the index opened on the path
    closes it.
    """

    def __init__(self, path: Path | str, tenant: str = "default") -> None:
        self._db = connect(path)
        self._lock = threading.Lock()
        self.tenant = tenant
        with self._lock, transaction(self._db):
            # The first layout (conversation as an unindexed FTS column) scanned the whole
            # table per write; drop it: History rebuilds each conversation's entries from
            # Chroma when their count disagrees.
            self._db.execute("DROP TABLE IF EXISTS turns")
            self._db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS turn_text USING fts5("
                "content, scope, tokenize='porter unicode61')"
            )
            self._migrate_to_tenants()
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS turn_rows (tenant TEXT NOT NULL, conversation_id TEXT NOT NULL, "
                "turn_index INTEGER NOT NULL, PRIMARY KEY (tenant, conversation_id, turn_index))"
            )

    def _migrate_to_tenants(self) -> None:
        """Rows of a file from before tenants (no tenant column) become this index's tenant's."""
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(turn_rows)")]
        if not columns or "tenant" in columns:
            return
        self._db.execute("ALTER TABLE turn_rows ADD COLUMN tenant TEXT NOT NULL DEFAULT ''")
        self._db.execute("UPDATE turn_rows SET tenant = ?", (self.tenant,))
        self._db.execute("ALTER TABLE turn_rows RENAME TO turn_rows_before_tenants")
        self._db.execute(
            "CREATE TABLE turn_rows (tenant TEXT NOT NULL, conversation_id TEXT NOT NULL, "
            "turn_index INTEGER NOT NULL, PRIMARY KEY (tenant, conversation_id, turn_index))"
        )
        self._db.execute(  # the same row ids: turn_text's rows are keyed by them
            "INSERT INTO turn_rows (rowid, tenant, conversation_id, turn_index) "
            "SELECT rowid, tenant, conversation_id, turn_index FROM turn_rows_before_tenants"
        )
        self._db.execute("DROP TABLE turn_rows_before_tenants")
        conversations = self._db.execute("SELECT DISTINCT conversation_id FROM turn_rows").fetchall()
        for (cid,) in conversations:
            self._db.execute(
                "UPDATE turn_text SET scope = ? WHERE rowid IN "
                "(SELECT rowid FROM turn_rows WHERE tenant = ? AND conversation_id = ?)",
                (scope_token(cid, self.tenant), self.tenant, cid),
            )

    def scoped(self, tenant: str) -> KeywordIndex:
        """Another tenant's view of the same file (sharing its connection and lock)."""
        view = copy.copy(self)
        view.tenant = tenant
        return view

    async def _run(self, fn: Callable[[], T]) -> T:
        return await in_thread(fn, "the keyword index", self._lock, (sqlite3.Error,))

    async def _write(self, fn: Callable[[], T]) -> T:
        def write() -> T:
            with transaction(self._db):
                return fn()

        return await self._run(write)

    def _row(self, conversation_id: str, turn_index: int) -> int | None:
        found = self._db.execute(
            "SELECT rowid FROM turn_rows WHERE tenant = ? AND conversation_id = ? AND turn_index = ?",
            (self.tenant, conversation_id, turn_index),
        ).fetchone()
        return None if found is None else int(found[0])

    async def add(self, turns: Sequence[Turn], texts: Sequence[str]) -> None:
        """Index turns (replacing any earlier text of the same turn)."""
        rows = [(t.conversation_id, t.turn_index, text) for t, text in zip(turns, texts, strict=True)]

        def add() -> None:
            for cid, index, text in rows:
                row = self._row(cid, index)
                if row is None:
                    cursor = self._db.execute(
                        "INSERT INTO turn_rows (tenant, conversation_id, turn_index) VALUES (?, ?, ?)",
                        (self.tenant, cid, index),
                    )
                    row = int(cursor.lastrowid or 0)
                else:
                    self._db.execute("DELETE FROM turn_text WHERE rowid = ?", (row,))
                self._db.execute(
                    "INSERT INTO turn_text (rowid, content, scope) VALUES (?, ?, ?)",
                    (row, text, scope_token(cid, self.tenant)),
                )

        await self._write(add)

    async def remove(self, conversation_id: str, indices: Sequence[int]) -> None:
        def remove() -> None:
            for index in indices:
                row = self._row(conversation_id, index)
                if row is not None:
                    self._db.execute("DELETE FROM turn_text WHERE rowid = ?", (row,))
                    self._db.execute("DELETE FROM turn_rows WHERE rowid = ?", (row,))

        await self._write(remove)

    async def search(self, conversation_id: str, query: str, k: int, before: int) -> list[tuple[int, float]]:
        """(turn_index, BM25 score, higher is better) of the k best turns with turn_index < before."""
        terms = query_terms(query)
        if not terms or k <= 0 or before <= 0:
            return []
        sql = (
            "SELECT r.turn_index, -bm25(turn_text, 1.0, 0.0) FROM turn_text "
            "JOIN turn_rows AS r ON r.rowid = turn_text.rowid "
            "WHERE turn_text MATCH ? AND r.tenant = ? AND r.conversation_id = ? AND r.turn_index < ? "
            "ORDER BY bm25(turn_text, 1.0, 0.0) LIMIT ?"
        )
        scope = scope_token(conversation_id, self.tenant)
        match = f"scope : {scope} AND content : ({match_expression(terms)})"
        params = (match, self.tenant, conversation_id, before, k)
        rows = await self._run(lambda: self._db.execute(sql, params).fetchall())
        return [(int(index), float(score)) for index, score in rows]

    async def count(self, conversation_id: str) -> int:
        sql = "SELECT count(*) FROM turn_rows WHERE tenant = ? AND conversation_id = ?"
        params = (self.tenant, conversation_id)
        return int((await self._run(lambda: self._db.execute(sql, params).fetchone()))[0])

    async def conversations(self) -> list[tuple[str, str, int]]:
        """(tenant, conversation, turns indexed) of every conversation in the file, all tenants'."""
        sql = "SELECT tenant, conversation_id, count(*) FROM turn_rows GROUP BY tenant, conversation_id"
        rows = await self._run(lambda: self._db.execute(sql).fetchall())
        return [(str(tenant), str(cid), int(n)) for tenant, cid, n in rows]

    async def delete_conversation(self, conversation_id: str) -> int:
        def delete() -> int:
            params = (self.tenant, conversation_id)
            rows = "SELECT rowid FROM turn_rows WHERE tenant = ? AND conversation_id = ?"
            self._db.execute(f"DELETE FROM turn_text WHERE rowid IN ({rows})", params)
            sql = "DELETE FROM turn_rows WHERE tenant = ? AND conversation_id = ?"
            return int(self._db.execute(sql, params).rowcount)

        return await self._write(delete)

    def close(self) -> None:
        with self._lock:
            self._db.close()
