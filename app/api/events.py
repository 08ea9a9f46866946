"""The server-sent events of POST /chat and POST /v1/chat/completions, as OpenAPI schemas.

OpenAPI before 3.2 describes an event stream by the schema of one event: an object with
`event` (its name) and `data` (a string, here JSON with its own `contentSchema`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.api.schemas.conversations import ErrorResponse, PromptOut, RecalledOut, UsageOut
from app.api.schemas.memories import ScoredOut


class MemoryEvent(BaseModel):
    memories: list[RecalledOut] = Field(description="Earlier turns recalled into the prompt")
    long_term_memories: list[ScoredOut] = Field(description="Long-term memories in the prompt")


class TokenEvent(BaseModel):
    delta: str = Field(description="The next piece of the reply, as llama.cpp produced it")


class DoneEvent(BaseModel):
    usage: UsageOut
    prompt: PromptOut
    turn_index: int = Field(description="Index of the stored user turn; the reply is the next one")
    finish_reason: str | None


def inline(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """A pydantic JSON schema with its `$defs` written in place, to stand alone inside OpenAPI."""
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
        schema = {k: v for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return inline(defs[ref.removeprefix("#/$defs/")] if defs else {}, defs)
        return {k: inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [inline(v, defs) for v in schema]
    return schema


def event(name: str, payload: type[BaseModel]) -> dict[str, Any]:
    """One named event whose data is `payload` as JSON."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": inline(payload.model_json_schema()),
            },
        },
    }


CHAT_EVENT = {
    "oneOf": [
        event("memory", MemoryEvent),
        event("token", TokenEvent),
        event("done", DoneEvent),
        event("error", ErrorResponse),
    ]
}

# llama.cpp's chunks as it streams them, then `[DONE]`; an error chunk if it fails mid-way.
COMPLETION_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "event": {"const": "message"},
        "data": {"type": "string", "description": "A `chat.completion.chunk` as JSON, or `[DONE]`"},
    },
}
