"""POST /chat: one turn with memory, streamed over SSE or answered as JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.api.deps import SentDep, TurnsDep
from app.api.errors import CHAT_STREAM_FAILED, problem
from app.api.events import CHAT_EVENT
from app.api.schemas.conversations import (
    ChatRequest,
    ChatResponse,
    ErrorResponse,
    PromptOut,
    RecalledOut,
    UsageOut,
)
from app.api.schemas.memories import ScoredOut
from app.api.streaming import opened, relayed
from app.errors import MnemoError
from app.llm.protocols import Delta
from app.turns.context_manager import LLMContextManager

router = APIRouter(tags=["chat"])
log = logging.getLogger("mnemo.chat")

STREAM_DOC = """\
With `stream=true` (the default) the answer is `text/event-stream`:

* `event: memory` – `{"memories": [{id, content, score, created_at, role, name, turn_index}],
  "long_term_memories": [...]}`, the recalled turns and the long-term memories in the prompt;
* `event: token` – `{"delta": "..."}` for each piece of the reply as llama.cpp produces it;
* `event: done` – `{"usage": {prompt_tokens, completion_tokens, cached_tokens, evaluated_tokens},
  "prompt": {tokens, budget}, "turn_index": N, "finish_reason": ...}` once both turns are stored
  (`prompt.tokens` is Mnemo's exact count, which matches llama.cpp's `usage.prompt_tokens`);
* `event: error` – `{"error": {"code", "message"}}` if llama.cpp fails mid-way (the user turn and
  the partial reply are kept, the reply marked incomplete).

With `stream=false` the answer is JSON with the reply, the memories and the usage.
"""


def _event(name: str, payload: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=json.dumps(payload, ensure_ascii=False, default=str))


def _memories(turn: LLMContextManager) -> list[RecalledOut]:
    assert turn.context is not None
    return [RecalledOut.of(m) for m in turn.context.memories]


def _long_term(turn: LLMContextManager) -> list[ScoredOut]:
    assert turn.context is not None
    return [ScoredOut.scored(s) for s in turn.context.long_term]


def _prompt(turn: LLMContextManager) -> PromptOut:
    assert turn.context is not None
    return PromptOut(tokens=turn.context.prompt_tokens, budget=turn.context.budget)


async def _sse(turn: LLMContextManager) -> AsyncGenerator[ServerSentEvent, None]:
    yield _event(
        "memory",
        {
            "memories": [m.model_dump(mode="json") for m in _memories(turn)],
            "long_term_memories": [m.model_dump(mode="json") for m in _long_term(turn)],
        },
    )
    try:
        async for event in turn.events():
            if isinstance(event, Delta) and event.text:
                yield _event("token", {"delta": event.text})
        stored = await turn.commit()
    except Exception as exc:
        if not isinstance(exc, MnemoError):
            log.exception("chat stream of %s failed", turn.conversation_id)
        yield _event("error", problem(exc, CHAT_STREAM_FAILED).body())
        return
    yield _event(
        "done",
        {
            "usage": UsageOut.of(turn.usage).model_dump(),
            "prompt": _prompt(turn).model_dump(),
            "turn_index": stored[0].turn_index,
            "finish_reason": turn.finish_reason,
        },
    )


@router.post(
    "/chat",
    response_model=ChatResponse,
    summary="Chat with memory",
    description=STREAM_DOC,
    responses={
        200: {
            "description": "The reply: JSON with `stream=false`, else events (`memory`, `token`..., "
            "then `done` or `error`)",
            "content": {"text/event-stream": {"schema": CHAT_EVENT}},
        },
        413: {"model": ErrorResponse, "description": "More turns than the tenant may store at all"},
        422: {"model": ErrorResponse, "description": "Bad input, or a message too large for the context"},
        429: {
            "model": ErrorResponse,
            "description": "The tenant's stored turns are at their cap; nothing stored",
        },
        502: {"model": ErrorResponse, "description": "llama.cpp refused the request"},
        503: {"model": ErrorResponse, "description": "llama.cpp or Chroma is unavailable; nothing stored"},
    },
)
async def chat(body: ChatRequest, turns: TurnsDep, sent: SentDep) -> Any:
    params: dict[str, Any] = {}
    if body.temperature is not None:
        params["temperature"] = body.temperature
    turn = turns.chat(body.conversation_id, body.message, body.max_tokens, params, body.project)
    stack = await opened(turn, sent.remember)
    if body.stream:
        return EventSourceResponse(relayed(stack, _sse(turn)), ping=15)
    async with stack:
        async for _ in turn.events():
            pass
        stored = await turn.commit()
    return ChatResponse(
        conversation_id=body.conversation_id,
        reply=turn.reply,
        memories=_memories(turn),
        usage=UsageOut.of(turn.usage),
        prompt=_prompt(turn),
        turn_index=stored[0].turn_index,
        finish_reason=turn.finish_reason,
        long_term_memories=_long_term(turn),
    )
