"""Typed long-term memories: facts that outlive conversations (records, no I/O)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from app.fields import utcnow


class MemoryType(StrEnum):
    USER_PREFERENCE = "user_preference"
    CONVERSATION_CONTEXT = "conversation_context"
    PROJECT_KNOWLEDGE = "project_knowledge"
    CODE_SNIPPET = "code_snippet"
    SOLUTION = "solution"
    GENERAL = "general"


class Source(StrEnum):
    USER = "user"  # a person or the API stored it
    EXTRACTED = "extracted"  # the model proposed it after a turn


SPACE = re.compile(r"\s+")


def new_memory_id() -> str:
    return f"mem_{uuid.uuid4().hex[:20]}"


def normalized(text: str) -> str:
    """Text compared for exact duplicates: case and whitespace do not count."""
    return SPACE.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class LongTermMemory:
    """One typed fact; `valid_to` set means a newer memory superseded it (or it was closed)."""

    type: MemoryType
    title: str
    content: str
    tags: tuple[str, ...] = ()
    project: str | None = None  # None: global, applies to every conversation
    source: Source = Source.USER
    pinned: bool = False
    id: str = field(default_factory=new_memory_id)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    use_count: int = 0
    last_used_at: datetime | None = None
    valid_to: datetime | None = None
    superseded_by: str | None = None
    supersedes: str | None = None
    archived: bool = False

    @property
    def current(self) -> bool:
        """A fact that still holds: not superseded, closed or archived."""
        return self.valid_to is None and not self.archived

    @property
    def embed_text(self) -> str:
        """What is embedded: the title labels the fact, the content states it."""
        return f"{self.title}\n{self.content}"

    @property
    def same_text_key(self) -> str:
        return normalized(self.content)

    def used(self, moment: datetime | None = None) -> LongTermMemory:
        moment = moment or utcnow()
        return replace(self, use_count=self.use_count + 1, last_used_at=moment)


@dataclass(frozen=True)
class Scored:
    """A memory with its relevance to a query (0..1; None when no text was asked for)."""

    memory: LongTermMemory
    score: float | None = None
    semantic: float | None = None
    keyword: float | None = None


@dataclass(frozen=True)
class MemoryQuery:
    """Filters and paging for listing or searching memories."""

    text: str | None = None
    mode: str = "hybrid"  # semantic | keyword | hybrid
    types: tuple[MemoryType, ...] = ()
    tags: tuple[str, ...] = ()  # a memory matches when it has any of them
    project: str | None = None
    global_too: bool = False  # with `project`: also the global memories
    source: Source | None = None
    pinned: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_superseded: bool = False
    include_archived: bool = False
    offset: int = 0
    limit: int = 20
    min_score: float = 0.0

    def _global(self) -> tuple[None, ...]:
        return (None,) if self.global_too else ()

    def admits(self, memory: LongTermMemory) -> bool:
        """Every filter but the text."""
        if memory.valid_to is not None and not self.include_superseded:
            return False
        if memory.archived and not self.include_archived:
            return False
        if self.types and memory.type not in self.types:
            return False
        if self.tags and not set(self.tags) & set(memory.tags):
            return False
        if self.project is not None and memory.project not in (self.project, *self._global()):
            return False
        if self.source is not None and memory.source != self.source:
            return False
        if self.pinned is not None and memory.pinned != self.pinned:
            return False
        if self.created_after is not None and memory.created_at < self.created_after:
            return False
        return not (self.created_before is not None and memory.created_at >= self.created_before)


@dataclass(frozen=True)
class Page:
    items: list[Scored]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None
