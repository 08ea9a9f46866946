"""The Extractor on a scripted model and a recording memory book: what is stored, retried, refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from app.conversations.models import Turn
from app.errors import LLMUnavailable, StoreUnavailable
from app.llm.traffic import Traffic
from app.longterm.book import Outcome, Stored
from app.longterm.extractor import ExtractionFailed, Extractor, LongTermScheduler, failure_reason
from app.longterm.models import LongTermMemory, Source
from app.longterm.proposals import max_reply_tokens

MESSAGE = "I prefer green tea, and the garden project uses Python."
TEA = {"type": "user_preference", "title": "Tea", "content": "Prefers green tea", "tags": ["Drinks"]}
GARDEN = {"type": "project_knowledge", "title": "Garden stack", "content": "The garden project uses Python"}
MOON = {"type": "general", "title": "Moon", "content": "Likes astronomy"}  # shares no word with MESSAGE


def reply(*memories: dict[str, Any]) -> str:
    return json.dumps({"memories": list(memories)})


class Model:
    """Answers from a queue (a text, or an exception to raise) and records every request."""

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[list[Mapping[str, Any]], dict[str, Any]]] = []

    async def complete(self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
        self.requests.append((list(messages), dict(params)))
        answer = self.replies.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Book:
    """A memory book that records what it is given and answers with scripted outcomes."""

    def __init__(self, *outcomes: Outcome, fail: bool = False) -> None:
        self.outcomes = list(outcomes)
        self.created: list[LongTermMemory] = []
        self.used: list[list[str]] = []
        self.fail = fail

    async def create(self, memory: LongTermMemory) -> Stored:
        if self.fail:
            raise StoreUnavailable("the memory store is down")
        self.created.append(memory)
        return Stored(memory, self.outcomes.pop(0) if self.outcomes else Outcome.CREATED)

    async def mark_used(self, ids: Sequence[str]) -> None:
        self.used.append(list(ids))


def extractor(model: Model, book: Book, **options: Any) -> Extractor:
    return Extractor(model, book, **options)  # type: ignore[arg-type]


async def test_a_valid_reply_is_stored_with_its_scope_and_counted() -> None:
    book = Book(Outcome.CREATED, Outcome.MERGED)
    model = Model(reply(TEA, GARDEN))
    unit = extractor(model, book)
    kept = await unit.extract(MESSAGE, "garden")
    assert [(m.title, m.project, m.source, m.tags) for m in kept] == [
        ("Tea", None, Source.EXTRACTED, ("drinks",)),  # a preference is about the person: global
        ("Garden stack", "garden", Source.EXTRACTED, ()),
    ]
    assert book.created == kept
    [(messages, params)] = model.requests
    assert messages == [{"role": "user", "content": unit.request(MESSAGE)[0]["content"]}]
    assert messages[0]["content"].endswith(MESSAGE)
    assert params["temperature"] == 0.0 and params["max_tokens"] == max_reply_tokens(3) and params["grammar"]
    stats = unit.stats.as_dict()
    assert {k: stats[k] for k in ("runs", "succeeded", "failed", "proposed", "created", "merged")} == {
        "runs": 1,
        "succeeded": 1,
        "failed": 0,
        "proposed": 2,
        "created": 1,
        "merged": 1,
    }
    assert stats["recent"][0]["ok"] and stats["recent"][0]["detail"] == "2 proposed, kept: Tea; Garden stack"


async def test_an_invalid_reply_is_retried_warmer() -> None:
    model = Model("{not json", LLMUnavailable("down"), reply(TEA))
    unit = extractor(model, Book())
    assert [m.title for m in await unit.extract(MESSAGE, None)] == ["Tea"]
    assert [params["temperature"] for _, params in model.requests] == [0.0, 0.6, 0.6]
    assert unit.stats.retries == 2 and unit.stats.succeeded == 1 and unit.stats.failed == 0


async def test_an_empty_list_is_a_valid_answer() -> None:
    model = Model(reply(), reply(TEA))
    unit = extractor(model, Book())
    assert await unit.extract(MESSAGE, None) == []
    assert len(model.requests) == 1 and unit.stats.retries == 0
    assert unit.stats.jobs.as_dict()["recent"][0]["detail"] == "0 proposed, kept: nothing to keep"


async def test_after_the_last_attempt_the_failure_is_raised_counted_and_recorded() -> None:
    model = Model(reply(TEA)[:-5], '{"memories": [{"type": "nonsense"}]}')
    unit = extractor(model, Book(), retries=1)
    with pytest.raises(ExtractionFailed, match="no valid proposal after 2 attempts") as failed:
        await unit.extract(MESSAGE, None)
    assert failed.value.reason == "invalid"  # the last attempt's reason
    assert len(model.requests) == 2
    stats = unit.stats.as_dict()
    assert (stats["runs"], stats["failed"], stats["succeeded"], stats["retries"]) == (1, 1, 0, 1)
    assert stats["last_error"] == failed.value.message
    assert stats["failures"] == {"invalid": 1}


async def test_a_model_slower_than_the_timeout_fails_as_a_timeout() -> None:
    class Slow(Model):
        async def complete(self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
            await asyncio.sleep(10)
            return reply()

    unit = extractor(Slow(), Book(), retries=0, timeout=0.05)
    with pytest.raises(ExtractionFailed, match="took longer than 0 s") as failed:
        await unit.extract(MESSAGE, None)
    assert failed.value.reason == "timeout"


async def test_at_most_max_items_are_kept_and_ungrounded_ones_are_dropped() -> None:
    book = Book()
    unit = extractor(Model(reply(MOON, TEA, GARDEN)), book, max_items=2)
    kept = await unit.extract(MESSAGE, None)
    assert [m.title for m in kept] == ["Tea"]  # Garden was past the limit, Moon is not in the message
    assert (unit.stats.proposed, unit.stats.ungrounded, unit.stats.created) == (2, 1, 1)
    assert [m.title for m in book.created] == ["Tea"]


async def test_a_store_that_fails_is_recorded_and_raised() -> None:
    unit = extractor(Model(reply(TEA)), Book(fail=True))
    with pytest.raises(StoreUnavailable):
        await unit.extract(MESSAGE, None)
    assert unit.stats.as_dict()["failures"] == {"store_failed": 1}


def test_failure_reasons_tell_a_cut_reply_from_invalid_json() -> None:
    for raw, reason in [(reply(TEA)[:-10], "truncated"), ('{"memories": [}', "invalid_json")]:
        try:
            json.loads(raw)
        except json.JSONDecodeError as exc:
            assert failure_reason(exc, raw) == reason
    assert failure_reason(TimeoutError(), "") == "timeout"
    assert failure_reason(LLMUnavailable("down"), "") == "llm_unavailable"
    assert failure_reason(StoreUnavailable("down"), "") == "llm_failed"
    assert failure_reason(ValueError("bad"), "") == "invalid"


def turn(index: int, role: str, content: str) -> Turn:
    return Turn("c1", index, role, content)  # type: ignore[arg-type]


async def test_the_scheduler_counts_used_memories_and_extracts_from_the_users_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = Book()
    model = Model(reply(TEA), LLMUnavailable("down"), LLMUnavailable("down"), LLMUnavailable("down"))
    scheduler = LongTermScheduler(book, extractor(model, book))  # type: ignore[arg-type]
    scheduler.turn_stored([turn(0, "user", MESSAGE), turn(1, "assistant", "Noted.")], "garden", ["m1"])
    scheduler.turn_stored([turn(2, "user", "tea again")], None, [])  # fails: the turn is safe anyway
    await scheduler.drain()
    assert book.used == [["m1"]]
    assert [m.title for m in book.created] == ["Tea"]
    assert model.requests[0][0][0]["content"].endswith(MESSAGE)
    assert model.requests[1][0][0]["content"].endswith("tea again")
    assert scheduler.extractor is not None and scheduler.extractor.stats.failed == 1
    assert "long-term memory work after a turn failed" in caplog.text


async def test_without_an_extractor_only_used_memories_are_counted() -> None:
    book = Book()
    scheduler = LongTermScheduler(book, None)  # type: ignore[arg-type]
    scheduler.turn_stored([turn(0, "user", MESSAGE)], None, [])
    scheduler.turn_stored([turn(1, "user", MESSAGE)], None, ["m2"])
    await scheduler.drain()
    assert book.used == [["m2"]] and book.created == []
    await scheduler.aclose()


async def test_extraction_waits_for_the_chat_reply_in_flight() -> None:
    book = Book()
    model = Model(reply(TEA))
    traffic = Traffic()
    scheduler = LongTermScheduler(book, extractor(model, book), traffic)  # type: ignore[arg-type]
    streaming = traffic.enter()  # another conversation's reply is streaming
    scheduler.turn_stored([turn(0, "user", MESSAGE)], None, ["m1"])
    for _ in range(20):
        await asyncio.sleep(0)
    assert book.used == [["m1"]]  # counting use needs no model: it goes ahead
    assert model.requests == []
    traffic.leave(streaming)
    await asyncio.wait_for(scheduler.drain(), 5)
    assert [m.title for m in book.created] == ["Tea"]
