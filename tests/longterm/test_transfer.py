import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.longterm.book import Memories
from app.longterm.models import LongTermMemory, MemoryType, Source
from app.longterm.store import MemoryStore
from app.longterm.transfer import MemoryTransfer
from tests.fakes import HashEmbedder

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def fact(content: str, **fields: Any) -> LongTermMemory:
    return LongTermMemory(
        MemoryType.GENERAL, "Fact", content, **{"created_at": T0, "updated_at": T0} | fields
    )


async def lines(stream: AsyncIterator[str]) -> list[dict[str, Any]]:
    return [json.loads(line) async for line in stream]


async def test_export_writes_a_header_then_every_memory_oldest_first(book: Memories) -> None:
    newer = fact("I live in Paris", created_at=datetime(2024, 6, 1, tzinfo=UTC), supersedes="mem_x")
    older = fact("I live in Lyon", archived=True, tags=("city",), source=Source.EXTRACTED)
    await book.restore([newer, older], await book.vectors([newer, older]))
    header, *records = await lines(MemoryTransfer(book).export())
    assert header["format"] == "mnemo-memories" and header["version"] == 1
    assert (header["embedding_model"], header["dimensions"], header["count"]) == ("hash-384", 384, 2)
    assert [r["id"] for r in records] == [older.id, newer.id]
    assert records[0]["archived"] and records[0]["tags"] == ["city"] and records[0]["source"] == "extracted"
    assert records[1]["supersedes"] == "mem_x" and len(records[1]["embedding"]) == 384


async def test_an_empty_book_exports_a_header_alone(book: Memories) -> None:
    [header] = await lines(MemoryTransfer(book).export())
    assert (header["count"], header["dimensions"]) == (0, 0)


async def test_a_round_trip_keeps_every_field_and_reuses_the_vectors(
    book: Memories, embedder: HashEmbedder, memory_store: MemoryStore
) -> None:
    memories = [fact("I live in Lyon", pinned=True, use_count=3, last_used_at=T0), fact("I drink tea")]
    await book.restore(memories, await book.vectors(memories))
    exported = [line async for line in MemoryTransfer(book).export()]
    await book.remove([m.id for m in memories])
    embedder.calls.clear()
    report = await MemoryTransfer(book).import_lines(exported, "skip")
    assert (report.imported, report.reembedded, report.errors) == (2, 0, [])
    assert embedder.calls == []
    assert await book.get_many([m.id for m in memories]) == {m.id: m for m in memories}


async def test_skip_keeps_what_is_there_and_overwrite_replaces_it(book: Memories) -> None:
    home = fact("I live in Lyon")
    await book.restore([home], await book.vectors([home]))
    edited = json.dumps({**json.loads(await first_record(book)), "content": "I live in Paris"})
    skipped = await MemoryTransfer(book).import_lines([edited], "skip")
    assert (skipped.skipped, skipped.imported, skipped.overwritten) == (1, 0, 0)
    assert (await book.get(home.id)).content == "I live in Lyon"
    over = await MemoryTransfer(book).import_lines([edited], "overwrite")
    assert (over.overwritten, over.imported) == (1, 0)
    assert (await book.get(home.id)).content == "I live in Paris"


async def first_record(book: Memories) -> str:
    exported = [line async for line in MemoryTransfer(book).export()]
    return exported[1]


@pytest.mark.parametrize(
    "header",
    [
        None,  # no header: nobody says which model made the vectors
        {"format": "mnemo-memories", "embedding_model": "other-model", "dimensions": 384},
        {"format": "mnemo-memories", "embedding_model": "hash-384", "dimensions": 768},
    ],
)
async def test_vectors_of_another_model_or_size_are_made_again(
    book: Memories, embedder: HashEmbedder, header: dict[str, Any] | None
) -> None:
    home = fact("I live in Lyon")
    record = {**json.loads(await memory_line(book, home)), "embedding": [0.5] * 384}
    body = ([json.dumps(header)] if header else []) + [json.dumps(record)]
    embedder.calls.clear()
    report = await MemoryTransfer(book).import_lines(body, "skip")
    assert (report.imported, report.reembedded) == (1, 1)
    assert embedder.calls == [[home.embed_text]]
    [(_, vector)] = await book.scan(with_vectors=True)
    assert vector == pytest.approx(embedder.vector(home.embed_text), abs=1e-6)


async def memory_line(book: Memories, memory: LongTermMemory) -> str:
    """The export line of a memory that is then removed again."""
    await book.restore([memory], await book.vectors([memory]))
    line = await first_record(book)
    await book.remove([memory.id])
    return line


async def test_bad_lines_are_reported_by_number_and_the_rest_imported(book: Memories) -> None:
    good = json.loads(await memory_line(book, fact("I live in Lyon")))
    body = [
        json.dumps({"format": "mnemo-memories", "embedding_model": "hash-384", "dimensions": 384}),
        "not json",
        json.dumps({**good, "title": "   "}),
        "",
        json.dumps(good),
        json.dumps({**good, "tags": ["a|b"], "extra": 1}),
        json.dumps(good),
        json.dumps({"format": "mnemo-memories"}),  # a second header is just a bad line
    ]
    report = await MemoryTransfer(book).import_lines(body, "skip")
    assert report.imported == 1 and report.reembedded == 0
    numbers = [n for n, _ in report.errors]
    assert numbers == [2, 3, 6, 7, 8]
    problems = dict(report.errors)
    assert problems[3] == "title: must not be blank"
    assert problems[7] == f"id {good['id']} appears twice in the file"
    assert "extra: Extra inputs are not permitted" in problems[6]


async def test_times_without_a_zone_are_read_as_utc(book: Memories) -> None:
    record = json.loads(await memory_line(book, fact("I live in Lyon")))
    record |= {"created_at": "2024-05-01T12:00:00", "updated_at": "2024-05-01T12:00:00", "embedding": None}
    report = await MemoryTransfer(book).import_lines([json.dumps(record)], "skip")
    assert report.imported == 1
    assert (await book.get(record["id"])).created_at == T0
