"""An OpenAI client's messages as the prompt sees them (pure): system, history, newest message, cost."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import InvalidInput
from app.llm.portable import text_of


def split_client(
    messages: Sequence[Mapping[str, Any]], default_system: str
) -> tuple[str, list[Mapping[str, Any]], Mapping[str, Any]]:
    """The client's leading system message (else Mnemo's), its history, and its newest message."""
    if not messages:
        raise InvalidInput("messages: at least one message is required")
    rest = list(messages)
    system = default_system
    if rest[0].get("role") in ("system", "developer"):
        system = text_of(rest.pop(0).get("content"))
    if not rest:  # system messages only: templates place a system prompt with the user's turn
        return system, [], {"role": "user", "content": ""}
    return system, rest[:-1], rest[-1]


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the client's newest user message; empty when there is none."""
    return next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")


def client_text(message: Mapping[str, Any]) -> str:
    """What a client message costs, roughly: its text and any tool calls."""
    calls = message.get("tool_calls")
    return text_of(message.get("content")) + (json.dumps(calls) if calls else "")


def user_start(window: Sequence[Mapping[str, Any]], start: int) -> int:
    """Move a cut forward to a user message: a history must not open with a reply or a tool result."""
    if start == 0:
        return 0
    while start < len(window) and window[start].get("role") != "user":
        start += 1
    return start
