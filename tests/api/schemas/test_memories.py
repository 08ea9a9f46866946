"""Bodies of /memories: field rules, a patch's changes, and records to JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from app.api.schemas.memories import (
    CleanupIn,
    MemoryCreate,
    MemoryOut,
    MemoryPageOut,
    MemoryPatch,
    ScoredOut,
)
from app.longterm.models import LongTermMemory, MemoryType, Page, Scored

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BASE = {"type": "general", "title": "Theme", "content": "User prefers dark theme"}


def refused(model: type[BaseModel], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return str(info.value)


@pytest.mark.parametrize("model", [MemoryCreate, MemoryPatch, CleanupIn])
def test_the_documented_examples_are_valid(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


def test_a_new_memory_has_defaults() -> None:
    memory = MemoryCreate.model_validate(BASE)
    assert memory.type is MemoryType.GENERAL
    assert (memory.tags, memory.project, memory.pinned, memory.supersedes) == ([], None, False, None)


def test_tags_are_collapsed_and_deduplicated_in_order() -> None:
    memory = MemoryCreate.model_validate({**BASE, "tags": ["  dark   mode ", "ui", "dark mode"]})
    assert memory.tags == ["dark mode", "ui"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"type": "opinion"}, "type"),
        ({"title": "   "}, "must not be blank"),
        ({"title": ""}, "at least 1 character"),
        ({"content": "\t"}, "must not be blank"),
        ({"title": "x" * 501}, "at most 500 characters"),
        ({"tags": ["a|b"]}, "must not contain '|'"),
        ({"tags": ["  "]}, "a tag must not be blank"),
        ({"tags": ["x" * 65]}, "at most 64 characters"),
        ({"tags": [f"t{i}" for i in range(51)]}, "at most 50 items"),
        ({"project": "my project"}, "project must be 1-128 characters"),
        ({"pinned": "true"}, "valid boolean"),
        ({"id": "mem_x"}, "Extra inputs are not permitted"),
    ],
)
def test_a_new_memory_refuses(change: dict[str, Any], complaint: str) -> None:
    assert complaint in refused(MemoryCreate, {**BASE, **change})


def test_a_patch_changes_only_the_fields_sent() -> None:
    assert MemoryPatch.model_validate({"content": "light"}).changes() == {"content": "light"}
    assert MemoryPatch.model_validate({}).changes() == {}
    tags = MemoryPatch.model_validate({"tags": ["b", " b "], "pinned": False}).changes()
    assert tags == {"tags": ("b",), "pinned": False}  # tags as the record's tuple; False is a change


def test_a_null_project_makes_a_memory_global_but_other_nulls_change_nothing() -> None:
    assert MemoryPatch.model_validate({"project": None}).changes() == {"project": None}
    assert MemoryPatch.model_validate({"title": None, "archived": None}).changes() == {}


def test_a_patch_states_it_needs_a_field_and_checks_what_it_gets() -> None:
    assert MemoryPatch.model_json_schema()["minProperties"] == 1
    assert "must not be blank" in refused(MemoryPatch, {"title": " "})
    assert "Extra inputs are not permitted" in refused(MemoryPatch, {"source": "user"})


def test_a_memory_reads_with_its_currency() -> None:
    memory = LongTermMemory(MemoryType.SOLUTION, "t", "c", tags=("a", "b"), created_at=T0, valid_to=T0)
    out = MemoryOut.of(memory)
    assert out.tags == ["a", "b"]
    assert out.current is False
    assert MemoryOut.of(LongTermMemory(MemoryType.SOLUTION, "t", "c")).current is True


def test_a_scored_memory_carries_its_scores() -> None:
    memory = LongTermMemory(MemoryType.GENERAL, "t", "c")
    out = ScoredOut.scored(Scored(memory, score=0.9, semantic=0.8, keyword=1.0))
    assert (out.id, out.score, out.semantic, out.keyword) == (memory.id, 0.9, 0.8, 1.0)
    assert out.model_dump(exclude={"score", "semantic", "keyword"}) == MemoryOut.of(memory).model_dump()


def test_a_page_tells_where_the_next_starts() -> None:
    items = [Scored(LongTermMemory(MemoryType.GENERAL, "t", "c"), score=0.5)]
    page = MemoryPageOut.of(Page(items, total=3, offset=0, limit=1))
    assert (page.total, page.offset, page.limit, page.next_offset) == (3, 0, 1, 1)
    assert page.memories[0].score == 0.5
    assert MemoryPageOut.of(Page(items, total=1, offset=0, limit=1)).next_offset is None


def test_cleanup_is_a_dry_run_that_archives_by_default() -> None:
    cleanup = CleanupIn.model_validate({})
    assert (cleanup.dry_run, cleanup.action, cleanup.consolidate_duplicates) == (True, "archive", False)
    assert "action" in refused(CleanupIn, {"action": "shred"})
    assert "greater than or equal to 0" in refused(CleanupIn, {"older_than_days": -1})
    assert "must be a number" in refused(CleanupIn, {"unused_days": "30"})
