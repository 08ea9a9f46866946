"""The OpenAI-compatible drop-in: POST /v1/chat/completions with memory, GET /v1/models."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.deps import LLMDep, SentDep, TurnsDep
from app.api.errors import COMPLETION_FAILED, problem
from app.api.events import COMPLETION_EVENT
from app.api.schemas.openai import REQUEST_EXAMPLES, ChatCompletionRequest, openai_error_responses
from app.api.streaming import opened, relayed
from app.errors import InvalidInput, MnemoError
from app.fields import NAME_CHARS, check_conversation_id
from app.llm.protocols import Delta, Finished
from app.turns.client_turn import ClientTurn
from app.turns.openai_sync import derive_conversation_id

router = APIRouter(prefix="/v1", tags=["openai"])
log = logging.getLogger("mnemo.openai")

# Fields Mnemo sets itself; every other field the client sends goes to llama.cpp untouched.
OWN_FIELDS = frozenset({"messages", "stream", "stream_options"})


def conversation_of(header: str | None, body: ChatCompletionRequest, messages: list[dict[str, Any]]) -> str:
    """The header, else metadata.conversation_id or user, else an id derived from the chat's start."""
    named = header or (body.metadata or {}).get("conversation_id") or body.user
    if named is None:
        return derive_conversation_id(messages)
    try:
        return check_conversation_id(str(named))
    except ValueError as exc:
        raise InvalidInput(f"conversation id {str(named)[:140]!r}: {exc}") from exc


def _headers(turn: ClientTurn) -> dict[str, str]:
    assert turn.context is not None
    return {"X-Conversation-Id": turn.conversation_id, "X-Mnemo-Memories": str(len(turn.context.memories))}


def _chunk(source: Mapping[str, Any]) -> dict[str, Any]:
    """llama.cpp's chunk as the client gets it: its usage goes in a chunk of its own, if asked."""
    return {k: v for k, v in source.items() if k not in ("usage", "timings")}


def _usage_chunk(last: Mapping[str, Any], finished: Finished) -> dict[str, Any]:
    source = finished.chunk or {}
    return {
        "id": last.get("id") or source.get("id", "chatcmpl-mnemo"),
        "object": "chat.completion.chunk",
        "created": last.get("created") or source.get("created") or int(time.time()),
        "model": last.get("model") or source.get("model", ""),
        "choices": [],
        "usage": source.get("usage") or {},
    }


async def _sse(turn: ClientTurn, usage: bool) -> AsyncGenerator[ServerSentEvent, None]:
    last: Mapping[str, Any] = {}
    try:
        async for event in turn.events():
            if isinstance(event, Delta) and event.chunk is not None:
                last = event.chunk
                yield ServerSentEvent(data=json.dumps(_chunk(event.chunk), ensure_ascii=False))
            elif isinstance(event, Finished) and usage:
                yield ServerSentEvent(data=json.dumps(_usage_chunk(last, event), ensure_ascii=False))
        await turn.commit()
    except Exception as exc:
        if not isinstance(exc, MnemoError):
            log.exception("completion stream of %s failed", turn.conversation_id)
        body = problem(exc, COMPLETION_FAILED).openai_body()
        yield ServerSentEvent(data=json.dumps(body, ensure_ascii=False))
        return
    yield ServerSentEvent(data="[DONE]")


class Completion:
    """A whole chat.completion gathered from llama.cpp's chunks (text and tool calls)."""

    def __init__(self) -> None:
        self.head: Mapping[str, Any] = {}
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] = {}

    def add(self, event: Delta | Finished) -> None:
        if isinstance(event, Finished):
            self.usage = (event.chunk or {}).get("usage") or {}
            return
        chunk = event.chunk or {}
        self.head = self.head or chunk
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            self.text.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                self._merge(call)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def _merge(self, call: Mapping[str, Any]) -> None:
        empty = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        known = self.tool_calls.setdefault(int(call.get("index", 0)), empty)
        known["id"] = call.get("id") or known["id"]
        known["type"] = call.get("type") or known["type"]
        function = call.get("function") or {}
        known["function"]["name"] += function.get("name") or ""
        known["function"]["arguments"] += function.get("arguments") or ""

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return {
            "id": self.head.get("id", "chatcmpl-mnemo"),
            "object": "chat.completion",
            "created": self.head.get("created") or int(time.time()),
            "model": self.head.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": dict(self.usage),
        }


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat with memory",
    description=(
        "Takes OpenAI's chat completion request and passes every field but `messages`, `stream` and "
        "`stream_options` to llama.cpp untouched. The conversation is the `X-Conversation-Id` header, "
        "else `metadata.conversation_id` or `user`, else derived from the system prompt and the first "
        "user message; the response names it in `X-Conversation-Id` and counts the memories injected "
        "in `X-Mnemo-Memories`. Only messages not stored yet are stored; see docs/openai.md. "
        "Any message sequence OpenAI accepts works: Mnemo reshapes it for a chat template that refuses "
        "it (roles that do not alternate, a later system message, tool results)."
    ),
    responses={
        200: {
            "description": "A `chat.completion`, or with `stream=true` `chat.completion.chunk` events "
            "ending with `data: [DONE]`",
            "content": {"application/json": {}, "text/event-stream": {"schema": COMPLETION_EVENT}},
        },
        **openai_error_responses(413, 422, 429, 502, 503),
    },
)
async def chat_completions(
    body: Annotated[ChatCompletionRequest, Body(openapi_examples=REQUEST_EXAMPLES)],
    turns: TurnsDep,
    sent: SentDep,
    x_conversation_id: Annotated[
        str | None,
        Header(
            description="The conversation (empty: none given)",
            json_schema_extra={"pattern": f"^{NAME_CHARS}{{0,128}}$", "maxLength": 128},
        ),
    ] = None,
) -> Any:
    messages = [m.model_dump(exclude_unset=True) for m in body.messages]
    conversation_id = conversation_of(x_conversation_id, body, messages)
    params = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k not in OWN_FIELDS}
    turn = turns.client(conversation_id, messages, body.max_tokens or body.max_completion_tokens, params)
    stack = await opened(turn, sent.remember)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        return EventSourceResponse(relayed(stack, _sse(turn, usage)), ping=15, headers=_headers(turn))
    completion = Completion()
    async with stack:
        async for event in turn.events():
            completion.add(event)
        await turn.commit()
    return JSONResponse(completion.body(), headers=_headers(turn))


@router.get("/models", summary="The models llama.cpp serves", description="llama.cpp's own /v1/models.")
async def models(llm: LLMDep) -> Any:
    return await llm.models()
