"""Request and response bodies of /chat and /conversations, and the one error shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat

from app.api.errors import problem
from app.api.schemas.memories import NOT_BLANK, Project, ScoredOut
from app.conversations.catalog import Entry
from app.conversations.history import NewMessage
from app.conversations.models import Recalled, Summary, Turn
from app.fields import NAME_PATTERN, JsonDateTime, JsonInt, as_utc, check_conversation_id, not_blank
from app.importer.stream import Progress
from app.llm.usage import Usage
from app.prompt.builder import PromptContext

MAX_MESSAGE_CHARS = 200_000
# The rule check_conversation_id enforces, as the OpenAPI schema states it (the validator gives the message).
CONVERSATION_ID_SCHEMA = {"pattern": NAME_PATTERN, "minLength": 1, "maxLength": 128}
ConversationIdStr = Annotated[
    str, Field(json_schema_extra=CONVERSATION_ID_SCHEMA), AfterValidator(check_conversation_id)
]
Text = Annotated[
    str, Field(max_length=MAX_MESSAGE_CHARS, json_schema_extra=NOT_BLANK), AfterValidator(not_blank)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"conversation_id": "ada", "message": "Hi! I keep three beehives on my roof in Lyon."},
                {"conversation_id": "ada", "message": "What should I plant for them?", "stream": False},
            ]
        }
    )
    conversation_id: ConversationIdStr
    message: Text
    stream: StrictBool = True
    max_tokens: JsonInt | None = Field(None, ge=1, le=32768, description="Room for the reply, in tokens")
    temperature: StrictFloat | None = Field(None, ge=0.0, le=2.0)
    project: Project = Field(None, description="Scope of long-term memories: global ones and this project's")


class RecalledOut(BaseModel):
    id: str
    content: str
    score: float
    created_at: datetime
    role: str
    name: str | None = None
    turn_index: int
    neighbour_of: int | None = Field(None, description="Recalled as the turn next to this turn index")

    @classmethod
    def of(cls, memory: Recalled) -> RecalledOut:
        turn = memory.turn
        return cls(
            id=turn.id,
            content=turn.content,
            score=memory.score,
            created_at=turn.created_at,
            role=turn.role,
            name=turn.name,
            turn_index=turn.turn_index,
            neighbour_of=memory.neighbour_of,
        )


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = Field(description="Prompt tokens llama.cpp reused from its cache")
    evaluated_tokens: int = Field(description="Prompt tokens llama.cpp had to evaluate")

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            evaluated_tokens=usage.evaluated_tokens,
        )


class PromptOut(BaseModel):
    tokens: int = Field(description="Prompt tokens as Mnemo counted them with the model's tokenizer")
    budget: int = Field(description="Most tokens the prompt was allowed (context less the reply's room)")


class ChatResponse(BaseModel):
    conversation_id: str
    reply: str
    memories: list[RecalledOut]
    usage: UsageOut
    prompt: PromptOut
    turn_index: int = Field(description="Index of the stored user turn; the reply is the next one")
    finish_reason: str | None = None
    long_term_memories: list[ScoredOut] = Field(default_factory=list)


class MessageIn(Strict):
    role: Literal["user", "assistant", "system"]
    content: Text
    name: str | None = Field(None, max_length=200)
    created_at: Annotated[JsonDateTime | None, AfterValidator(as_utc)] = None

    def new_message(self) -> NewMessage:
        return NewMessage(role=self.role, content=self.content, name=self.name, created_at=self.created_at)


class ImportLine(MessageIn):
    """One line of a streamed import (NDJSON): a message and the conversation it belongs to."""

    conversation_id: ConversationIdStr


def parse_import_line(line: bytes) -> tuple[str, NewMessage]:
    """A streamed import's line as (conversation id, message); raises pydantic's ValidationError."""
    parsed = ImportLine.model_validate_json(line)
    return parsed.conversation_id, parsed.new_message()


class ImportRequest(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": "My sister Marie visits next week.",
                            "name": "Ada",
                            "created_at": "2025-05-01T09:30:00Z",
                        },
                        {"role": "assistant", "content": "Have a nice visit."},
                    ]
                }
            ]
        }
    )
    messages: list[MessageIn] = Field(min_length=1, max_length=1000)


class ImportResponse(BaseModel):
    conversation_id: str
    ids: list[str]
    turn_indices: list[int]


class ImportErrorOut(BaseModel):
    code: str
    message: str
    line: int | None = Field(None, description="The first line not imported; every line before it is stored")


class ImportProgress(BaseModel):
    """A line of a streamed import's answer: after each chunk, and last with `done` or `error`."""

    imported: int = Field(description="Messages stored so far")
    conversations: int = Field(description="Conversations written to so far")
    done: bool = False
    error: ImportErrorOut | None = Field(None, description="What stopped the import")

    @classmethod
    def of(cls, progress: Progress) -> ImportProgress:
        error = None
        if progress.error is not None:
            found = problem(progress.error)
            error = ImportErrorOut(code=found.code, message=found.message, line=progress.line)
        return cls(
            imported=progress.imported, conversations=progress.conversations, done=progress.done, error=error
        )


