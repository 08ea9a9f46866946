"""Imported history and forgetting, under the conversation's lock."""

from __future__ import annotations

import asyncio

from app.conversations.history import History, NewMessage
from app.conversations.recorder import Recorder
from app.conversations.store import ChromaStore
from tests.fakes import HashEmbedder


class Scheduler:
    def __init__(self) -> None:
        self.scheduled: list[str] = []

    def schedule(self, conversation_id: str) -> None:
        self.scheduled.append(conversation_id)


MESSAGES = [
    NewMessage(role="user", content="my sister is Marie"),
    NewMessage(role="assistant", content="noted"),
]


async def test_append_stores_the_next_turns_then_schedules_a_summary(
    store: ChromaStore, embedder: HashEmbedder
) -> None:
    history, scheduler = History(store, embedder), Scheduler()
    recorder = Recorder(history, scheduler)
    turns = await recorder.append("c1", MESSAGES)
    assert [(t.role, t.content, t.turn_index) for t in turns] == [
        ("user", "my sister is Marie", 0),
        ("assistant", "noted", 1),
    ]
    assert [t.turn_index for t in await recorder.append("c1", MESSAGES[:1])] == [2]
    assert [t.content for t in await history.read("c1", 0, 10)] == [
        "my sister is Marie",
        "noted",
        "my sister is Marie",
    ]
    assert scheduler.scheduled == ["c1", "c1"]


async def test_forget_removes_everything_and_counts_it(store: ChromaStore, embedder: HashEmbedder) -> None:
    history, scheduler = History(store, embedder), Scheduler()
    recorder = Recorder(history, scheduler)
    await recorder.append("c1", MESSAGES)
    await recorder.append("c2", MESSAGES)
    assert await recorder.forget("c1") == 2
    assert await history.read("c1", 0, 10) == []
    assert len(await history.read("c2", 0, 10)) == 2
    assert await recorder.forget("c1") == 0
    assert scheduler.scheduled == ["c1", "c2"]  # forgetting schedules nothing


async def test_both_wait_for_a_turn_holding_the_conversation(
    store: ChromaStore, embedder: HashEmbedder
) -> None:
    history, scheduler = History(store, embedder), Scheduler()
    recorder = Recorder(history, scheduler)
    async with history.locked("c1"):
        appending = asyncio.create_task(recorder.append("c1", MESSAGES))
        forgetting = asyncio.create_task(recorder.forget("c2"))
        await asyncio.sleep(0.05)
        assert not appending.done() and scheduler.scheduled == []
        assert forgetting.done()  # another conversation is not held up
    assert len(await appending) == 2
    assert scheduler.scheduled == ["c1"]
