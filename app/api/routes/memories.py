"""/memories: typed long-term memories: CRUD, search, history, stats, export, import, cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from app.api.deps import BookDep, CleanupDep, ExtractorDep, SummariesDep, TransferDep
from app.api.schemas.conversations import error_responses
from app.api.schemas.memories import (
    PROJECT_SCHEMA,
    CleanupIn,
    CleanupOut,
    DeletedOut,
    HistoryOut,
    ImportError_,
    ImportOut,
    MemoryCreate,
    MemoryOut,
    MemoryPageOut,
    MemoryPatch,
    MergedOut,
    StoredOut,
)
from app.errors import InvalidInput
from app.fields import JsonDateTime, as_utc, check_project
from app.longterm.book import Outcome
from app.longterm.cleanup import CleanupPolicy
from app.longterm.models import LongTermMemory, MemoryQuery, MemoryType, Source

router = APIRouter(prefix="/memories", tags=["memories"])
ERRORS = error_responses(404, 422, 503)
WRITES = error_responses(404, 413, 422, 429, 503)  # past the tenant's cap on stored memories: refused
MAX_IMPORT_BYTES = 50_000_000
IMPORT_EXAMPLE = (
    '{"format": "mnemo-memories", "version": 1, "embedding_model": "all-MiniLM-L6-v2", "dimensions": 384}\n'
    '{"id": "mem_1", "type": "user_preference", "title": "Theme", "content": "User prefers dark theme"}\n'
)
# The body as OpenAPI states it: JSON Lines, validated line by line (docs/memories.md).
IMPORT_BODY = {
    "required": True,
    "description": (
        "UTF-8 JSON Lines, at most 50 MB, not blank: an optional header line "
        '(`{"format": "mnemo-memories", "version": 1, "embedding_model", "dimensions"}`) then one memory '
        "a line (`id`, `type`, `title`, `content`, optional `tags`, `project`, `pinned`, times, links and "
        "`embedding`), as `GET /memories/export` writes them. Bad lines are reported, not fatal."
    ),
    "content": {
        "application/x-ndjson": {
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IMPORT_BYTES, "pattern": "\\S"},
            "example": IMPORT_EXAMPLE,
        }
    },
}


@router.post(
    "",
    response_model=StoredOut,
    status_code=status.HTTP_201_CREATED,
    summary="Store a memory",
    description=(
        "Stores a typed memory (source `user`). A duplicate of a current memory of the same type and "
        "scope (same content, or cosine >= 0.9) is merged into it instead (answer 200, outcome `merged`); "
        "a near one (cosine >= 0.75) or the one named by `supersedes` is closed and replaced "
        "(outcome `superseded`, the old one in `closed`)."
    ),
    responses={200: {"model": StoredOut, "description": "Merged into a memory already stored"}, **WRITES},
)
async def create_memory(body: MemoryCreate, book: BookDep, response: Response) -> StoredOut:
    memory = LongTermMemory(
        type=body.type,
        title=body.title,
        content=body.content,
        tags=tuple(body.tags),
        project=body.project,
        pinned=body.pinned,
        source=Source.USER,
    )
    stored = await book.create(memory, supersedes=body.supersedes)
    if stored.outcome == Outcome.MERGED:
        response.status_code = status.HTTP_200_OK
    return StoredOut(
        outcome=stored.outcome.value,
        memory=MemoryOut.of(stored.memory),
        closed=MemoryOut.of(stored.closed) if stored.closed else None,
    )


@router.get(
    "",
    response_model=MemoryPageOut,
    summary="List or search memories",
    description=(
        "Without `q`: newest first. With `q`: ranked by `score` (mode `hybrid`: 0.7 x cosine + 0.3 x "
        "BM25 relative to the best keyword hit; `semantic`: cosine; `keyword`: BM25 only, non-matches "
        "left out). Filters combine: `type` and `tag` may repeat (any of them), `project` (add "
        "`include_global=true` for global ones too), `source`, `pinned`, `created_after`/`created_before`; "
        "superseded and archived memories only when asked for."
    ),
    responses=ERRORS,
)
async def list_memories(
    book: BookDep,
    q: Annotated[str | None, Query(max_length=2000, description="Text to search for")] = None,
    mode: Literal["hybrid", "semantic", "keyword"] = "hybrid",
    type: Annotated[list[MemoryType] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    project: Annotated[str | None, Query(json_schema_extra=PROJECT_SCHEMA)] = None,
    include_global: bool = False,
    source: Source | None = None,
    pinned: bool | None = None,
    created_after: JsonDateTime | None = None,
    created_before: JsonDateTime | None = None,
    include_superseded: bool = False,
    include_archived: bool = False,
    min_score: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> MemoryPageOut:
    try:
        check_project(project)
    except ValueError as exc:
        raise InvalidInput(f"project: {exc}") from exc
    query = MemoryQuery(
        text=q,
        mode=mode,
        types=tuple(type or ()),
        tags=tuple(tag or ()),
        project=project,
        global_too=include_global,
        source=source,
        pinned=pinned,
        created_after=as_utc(created_after),
        created_before=as_utc(created_before),
        include_superseded=include_superseded,
        include_archived=include_archived,
        offset=offset,
        limit=limit,
        min_score=min_score,
    )
    return MemoryPageOut.of(await book.search(query))


@router.get(
    "/stats",
    summary="Counts and sizes",
    description=(
        "Counts by type, source, project and tag (current memories), superseded and archived counts, "
        "storage sizes, and since start-up: the extraction and summary counters, failures by reason "
        "and the last jobs of each (what each stored or wrote, or why it failed), and the summary queue "
        "(conversations queued, running, dropped past the global cap, and owed a fold since)."
    ),
    responses=ERRORS,
)
async def memory_stats(book: BookDep, extractor: ExtractorDep, summaries: SummariesDep) -> dict[str, object]:
    stats = await book.stats()
    stats["extraction"] = {
        "enabled": extractor is not None,
        **(extractor.stats.as_dict() if extractor else {}),
    }
    stats["summaries"] = {
        "written": summaries.written,
        "failed": summaries.failures,
        "running": summaries.busy,
        **summaries.jobs.as_dict(),
    }
    stats["summary_queue"] = asdict(summaries.queue)
    return stats


@router.get(
    "/export",
    summary="Export as JSONL",
    description="A header line, then a line per memory with every field and its vector (docs/memories.md).",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **ERRORS},
)
async def export_memories(transfer: TransferDep) -> StreamingResponse:
    lines = transfer.export()
    first = await anext(lines)  # fail as a JSON error (not mid-stream) when the store is down

    async def body() -> AsyncIterator[str]:
        yield first
        async for line in lines:
            yield line

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"content-disposition": 'attachment; filename="mnemo-memories.jsonl"'},
    )


@router.post(
    "/import",
    response_model=ImportOut,
    summary="Import JSONL",
    description=(
        "The body is an export (JSONL). Each line is validated on its own: bad lines are reported with "
        "their number and the rest imports. `mode=skip` leaves memories whose id exists; `overwrite` "
        "replaces them. Vectors are reused when the header names our embedding model, else re-embedded. "
        "Refused whole (429, or 413 for more than the cap) if its new memories pass the tenant's cap."
    ),
    responses=WRITES,
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_memories(
    request: Request, transfer: TransferDep, mode: Literal["skip", "overwrite"] = "skip"
) -> ImportOut:
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"the import is larger than {MAX_IMPORT_BYTES} bytes; split it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the import is not UTF-8: {exc}") from exc
    if not text.strip():
        raise InvalidInput("the import is empty")
    report = await transfer.import_lines(text.splitlines(), mode)
    return ImportOut(
        imported=report.imported,
        overwritten=report.overwritten,
        skipped=report.skipped,
        reembedded=report.reembedded,
        errors=[ImportError_(line=n, message=m) for n, m in report.errors],
    )


@router.post(
    "/cleanup",
    response_model=CleanupOut,
    summary="Clean up",
    description=(
        "Archive or delete memories older than N days or unused for N days, merge duplicates, cap the "
        "count. Pinned memories are never touched. `dry_run` (the default) only reports."
    ),
    responses=ERRORS,
)
async def cleanup_memories(body: CleanupIn, cleanup: CleanupDep) -> CleanupOut:
    policy = CleanupPolicy(
        older_than_days=body.older_than_days,
        unused_days=body.unused_days,
        action=body.action,
        consolidate=body.consolidate_duplicates,
        max_memories=body.max_memories,
        dry_run=body.dry_run,
    )
    report = await cleanup.run(policy)
    return CleanupOut(
        dry_run=report.dry_run,
        archived=report.archived,
        deleted=report.deleted,
        merged=[MergedOut(kept=k, removed=r) for k, r in report.merged],
    )


@router.get("/{memory_id}", response_model=MemoryOut, summary="Read a memory", responses=ERRORS)
async def get_memory(memory_id: str, book: BookDep) -> MemoryOut:
    return MemoryOut.of(await book.get(memory_id))


@router.patch(
    "/{memory_id}",
    response_model=MemoryOut,
    summary="Edit a memory",
    description="A correction in place (same id); re-embedded when title or content change.",
    responses=ERRORS,
)
async def update_memory(memory_id: str, body: MemoryPatch, book: BookDep) -> MemoryOut:
    changes = body.changes()
    if not changes:
        raise InvalidInput("nothing to change: send at least one field")
    return MemoryOut.of(await book.update(memory_id, changes))


@router.delete("/{memory_id}", response_model=DeletedOut, summary="Delete a memory", responses=ERRORS)
async def delete_memory(memory_id: str, book: BookDep) -> DeletedOut:
    await book.delete(memory_id)
    return DeletedOut(id=memory_id)


@router.get(
    "/{memory_id}/history",
    response_model=HistoryOut,
    summary="Versions of a fact",
    description="The memory with those it superseded and those that superseded it, oldest first.",
    responses=ERRORS,
)
async def memory_history(memory_id: str, book: BookDep) -> HistoryOut:
    versions = await book.history(memory_id)
    return HistoryOut(id=memory_id, versions=[MemoryOut.of(m) for m in versions])
