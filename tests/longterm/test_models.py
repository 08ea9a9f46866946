"""Long-term memory records: identity, currency, duplicates, filters and paging."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.longterm.models import (
    LongTermMemory,
    MemoryQuery,
    MemoryType,
    Page,
    Scored,
    Source,
    new_memory_id,
    normalized,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def memory(**changes: object) -> LongTermMemory:
    base = LongTermMemory(MemoryType.GENERAL, "Theme", "User prefers dark theme", created_at=T0)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_ids_are_prefixed_and_unique() -> None:
    ids = {new_memory_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"mem_[0-9a-f]{20}", i) for i in ids)
    assert memory().id != memory().id  # each record gets its own


def test_normalized_ignores_case_and_whitespace() -> None:
    assert normalized("  User   prefers\nDARK\ttheme ") == "user prefers dark theme"
    assert memory(content="USER prefers  dark theme").same_text_key == memory().same_text_key
    assert memory(content="User prefers light theme").same_text_key != memory().same_text_key


def test_embed_text_is_title_then_content() -> None:
    assert memory().embed_text == "Theme\nUser prefers dark theme"


def test_current_until_superseded_or_archived() -> None:
    assert memory().current
    assert not memory(valid_to=T0).current
    assert not memory(archived=True).current


def test_used_counts_and_stamps_without_changing_the_original() -> None:
    original = memory()
    later = T0 + timedelta(days=1)
    once = original.used(later)
    assert (once.use_count, once.last_used_at) == (1, later)
    assert (original.use_count, original.last_used_at) == (0, None)
    assert once.used(later).use_count == 2
    assert once.id == original.id


def test_a_blank_query_admits_current_memories_only() -> None:
    query = MemoryQuery()
    assert query.admits(memory())
    assert not query.admits(memory(valid_to=T0))
    assert not query.admits(memory(archived=True))
    assert MemoryQuery(include_superseded=True).admits(memory(valid_to=T0))
    assert MemoryQuery(include_archived=True).admits(memory(archived=True))


def test_type_tag_source_and_pinned_filters() -> None:
    tagged = memory(tags=("ui", "prefs"), source=Source.EXTRACTED, pinned=True)
    assert MemoryQuery(types=(MemoryType.GENERAL, MemoryType.SOLUTION)).admits(tagged)
    assert not MemoryQuery(types=(MemoryType.SOLUTION,)).admits(tagged)
    assert MemoryQuery(tags=("db", "ui")).admits(tagged)  # any of them
    assert not MemoryQuery(tags=("db",)).admits(tagged)
    assert MemoryQuery(source=Source.EXTRACTED).admits(tagged)
    assert not MemoryQuery(source=Source.USER).admits(tagged)
    assert MemoryQuery(pinned=True).admits(tagged)
    assert not MemoryQuery(pinned=False).admits(tagged)


@pytest.mark.parametrize(
    ("project", "global_too", "admitted"),
    [
        (None, False, {"billing", "web", None}),
        ("billing", False, {"billing"}),
        ("billing", True, {"billing", None}),
    ],
)
def test_project_scope(project: str | None, global_too: bool, admitted: set[str | None]) -> None:
    query = MemoryQuery(project=project, global_too=global_too)
    got = {p for p in ("billing", "web", None) if query.admits(memory(project=p))}
    assert got == admitted


def test_created_window_is_after_inclusive_before_exclusive() -> None:
    query = MemoryQuery(created_after=T0, created_before=T0 + timedelta(days=1))
    assert query.admits(memory(created_at=T0))
    assert not query.admits(memory(created_at=T0 - timedelta(seconds=1)))
    assert query.admits(memory(created_at=T0 + timedelta(hours=23)))
    assert not query.admits(memory(created_at=T0 + timedelta(days=1)))


def test_next_offset_only_while_more_remain() -> None:
    items = [Scored(memory())]
    assert Page(items, total=25, offset=0, limit=10).next_offset == 10
    assert Page(items, total=25, offset=10, limit=10).next_offset == 20
    assert Page(items, total=25, offset=20, limit=10).next_offset is None
    assert Page(items, total=20, offset=10, limit=10).next_offset is None
