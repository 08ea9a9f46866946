"""Request and response bodies of /memories."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from app.fields import NAME_PATTERN, JsonInt, check_project, clean_tags, not_blank
from app.longterm.models import LongTermMemory, MemoryType, Page, Scored, Source

# The rules the validators enforce, stated in the OpenAPI schema too (the validators give the messages).
NOT_BLANK = {"pattern": r"\S"}
TAG = {"pattern": r"^[^|]*[^|\s][^|]*$"}
PROJECT_SCHEMA = {"pattern": NAME_PATTERN, "maxLength": 128}

Title = Annotated[
    str, Field(min_length=1, max_length=500, json_schema_extra=NOT_BLANK), AfterValidator(not_blank)
]
Content = Annotated[
    str, Field(min_length=1, max_length=100_000, json_schema_extra=NOT_BLANK), AfterValidator(not_blank)
]
Tags = Annotated[
    list[Annotated[str, Field(max_length=64, json_schema_extra=TAG)]],
    Field(max_length=50),
    AfterValidator(clean_tags),
]
Project = Annotated[str | None, Field(json_schema_extra=PROJECT_SCHEMA), AfterValidator(check_project)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "user_preference", "title": "Theme", "content": "User prefers dark theme"},
                {
                    "type": "project_knowledge",
                    "title": "Database",
                    "content": "The billing service stores invoices in PostgreSQL 16.",
                    "tags": ["db"],
                    "project": "billing",
                    "pinned": True,
                },
            ]
        }
    )
    type: MemoryType
    title: Title
    content: Content
    tags: Tags = Field(default_factory=list)
    project: Project = Field(None, description="Scope: a project name, or null for global")
    pinned: StrictBool = Field(False, description="Always injected into conversations of its scope")
    supersedes: str | None = Field(None, description="Id of the memory this one replaces")


class MemoryPatch(Strict):
    """The fields to change: at least one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "minProperties": 1,
            "examples": [{"content": "User prefers a light theme"}, {"pinned": True, "tags": ["ui"]}],
        },
    )
    type: MemoryType | None = None
    title: Title | None = None
    content: Content | None = None
    tags: Tags | None = None
    project: Project = None
    pinned: StrictBool | None = None
    archived: StrictBool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the caller set (null project = make it global)."""
        changes: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if value is None and name != "project":
                continue
            changes[name] = tuple(value) if name == "tags" else value
        return changes


class MemoryOut(BaseModel):
    id: str
    type: MemoryType
    title: str
    content: str
    tags: list[str]
    project: str | None
    source: Source
    pinned: bool
    created_at: datetime
    updated_at: datetime
    use_count: int
    last_used_at: datetime | None
    valid_to: datetime | None
    superseded_by: str | None
    supersedes: str | None
    archived: bool
    current: bool

    @classmethod
    def of(cls, memory: LongTermMemory) -> MemoryOut:
        return cls.model_validate(memory, from_attributes=True)


class ScoredOut(MemoryOut):
    score: float | None = Field(None, description="Relevance 0..1 (hybrid: 0.7 cosine + 0.3 relative BM25)")
    semantic: float | None = None
    keyword: float | None = None

    @classmethod
    def scored(cls, item: Scored) -> ScoredOut:
        base = MemoryOut.of(item.memory).model_dump()
        return cls(**base, score=item.score, semantic=item.semantic, keyword=item.keyword)


class StoredOut(BaseModel):
    outcome: Literal["created", "merged", "superseded"]
    memory: MemoryOut
    closed: MemoryOut | None = Field(None, description="The memory this one superseded, now closed")


class MemoryPageOut(BaseModel):
    memories: list[ScoredOut]
    total: int
    offset: int
    limit: int
    next_offset: int | None

    @classmethod
    def of(cls, page: Page) -> MemoryPageOut:
        return cls(
            memories=[ScoredOut.scored(s) for s in page.items],
            total=page.total,
            offset=page.offset,
            limit=page.limit,
            next_offset=page.next_offset,
        )


class HistoryOut(BaseModel):
    id: str
    versions: list[MemoryOut] = Field(description="Oldest first; only the last can be current")


class DeletedOut(BaseModel):
    id: str
    deleted: bool = True


class ImportError_(BaseModel):
    line: int
    message: str


class ImportOut(BaseModel):
    imported: int
    overwritten: int
    skipped: int
    reembedded: int
    errors: list[ImportError_]


class CleanupIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"older_than_days": 90},
                {"unused_days": 30, "action": "delete", "consolidate_duplicates": True, "dry_run": False},
            ]
        }
    )
    older_than_days: JsonInt | None = Field(None, ge=0)
    unused_days: JsonInt | None = Field(None, ge=0)
    action: Literal["archive", "delete"] = "archive"
    consolidate_duplicates: StrictBool = False
    max_memories: JsonInt | None = Field(None, ge=0)
    dry_run: StrictBool = True


class MergedOut(BaseModel):
    kept: str
    removed: str


class CleanupOut(BaseModel):
    dry_run: bool
    archived: list[str]
    deleted: list[str]
    merged: list[MergedOut]
