"""History: turn indices, appending with the vectors and keywords in step, summaries, forgetting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.conversations import history as history_module
from app.conversations.catalog import Catalog
from app.conversations.history import History, NewMessage
from app.conversations.keywords import KeywordIndex
from app.conversations.models import Summary, Turn
from app.conversations.store import ChromaStore
from app.errors import OverStorageCap, StorageFull, StoreUnavailable
from tests.fakes import HashEmbedder

WHEN = datetime(2024, 5, 8, 13, 56, tzinfo=UTC)


def exchange(*texts: str) -> list[NewMessage]:
    return [NewMessage(role="user" if n % 2 == 0 else "assistant", content=t) for n, t in enumerate(texts)]


async def append(history: History, cid: str, messages: Sequence[NewMessage]) -> list[Turn]:
    async with history.locked(cid):
        return await history.append(cid, messages)


async def test_turns_get_the_next_indices_and_come_back_as_stored(
    store: ChromaStore, embedder: HashEmbedder, keywords: KeywordIndex
) -> None:
    history = History(store, embedder, keywords)
    assert await history.next_index("c1") == 0
    first = await append(history, "c1", exchange("hello", "hi there"))
    named = NewMessage(role="user", content="I am back", name="Caroline", created_at=WHEN, incomplete=True)
    second = await append(history, "c1", [named])
    assert [t.turn_index for t in [*first, *second]] == [0, 1, 2]
    assert await history.read("c1", 0, 10) == [*first, *second]
    assert (second[0].name, second[0].created_at, second[0].incomplete) == ("Caroline", WHEN, True)
    assert await History(store, embedder).next_index("c1") == 3  # a fresh history reads the store
    assert await keywords.count("c1") == 3
    assert embedder.calls[-1] == ["Caroline: I am back"]


class BrokenStore:
    """A store whose next `add_turns` fails; everything else goes to the real one."""

    def __init__(self, store: ChromaStore) -> None:
        self._store = store
        self.broken = False

    async def add_turns(self, turns: Sequence[Turn], vectors: Sequence[Sequence[float]]) -> None:
        if self.broken:
            self.broken = False
            raise StoreUnavailable("chroma is down")
        await self._store.add_turns(turns, vectors)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_failed_append_leaves_no_gap_and_no_keyword_entry(
    store: ChromaStore, embedder: HashEmbedder, keywords: KeywordIndex
) -> None:
    broken = BrokenStore(store)
    history = History(broken, embedder, keywords)  # type: ignore[arg-type]
    await append(history, "c1", exchange("hello", "hi"))
    broken.broken = True
    with pytest.raises(StoreUnavailable):
        await append(history, "c1", exchange("lost"))
    assert await history.next_index("c1") == 2
    assert await keywords.count("c1") == 2
    assert [t.turn_index for t in await append(history, "c1", exchange("again"))] == [2]


async def test_with_context_a_turn_is_embedded_with_the_turn_it_answers(
    store: ChromaStore, embedder: HashEmbedder
) -> None:
    history = History(store, embedder, context=True)
    await append(history, "c1", exchange("where do you live", "in Oslo"))
    await append(history, "c1", [NewMessage(role="user", content="nice", name="Ann")])
    assert embedder.calls == [
        ["where do you live", "in Oslo\n(in reply to where do you live)"],
        ["Ann: nice\n(in reply to in Oslo)"],  # the turn before the batch comes from the store
    ]


async def test_a_keyword_index_out_of_step_is_rebuilt_from_the_store(
    store: ChromaStore, embedder: HashEmbedder, keywords: KeywordIndex
) -> None:
    await append(History(store, embedder), "c1", exchange("the blue kayak", "lovely", "from Riga"))
    assert await keywords.count("c1") == 0  # written without the index, as after a crash
    assert await History(store, embedder, keywords).next_index("c1") == 3
    assert await keywords.count("c1") == 3
    assert [i for i, _ in await keywords.search("c1", "kayak", 5, 3)] == [0]


def summary(level: int, turn_from: int, turn_to: int) -> Summary:
    return Summary("c1", level, turn_from, turn_to, f"summary {level} {turn_from}", WHEN, WHEN)


async def test_active_summaries_follow_what_is_added_and_agree_with_the_store(
    store: ChromaStore, embedder: HashEmbedder
) -> None:
    history = History(store, embedder)
    await append(history, "c1", exchange(*(f"turn {n}" for n in range(8))))
    low = [summary(0, 0, 1), summary(0, 2, 3)]
    for s in low:
        await history.add_summary(s, embedder.vector(s.content))
    assert await history.active_summaries("c1") == low
    high = summary(1, 0, 3)
    await history.add_summary(high, embedder.vector(high.content))
    assert await history.active_summaries("c1") == [high]
    assert await History(store, embedder).active_summaries("c1") == [high]
    assert {s.id for s in await history.summaries("c1")} == {s.id for s in [*low, high]}


async def test_forgetting_removes_every_record_and_starts_over(
    store: ChromaStore, embedder: HashEmbedder, keywords: KeywordIndex
) -> None:
    history = History(store, embedder, keywords)
    await append(history, "c1", exchange("a", "b"))
    await history.add_summary(summary(0, 0, 1), embedder.vector("s"))
    await append(history, "c2", exchange("other"))
    assert await history.forget("c1") == 3
    assert await history.next_index("c1") == 0
    assert await history.read("c1", 0, 10) == [] and await history.active_summaries("c1") == []
    assert await keywords.count("c1") == 0 and await keywords.count("c2") == 1


async def test_one_lock_per_conversation_while_it_is_held() -> None:
    history = History(None, None)  # type: ignore[arg-type]
    async with history.locked("c1"):
        assert history.lock("c1") is history.lock("c1")
        assert history.lock("c1").locked() and not history.lock("c2").locked()


class CountingStore:
    """The real store, counting the writes and the reads of turns."""

    def __init__(self, store: ChromaStore, fail_on_write: int = 0) -> None:
        self._store = store
        self.writes: list[list[int]] = []
        self.reads = 0
        self._fail_on_write = fail_on_write

    async def add_turns(self, turns: Sequence[Turn], vectors: Sequence[Sequence[float]]) -> None:
        self.writes.append([t.turn_index for t in turns])
        if len(self.writes) == self._fail_on_write:
            raise StoreUnavailable("chroma is down")
        await self._store.add_turns(turns, vectors)

    async def turns(
        self, conversation_id: str, start: int, stop: int, include_abandoned: bool = False
    ) -> list[Turn]:
        self.reads += 1
        return await self._store.turns(conversation_id, start, stop, include_abandoned)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_long_append_is_one_write_per_batch_and_one_read_of_the_turn_before(
    store: ChromaStore, embedder: HashEmbedder, keywords: KeywordIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "WRITE_BATCH", 3)
    counting = CountingStore(store)
    history = History(counting, embedder, keywords, context=True)  # type: ignore[arg-type]
    await append(history, "c1", exchange("first"))
    embedder.calls.clear()
    reads = counting.reads
    await append(history, "c1", exchange(*(f"turn {n}" for n in range(1, 8))))
    assert counting.writes[1:] == [[1, 2, 3], [4, 5, 6], [7]]
    assert counting.reads == reads + 1
    # A batch's first turn is embedded with the last turn of the batch before, not read back.
    embedded = [text for call in embedder.calls for text in call]
    assert "turn 4\n(in reply to turn 3)" in embedded
    assert "turn 1\n(in reply to first)" in embedded and len(embedded) == 7
    assert await keywords.count("c1") == 8
    assert [t.content for t in await history.read("c1", 0, 10)] == [
        "first",
        *(f"turn {n}" for n in range(1, 8)),
    ]


async def test_a_write_failing_mid_append_keeps_the_batches_before_it_and_the_indexes_in_step(
    store: ChromaStore, embedder: HashEmbedder, keywords: KeywordIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "WRITE_BATCH", 2)
    history = History(CountingStore(store, fail_on_write=2), embedder, keywords)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        await append(history, "c1", exchange("a", "b", "c", "d", "e"))
    assert await history.next_index("c1") == 2
    assert await keywords.count("c1") == 2
    assert [t.content for t in await history.read("c1", 0, 10)] == ["a", "b"]
    assert [t.turn_index for t in await append(history, "c1", exchange("c"))] == [2]


async def test_a_request_is_embedded_shortest_first_in_calls_of_a_few_and_stored_in_order(
    store: ChromaStore, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "EMBED_CALL", 2)
    history = History(store, embedder)
    words = ["a a a a", "b", "c c c", "d d", "e e e e e"]
    turns = await append(history, "c1", exchange(*words))
    assert embedder.calls == [["b", "d d"], ["c c c", "a a a a"], ["e e e e e"]]
    assert [t.content for t in await history.read("c1", 0, 10)] == words
    found = await store.search("c1", embedder.vector("c c c"), 1, before=5)
    assert found[0].turn.turn_index == 2 and turns[2].content == "c c c"


async def test_appends_under_way_at_once_cannot_pass_the_cap_together(
    store: ChromaStore, embedder: HashEmbedder, tmp_path: Path
) -> None:
    catalog = Catalog(tmp_path / "conversations.sqlite3")
    history = History(store, embedder, catalog=catalog.scoped("ada"), max_turns=4)
    results = await asyncio.gather(
        append(history, "c1", exchange("a", "b", "c")),
        append(history, "c2", exchange("d", "e", "f")),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["StorageFull", "list"]
    assert await catalog.scoped("ada").stored_turns() == 3
    with pytest.raises(OverStorageCap, match="more than the 4 a tenant may store"):
        await append(history, "c3", exchange(*"abcde"))
    await append(history, "c3", exchange("g"))  # what still fits
    with pytest.raises(StorageFull, match="4 turns are stored of the 4 allowed"):
        await append(history, "c3", exchange("h"))
    catalog.close()