class MessageOut(BaseModel):
    id: str
    role: str
    content: str
    name: str | None
    turn_index: int
    created_at: datetime
    incomplete: bool
    abandoned: bool = Field(False, description="Left behind by a regenerate or an edit; not injected")

    @classmethod
    def of(cls, turn: Turn) -> MessageOut:
        return cls.model_validate(turn, from_attributes=True)


class MessagesPage(BaseModel):
    conversation_id: str
    messages: list[MessageOut]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class ContextRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"query": "How many hives do I have?"}]})
    query: Text
    max_tokens: JsonInt | None = Field(None, ge=1, le=1_000_000, description="Cap on the prompt's tokens")
    project: Project = Field(None, description="Scope of long-term memories: global ones and this project's")


class SummaryOut(BaseModel):
    id: str
    level: int
    turn_from: int
    turn_to: int
    covers_from: datetime
    covers_to: datetime
    created_at: datetime
    content: str

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        return cls.model_validate(summary, from_attributes=True)


class ContextResponse(BaseModel):
    conversation_id: str
    messages: list[dict[str, Any]]
    memories: list[RecalledOut]
    summaries: list[SummaryOut]
    window_turns: int
    prompt_tokens: int
    budget: int
    long_term_memories: list[ScoredOut] = Field(default_factory=list)

    @classmethod
    def of(cls, ctx: PromptContext) -> ContextResponse:
        return cls(
            conversation_id=ctx.conversation_id,
            messages=ctx.messages,
            memories=[RecalledOut.of(m) for m in ctx.memories],
            summaries=[SummaryOut.of(s) for s in ctx.summaries],
            window_turns=len(ctx.window),
            prompt_tokens=ctx.prompt_tokens,
            budget=ctx.budget,
            long_term_memories=[ScoredOut.scored(s) for s in ctx.long_term],
        )


class SummariesOut(BaseModel):
    conversation_id: str
    summaries: list[SummaryOut]


class DeleteResponse(BaseModel):
    conversation_id: str
    deleted: int


class ConversationOut(BaseModel):
    conversation_id: str
    turns: int = Field(description="Turns stored, abandoned ones included")
    summaries: int = Field(description="Summaries written")
    first_activity: datetime = Field(description="Time of its oldest turn (ISO 8601, UTC)")
    last_activity: datetime = Field(
        description="Time of its newest turn or summary (ISO 8601, UTC); an imported turn keeps its own time"
    )

    @classmethod
    def of(cls, entry: Entry) -> ConversationOut:
        return cls.model_validate(entry, from_attributes=True)


class ConversationsPage(BaseModel):
    """A page of the caller's conversations, most recently active first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "conversations": [
                        {
                            "conversation_id": "ada",
                            "turns": 42,
                            "summaries": 3,
                            "first_activity": "2025-05-01T09:30:00Z",
                            "last_activity": "2025-05-03T18:02:11Z",
                        }
                    ],
                    "total": 1,
                    "limit": 50,
                    "offset": 0,
                }
            ]
        }
    )
    conversations: list[ConversationOut]
    total: int = Field(description="Conversations in all, on every page")
    limit: int
    offset: int


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, all in the one error shape."""
    return {code: {"model": ErrorResponse} for code in codes}
