"""Conversation history: import, read, preview the context, list summaries, forget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import BuilderDep, ConversationIdPath, HistoryDep, RecorderDep, SentDep, SettingsDep
from app.api.schemas.conversations import (
    ContextRequest,
    ContextResponse,
    DeleteResponse,
    ImportRequest,
    ImportResponse,
    MessageOut,
    MessagesPage,
    SummariesOut,
    SummaryOut,
    error_responses,
)
from app.conversations.history import NewMessage
from app.errors import NotFound

router = APIRouter(prefix="/conversations", tags=["conversations"])
ERRORS = error_responses(422, 503)


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResponse,
    summary="Import history",
    description="Append up to 1,000 messages to a conversation, embedded in batches, in the order given.",
    responses=ERRORS,
)
async def import_messages(
    conversation_id: ConversationIdPath, body: ImportRequest, recorder: RecorderDep
) -> ImportResponse:
    messages = [
        NewMessage(role=m.role, content=m.content, name=m.name, created_at=m.created_at)
        for m in body.messages
    ]
    turns = await recorder.append(conversation_id, messages)
    return ImportResponse(
        conversation_id=conversation_id,
        ids=[t.id for t in turns],
        turn_indices=[t.turn_index for t in turns],
    )


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
