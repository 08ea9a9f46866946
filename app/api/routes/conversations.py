"""Conversation history: list, import, read, preview the context, list summaries, forget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.api.deps import (
    BuilderDep,
    CatalogDep,
    ConversationIdPath,
    HistoryDep,
    RecorderDep,
    SentDep,
    SettingsDep,
)
from app.api.schemas.conversations import (
    ContextRequest,
    ContextResponse,
    ConversationOut,
    ConversationsPage,
    DeleteResponse,
    ImportProgress,
    ImportRequest,
    ImportResponse,
    MessageOut,
    MessagesPage,
    SummariesOut,
    SummaryOut,
    error_responses,
    parse_import_line,
)
from app.errors import InvalidInput, NotFound
from app.importer.lines import MAX_LINE_BYTES, numbered_lines
from app.importer.stream import CHUNK_MESSAGES, Progress, StreamImport

router = APIRouter(prefix="/conversations", tags=["conversations"])
ERRORS = error_responses(422, 503)
WRITES = error_responses(413, 422, 429, 503)  # a write past the tenant's cap on stored turns is refused


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResponse,
    summary="Import history",
    description=(
        "Append up to 1,000 messages to a conversation, embedded in batches, in the order given. "
        "Refused whole (429, or 413 for more than the cap) past the tenant's cap on stored turns."
    ),
    responses=WRITES,
)
async def import_messages(
    conversation_id: ConversationIdPath, body: ImportRequest, recorder: RecorderDep
) -> ImportResponse:
    turns = await recorder.append(conversation_id, [m.new_message() for m in body.messages])
    return ImportResponse(
        conversation_id=conversation_id,
        ids=[t.id for t in turns],
        turn_indices=[t.turn_index for t in turns],
    )


@router.get(
    "",
    response_model=ConversationsPage,
    summary="List conversations",
    description=(
        "The caller's conversations, most recently active first, with how many turns and summaries each "
        "stores and when it was first and last written to; a page at a time."
    ),
    responses=ERRORS,
)
async def list_conversations(
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Conversations per page")] = 50,
    offset: Annotated[int, Query(ge=0, description="Conversations to skip")] = 0,
) -> ConversationsPage:
    entries, total = await catalog.page(limit, offset)
    return ConversationsPage(
        conversations=[ConversationOut.of(e) for e in entries], total=total, limit=limit, offset=offset
    )


NDJSON_TYPES = ("application/x-ndjson", "application/jsonl")
IMPORT_BODY = {
    "required": True,
    "content": {
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "One JSON message per line"},
            "example": '{"conversation_id": "ada", "role": "user", "content": "My sister Marie visits."}\n'
            '{"conversation_id": "ada", "role": "assistant", "content": "Have a nice visit."}\n',
        }
    },
}


class NotNDJSON(InvalidInput):
    status_code = 415
    code = "unsupported_media_type"


class ImportStreamResponse(StreamingResponse):
    """Streams progress while the request body is still being read.

    Starlette's StreamingResponse listens for a disconnect by calling `receive` in a task of its
    own (below ASGI 2.4, as under httpx's ASGITransport), which would take the body's chunks from
    the import; a client that leaves shows up as ClientDisconnect from the body the import reads.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError as exc:  # as Starlette's own does on servers that say when the client left
            raise ClientDisconnect() from exc


@router.post(
    "/import",
    summary="Import a stream",
    description=(
        "NDJSON (`Content-Type: application/x-ndjson`), one message per line: `conversation_id`, "
        "`role`, `content`, optional `name` and `created_at`, any number of conversations, "
        f"interleaved or grouped. Appended every {CHUNK_MESSAGES:,} lines, each conversation in the "
        "order of its lines. The answer streams a line `{imported, conversations}` per chunk and a "
        "last one with `done` or `error`. A bad line stops the import: every line before it is "
        f"stored, none from it on, and `error.line` names it. A line over {MAX_LINE_BYTES:,} bytes is "
        "a 413. An import that stops in its first chunk answers with the error's status."
    ),
    response_class=ImportStreamResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **error_responses(413, 415, 422, 429, 503)},
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_stream(request: Request, recorder: RecorderDep) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in NDJSON_TYPES:
        raise NotNDJSON(
            f"Send the import as application/x-ndjson, one message per line, not {kind or 'no content type'}."
        )
    events = StreamImport(recorder, parse_import_line).run(numbered_lines(request.stream()))
    first = await anext(events)
    if first.error is not None:  # nothing streamed yet: the status tells, the body says how far it got
        body = ImportProgress.of(first).model_dump(mode="json", exclude_defaults=True)
        return JSONResponse(body, status_code=first.error.status_code)
    return ImportStreamResponse(progress_lines(first, events), media_type="application/x-ndjson")


async def progress_lines(first: Progress, rest: AsyncIterator[Progress]) -> AsyncIterator[str]:
    yield ImportProgress.of(first).model_dump_json(exclude_defaults=True) + "\n"
    async for progress in rest:
        yield ImportProgress.of(progress).model_dump_json(exclude_defaults=True) + "\n"


@router.get(
    "/{conversation_id}/messages",
    response_model=MessagesPage,
    summary="Read history",
    description="The stored turns in order, a page at a time; follow `next_offset` until it is null.",
    responses=ERRORS,
)
async def list_messages(
    conversation_id: ConversationIdPath,
    history: HistoryDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_abandoned: Annotated[bool, Query(description="Also turns left by a regenerate or edit")] = False,
) -> MessagesPage:
    total = await history.next_index(conversation_id)
    stop = min(offset + limit, total)
    turns = await history.read(conversation_id, offset, stop, include_abandoned)
    return MessagesPage(
        conversation_id=conversation_id,
        messages=[MessageOut.of(t) for t in turns],
        total=total,
        offset=offset,
        limit=limit,
        next_offset=offset + limit if offset + limit < total else None,
    )


@router.post(
    "/{conversation_id}/context",
    response_model=ContextResponse,
    summary="Preview the context",
    description=(
        "The exact messages a chat with `query` would send to the model, the memories chosen with "
        "their scores, and the prompt's size in tokens, without calling the model or storing anything. "
        "`max_tokens` caps the prompt's size; by default it is the context less the reply's room."
    ),
    responses=ERRORS,
)
async def preview_context(
    conversation_id: ConversationIdPath, body: ContextRequest, builder: BuilderDep, settings: SettingsDep
) -> ContextResponse:
    budget = body.max_tokens or await builder.prompt_budget(settings.reply_tokens)
    context = await builder.build(conversation_id, body.query, budget, body.project)
    return ContextResponse.of(context)


@router.get(
    "/{conversation_id}/context",
    response_model=ContextResponse,
    summary="The last context sent",
    description=(
        "The messages, memories and summaries of the last prompt Mnemo sent for this conversation "
        "(since it started), e.g. to see why the model knew something in a streamed reply."
    ),
    responses=error_responses(404, 422, 503),
)
async def last_context(conversation_id: ConversationIdPath, sent: SentDep) -> ContextResponse:
    context = sent.last(conversation_id)
    if context is None:
        raise NotFound(f"No prompt was sent for conversation {conversation_id!r} since Mnemo started.")
    return ContextResponse.of(context)


@router.get(
    "/{conversation_id}/summaries",
    response_model=SummariesOut,
    summary="List summaries",
    description="The summaries written for a conversation, with the turn range and dates each covers.",
    responses=ERRORS,
)
async def list_summaries(conversation_id: ConversationIdPath, history: HistoryDep) -> SummariesOut:
    summaries = await history.summaries(conversation_id)
    return SummariesOut(conversation_id=conversation_id, summaries=[SummaryOut.of(s) for s in summaries])


@router.delete(
    "/{conversation_id}",
    response_model=DeleteResponse,
    summary="Forget a conversation",
    description="Deletes every turn, summary and vector of the conversation. Deleting twice is harmless.",
    responses=ERRORS,
)
async def delete_conversation(conversation_id: ConversationIdPath, recorder: RecorderDep) -> DeleteResponse:
    deleted = await recorder.forget(conversation_id)
    return DeleteResponse(conversation_id=conversation_id, deleted=deleted)
