"""The catalog of conversations: kept in step by History, one tenant's rows apart, filled from older data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.conversations.catalog import Catalog, fill_catalog
from app.conversations.history import History, NewMessage
from app.conversations.keywords import KeywordIndex
from app.conversations.models import Summary, Turn
from app.conversations.store import ChromaStore
from tests.fakes import HashEmbedder

DAY = datetime(2024, 5, 8, 12, tzinfo=UTC)


def said(text: str, at: datetime | None = None) -> NewMessage:
    return NewMessage(role="user", content=text, created_at=at)


async def write(history: History, cid: str, *messages: NewMessage) -> None:
    async with history.locked(cid):
        await history.append(cid, messages)


async def test_history_keeps_the_catalog_in_step(
    tmp_path: Path, store: ChromaStore, embedder: HashEmbedder
) -> None:
    catalog = Catalog(tmp_path / "conversations.sqlite3")
    history = History(store, embedder, catalog=catalog.scoped("default"))
    await write(history, "old", said("a", DAY), said("b", DAY + timedelta(hours=1)))
    await write(history, "new", said("c", DAY + timedelta(days=1)))
    await write(history, "old", said("d", DAY + timedelta(hours=2)))
    summary = Summary("old", 0, 0, 1, "a and b", DAY, DAY, created_at=DAY + timedelta(hours=3))
    async with history.locked("old"):
        await history.add_summary(summary, embedder.vector("a and b"))

    entries, total = await catalog.scoped("default").page(50, 0)
    assert total == 2
    assert [(e.conversation_id, e.turns, e.summaries) for e in entries] == [("new", 1, 0), ("old", 3, 1)]
    assert entries[1].first_activity == DAY
    assert entries[1].last_activity == DAY + timedelta(hours=3)
    assert await catalog.scoped("default").stored_turns() == 4
    assert catalog.sizes().turns == 4 and catalog.sizes().summaries == 1

    async with history.locked("old"):
        await history.forget("old")
    entries, total = await catalog.scoped("default").page(50, 0)
    assert [e.conversation_id for e in entries] == ["new"] and total == 1
    catalog.close()


async def test_a_tenant_sees_only_its_rows_and_pages_go_by_activity(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "conversations.sqlite3")
    ours, theirs = catalog.scoped("ours"), catalog.scoped("theirs")
    await ours.turns_added(
        [Turn(f"c{i}", 0, "user", "x", created_at=DAY + timedelta(minutes=i)) for i in range(5)]
    )
    await theirs.turns_added([Turn("c1", 0, "user", "x"), Turn("c1", 1, "user", "y")])
    page, total = await ours.page(2, 1)
    assert total == 5 and [e.conversation_id for e in page] == ["c3", "c2"]
    assert (await ours.page(2, 2**70))[0] == []  # an offset past anything SQLite counts is just past the end
    await theirs.forget("c0")  # a name the other tenant uses: nothing of theirs goes
    assert (await ours.page(50, 0))[1] == 5
    assert await theirs.stored_turns() == 2 and await ours.stored_turns() == 5
    catalog.close()


async def test_a_catalog_is_filled_once_from_the_keyword_index(
    tmp_path: Path, store: ChromaStore, embedder: HashEmbedder
) -> None:
    keywords = KeywordIndex(tmp_path / "keywords.sqlite3")
    history = History(store, embedder, keywords)  # as stored before there was a catalog
    await write(history, "c1", said("a", DAY), said("b", DAY + timedelta(hours=5)))
    summary = Summary("c1", 0, 0, 1, "a and b", DAY, DAY)
    async with history.locked("c1"):
        await history.add_summary(summary, embedder.vector("a and b"))

    catalog = Catalog(tmp_path / "conversations.sqlite3")
    rows = await keywords.conversations()
    assert rows == [("default", "c1", 2)]
    assert await fill_catalog(catalog, rows, lambda _tenant: store) == 1
    [entry], _ = await catalog.scoped("default").page(50, 0)
    assert (entry.conversation_id, entry.turns, entry.summaries) == ("c1", 2, 1)
    assert (entry.first_activity, entry.last_activity) == (DAY, DAY + timedelta(hours=5))
    assert await fill_catalog(catalog, rows, lambda _tenant: store) == 0  # once
    catalog.close()
    keywords.close()
