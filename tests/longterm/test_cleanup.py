from datetime import UTC, datetime, timedelta

from app.longterm.book import Memories
from app.longterm.cleanup import Cleanup, CleanupPolicy, last_touch
from app.longterm.models import LongTermMemory, MemoryType

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
GENERAL, PREFERENCE = MemoryType.GENERAL, MemoryType.USER_PREFERENCE


def fact(content: str, days_old: int, kind: MemoryType = GENERAL, **fields: object) -> LongTermMemory:
    created = NOW - timedelta(days=days_old)
    return LongTermMemory(kind, "Fact", content, created_at=created, updated_at=created, **fields)  # type: ignore[arg-type]


async def held(book: Memories, *memories: LongTermMemory) -> dict[str, LongTermMemory]:
    """Store memories as they are (times and all), then read back everything the book holds."""
    if memories:
        await book.restore(memories, await book.vectors(memories))
    return {m.id: m for m, _ in await book.scan()}


def test_last_touch_is_the_last_use_or_else_the_creation() -> None:
    never = fact("x", 10)
    assert last_touch(never) == never.created_at
    assert last_touch(never.used(NOW)) == NOW


async def test_a_dry_run_reports_and_changes_nothing(book: Memories) -> None:
    old, young = fact("I live in Lyon", 40), fact("I drink tea", 5)
    before = await held(book, old, young)
    report = await Cleanup(book).run(CleanupPolicy(older_than_days=30), now=NOW)
    assert report.dry_run and report.archived == [old.id] and report.deleted == [] and report.merged == []
    assert await held(book) == before


async def test_old_and_unused_memories_are_archived_and_pinned_ones_kept(book: Memories) -> None:
    old = fact("I live in Lyon", 40)
    pinned = fact("Call me Sam", 400, pinned=True)
    idle = fact("I drink tea", 20, last_used_at=NOW - timedelta(days=15))
    busy = fact("I play chess", 20, last_used_at=NOW - timedelta(days=1))
    await held(book, old, pinned, idle, busy)
    policy = CleanupPolicy(older_than_days=30, unused_days=10, dry_run=False)
    report = await Cleanup(book).run(policy, now=NOW)
    assert sorted(report.archived) == sorted([old.id, idle.id])
    after = await held(book)
    assert {i for i, m in after.items() if m.archived} == {old.id, idle.id}
    assert after[pinned.id] == pinned and after[busy.id] == busy
    again = await Cleanup(book).run(policy, now=NOW)
    assert again.archived == []  # archiving leaves archived ones alone


async def test_delete_removes_archived_ones_too(book: Memories) -> None:
    archived, fresh = fact("I live in Lyon", 40, archived=True), fact("I drink tea", 1)
    await held(book, archived, fresh)
    report = await Cleanup(book).run(
        CleanupPolicy(older_than_days=30, action="delete", dry_run=False), now=NOW
    )
    assert report.deleted == [archived.id] and report.archived == []
    assert list(await held(book)) == [fresh.id]


async def test_duplicates_are_merged_into_the_oldest(book: Memories) -> None:
    oldest = fact("I live in Lyon", 30, tags=("city",), use_count=2)
    same = fact("i live in  LYON", 20, tags=("home",), use_count=1)
    near = fact("I live in Lyon!", 10, use_count=4)
    other_kind = fact("I live in Lyon", 5, kind=PREFERENCE)
    await held(book, oldest, same, near, other_kind)
    report = await Cleanup(book).run(CleanupPolicy(consolidate=True, dry_run=False), now=NOW)
    assert report.merged == [(oldest.id, same.id), (oldest.id, near.id)]
    after = await held(book)
    assert set(after) == {oldest.id, other_kind.id}
    kept = after[oldest.id]
    assert kept.use_count == 2 + 1 + 4 and kept.tags == ("city", "home")


async def test_over_the_cap_the_least_recently_used_go(book: Memories) -> None:
    stale = fact("I live in Lyon", 50)
    used = fact("I drink tea", 60, last_used_at=NOW - timedelta(days=1))
    recent = fact("I play chess", 2)
    pinned = fact("Call me Sam", 90, pinned=True)
    await held(book, stale, used, recent, pinned)
    report = await Cleanup(book).run(CleanupPolicy(max_memories=2, dry_run=False), now=NOW)
    assert report.archived == [stale.id, recent.id]
    assert {i for i, m in (await held(book)).items() if not m.archived} == {used.id, pinned.id}


async def test_the_cap_counts_what_the_earlier_steps_left(book: Memories) -> None:
    old = fact("I live in Lyon", 50)
    a, b = fact("I drink tea", 3), fact("I play chess", 2)
    await held(book, old, a, b)
    policy = CleanupPolicy(older_than_days=30, max_memories=2, action="delete", dry_run=False)
    report = await Cleanup(book).run(policy, now=NOW)
    assert report.deleted == [old.id]
    assert set(await held(book)) == {a.id, b.id}


async def test_nothing_to_do_is_an_empty_report(book: Memories) -> None:
    await held(book, fact("I live in Lyon", 1))
    report = await Cleanup(book).run(CleanupPolicy(dry_run=False), now=NOW)
    assert (report.archived, report.deleted, report.merged) == ([], [], [])
