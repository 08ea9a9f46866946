"""Export and import of long-term memories as JSONL.

Line 1 is a header: {"format": "mnemo-memories", "version": 1, "embedding_model", "dimensions",
"exported_at", "count"}. Every further line is one memory with all its fields and its vector
under "embedding". Import validates each line on its own (a bad one is reported with its line
number, the rest imports), keeps ids, times and links, and re-embeds a memory when the file's
embedding model is not ours, its vector has the wrong size, or it carries none.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from app.fields import NAME_PATTERN, as_utc, describe_errors, not_blank, utcnow
from app.longterm.book import Memories
from app.longterm.models import LongTermMemory, MemoryType, Source

FORMAT = "mnemo-memories"
VERSION = 1
EMBED_BATCH = 64
ImportMode = Literal["skip", "overwrite"]


When = Annotated[datetime, AfterValidator(as_utc)]
MaybeWhen = Annotated[datetime | None, AfterValidator(as_utc)]


class MemoryRecord(BaseModel):
    """One exported memory (the shape of every line after the header)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NAME_PATTERN)
    type: MemoryType
    title: Annotated[str, Field(max_length=500), AfterValidator(not_blank)]
    content: Annotated[str, Field(max_length=100_000), AfterValidator(not_blank)]
    tags: list[Annotated[str, Field(pattern=r"^[^|]{1,64}$")]] = Field(default_factory=list, max_length=50)
    project: str | None = Field(None, pattern=NAME_PATTERN)
    source: Source = Source.USER
    pinned: bool = False
    created_at: When
    updated_at: When
    use_count: int = Field(0, ge=0)
    last_used_at: MaybeWhen = None
    valid_to: MaybeWhen = None
    superseded_by: str | None = None
    supersedes: str | None = None
    archived: bool = False
    embedding: list[float] | None = None

    @classmethod
    def of(cls, memory: LongTermMemory, vector: list[float] | None) -> MemoryRecord:
        record = cls.model_validate(memory, from_attributes=True)
        return record.model_copy(update={"embedding": vector})

    def memory(self) -> LongTermMemory:
        fields = self.model_dump(exclude={"embedding"})
        return LongTermMemory(**fields | {"tags": tuple(self.tags)})


class Header(BaseModel):
    format: Literal["mnemo-memories"]
    version: int = VERSION
    embedding_model: str = ""
    dimensions: int = 0
    exported_at: datetime | None = None
    count: int | None = None


@dataclass
class ImportReport:
    imported: int = 0
    overwritten: int = 0
    skipped: int = 0
    reembedded: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return describe_errors(exc.errors(), whole="line")
    return str(exc)


class MemoryTransfer:
    """Moves memories in and out of the store as JSONL."""

    def __init__(self, memories: Memories) -> None:
        self._memories = memories

    async def export(self) -> AsyncIterator[str]:
        """The header, then every memory (current, superseded and archived), oldest first."""
        rows = await self._memories.scan(with_vectors=True)
        rows.sort(key=lambda row: (row[0].created_at, row[0].id))
        dims = len(rows[0][1] or []) if rows else 0
        header = Header(
            format=FORMAT,
            embedding_model=self._memories.embedding_model,
            dimensions=dims,
            exported_at=utcnow(),
            count=len(rows),
        )
        yield header.model_dump_json() + "\n"
        for memory, vector in rows:
            yield MemoryRecord.of(memory, vector).model_dump_json() + "\n"

    async def import_lines(self, lines: Iterable[str], mode: ImportMode) -> ImportReport:
        report = ImportReport()
        header: Header | None = None
        records: list[MemoryRecord] = []
        seen: set[str] = set()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and "format" in data and not records and header is None:
                    header = Header.model_validate(data)
                    continue
                record = MemoryRecord.model_validate(data)
            except (ValueError, ValidationError) as exc:
                report.errors.append((number, _problem(exc)))
                continue
            if record.id in seen:
                report.errors.append((number, f"id {record.id} appears twice in the file"))
                continue
            seen.add(record.id)
            records.append(record)
        await self._write(records, header, mode, report)
        return report

    async def _write(
        self, records: list[MemoryRecord], header: Header | None, mode: ImportMode, report: ImportReport
    ) -> None:
        ours = self._memories.embedding_model
        existing = await self._memories.get_many([r.id for r in records])
        # The whole import, before any of it: past the tenant's cap nothing is written.
        await self._memories.make_room(sum(1 for r in records if r.id not in existing))
        for start in range(0, len(records), EMBED_BATCH):
            batch = []
            for record in records[start : start + EMBED_BATCH]:
                if record.id in existing and mode == "skip":
                    report.skipped += 1
                    continue
                batch.append(record)
            if not batch:
                continue
            memories = [r.memory() for r in batch]
            dims = header.dimensions if header else 0
            reuse = header is not None and header.embedding_model == ours
            vectors = [
                r.embedding if reuse and r.embedding and len(r.embedding) == dims else None for r in batch
            ]
            stale = [n for n, v in enumerate(vectors) if v is None]
            if stale:
                fresh = await self._memories.vectors([memories[n] for n in stale])
                for n, vector in zip(stale, fresh, strict=True):
                    vectors[n] = vector
                report.reembedded += len(stale)
            await self._memories.restore(memories, [v or [] for v in vectors])
            for record in batch:
                if record.id in existing:
                    report.overwritten += 1
                else:
                    report.imported += 1
