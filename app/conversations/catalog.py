"""Every tenant's conversations in one SQLite table: how many turns and summaries, first and last activity.

Kept in step by History where turns are appended, summaries added and conversations forgotten, so
listing a tenant's conversations, and counting what it stores, is one indexed query instead of a
scan of Chroma's collections.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from app.conversations.models import Summary, Turn
from app.storage.fts import connect, transaction
from app.storage.threads import in_thread

T = TypeVar("T")
SQLITE_MAX = 2**63 - 1  # an offset past every row, as SQLite's integers go no further
FILLED = 1  # PRAGMA user_version once the table was filled from the keyword index's rows


@dataclass(frozen=True)
class Entry:
    """One conversation as the catalog lists it."""

    conversation_id: str
    turns: int
    summaries: int
    first_activity: datetime
    last_activity: datetime


@dataclass(frozen=True)
class Sizes:
    """What is stored, all tenants together."""

    conversations: int
    turns: int
    summaries: int


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Catalog:
    """The table of conversations of every tenant; `scoped(tenant)` is the view a tenant's services use."""

    def __init__(self, path: Path | str) -> None:
        self._db = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS conversations (tenant TEXT NOT NULL, "
                "conversation_id TEXT NOT NULL, turns INTEGER NOT NULL, summaries INTEGER NOT NULL, "
                "first_activity REAL NOT NULL, last_activity REAL NOT NULL, "
                "PRIMARY KEY (tenant, conversation_id))"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS conversations_by_activity "
                "ON conversations (tenant, last_activity)"
            )

    async def run(self, fn: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        """`fn` on the connection in a worker thread; in one transaction when it writes."""

        def call() -> T:
            if not write:
                return fn(self._db)
            with transaction(self._db):
                return fn(self._db)

        return await in_thread(call, "the conversation catalog", self._lock, (sqlite3.Error,))

    def scoped(self, tenant: str) -> TenantCatalog:
        """One tenant's conversations: every query of the view carries the tenant."""
        return TenantCatalog(self, tenant)

    async def filled(self) -> bool:
        """Whether the table was filled from the data stored before it existed."""
        return await self.run(lambda db: int(db.execute("PRAGMA user_version").fetchone()[0]) >= FILLED)

    async def fill(self, entries: Sequence[tuple[str, Entry]]) -> None:
        """Add (tenant, entry) rows found in older data, keeping any row already there; marks it filled."""

        def fill(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR IGNORE INTO conversations VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        tenant,
                        e.conversation_id,
                        e.turns,
                        e.summaries,
                        e.first_activity.timestamp(),
                        e.last_activity.timestamp(),
                    )
                    for tenant, e in entries
                ],
            )
            db.execute(f"PRAGMA user_version = {FILLED}")

        await self.run(fill, write=True)

    def sizes(self) -> Sizes:
        """Conversations, turns and summaries stored by all tenants; blocking (a scrape reads it)."""
        sql = "SELECT count(*), coalesce(sum(turns), 0), coalesce(sum(summaries), 0) FROM conversations"
        with self._lock:
            conversations, turns, summaries = self._db.execute(sql).fetchone()
        return Sizes(int(conversations), int(turns), int(summaries))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class TenantCatalog:
    """One tenant's rows of the catalog."""

    def __init__(self, catalog: Catalog, tenant: str) -> None:
        self._catalog = catalog
        self.tenant = tenant

    async def turns_added(self, turns: Sequence[Turn]) -> None:
        """Note stored turns (of one conversation or several): counts and activity move forward."""
        rows: dict[str, tuple[int, float, float]] = {}
        for turn in turns:
            count, first, last = rows.get(turn.conversation_id, (0, float("inf"), float("-inf")))
            at = turn.created_at.timestamp()
            rows[turn.conversation_id] = (max(count, turn.turn_index + 1), min(first, at), max(last, at))
        sql = (
            "INSERT INTO conversations VALUES (?, ?, ?, 0, ?, ?) "
            "ON CONFLICT (tenant, conversation_id) DO UPDATE SET turns = max(turns, excluded.turns), "
            "first_activity = min(first_activity, excluded.first_activity), "
            "last_activity = max(last_activity, excluded.last_activity)"
        )
        params = [(self.tenant, cid, n, first, last) for cid, (n, first, last) in rows.items()]
        await self._catalog.run(lambda db: db.executemany(sql, params), write=True)

    async def summary_added(self, summary: Summary) -> None:
        sql = (
            "UPDATE conversations SET summaries = summaries + 1, last_activity = max(last_activity, ?) "
            "WHERE tenant = ? AND conversation_id = ?"
        )
        params = (summary.created_at.timestamp(), self.tenant, summary.conversation_id)
        await self._catalog.run(lambda db: db.execute(sql, params), write=True)

    async def forget(self, conversation_id: str) -> None:
        sql = "DELETE FROM conversations WHERE tenant = ? AND conversation_id = ?"
        await self._catalog.run(lambda db: db.execute(sql, (self.tenant, conversation_id)), write=True)

    async def page(self, limit: int, offset: int) -> tuple[list[Entry], int]:
        """The tenant's conversations, most recently active first, and how many it has in all."""

        def page(db: sqlite3.Connection) -> tuple[list[Entry], int]:
            rows = db.execute(
                "SELECT conversation_id, turns, summaries, first_activity, last_activity FROM conversations "
                "WHERE tenant = ? ORDER BY last_activity DESC, conversation_id LIMIT ? OFFSET ?",
                (self.tenant, min(limit, SQLITE_MAX), min(offset, SQLITE_MAX)),
            ).fetchall()
            sql = "SELECT count(*) FROM conversations WHERE tenant = ?"
            total = db.execute(sql, (self.tenant,)).fetchone()
            entries = [Entry(str(c), int(t), int(s), moment(f), moment(la)) for c, t, s, f, la in rows]
            return entries, int(total[0])

        return await self._catalog.run(page)

    def totals(self) -> Sizes:
        """What every tenant stores together (blocking; a scrape reads it)."""
        return self._catalog.sizes()

    async def stored_turns(self) -> int:
        """Turns the tenant stores, in all its conversations."""
        sql = "SELECT coalesce(sum(turns), 0) FROM conversations WHERE tenant = ?"
        return await self._catalog.run(lambda db: int(db.execute(sql, (self.tenant,)).fetchone()[0]))


class Reader(Protocol):
    """What filling the catalog reads of a tenant's stored conversations."""

    async def turns(
        self, conversation_id: str, start: int, stop: int, include_abandoned: bool = False
    ) -> list[Turn]: ...
    async def summaries(self, conversation_id: str) -> list[Summary]: ...


async def fill_catalog(
    catalog: Catalog, conversations: Sequence[tuple[str, str, int]], store_for: Callable[[str], Reader]
) -> int:
    """Fill a new catalog from (tenant, conversation, turns) rows of the keyword index; how many rows.

    Each conversation's first and last turn give its activity; done once, on the first start
    with a catalog.
    """
    if await catalog.filled():
        return 0
    entries: list[tuple[str, Entry]] = []
    for tenant, conversation_id, count in conversations:
        store = store_for(tenant)
        ends = await store.turns(conversation_id, 0, 1, True) + await store.turns(
            conversation_id, count - 1, count, True
        )
        if not ends:
            continue
        summaries = len(await store.summaries(conversation_id))
        entry = Entry(conversation_id, count, summaries, ends[0].created_at, ends[-1].created_at)
        entries.append((tenant, entry))
    await catalog.fill(entries)
    return len(entries)
