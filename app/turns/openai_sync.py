"""Matching a client's resent history against the stored turns (pure): what is new, what was abandoned.

OpenAI-style clients send the whole conversation with every request. Mnemo stores
each message once, so it lines the client's user and assistant messages up with the
conversation's active (not abandoned) stored turns and keeps only the difference:

* The alignment starts at the first stored turn when the client's first message matches it;
  otherwise at the latest place where the client's first two messages match two consecutive
  stored turns (a client that trims its oldest messages); otherwise there is none and every
  client message is new (a client that sends only its newest message, or a first contact).
* From the alignment on, the messages that match in order are already stored.
* Stored turns after the matched run are abandoned: a regenerate (the same history sent
  again without the last reply) abandons that reply; an edited earlier message abandons
  everything from the edit on. Abandoned turns are kept, marked `abandoned`, and are
  never again injected into prompts.
* The client's messages after the matched run are new and are stored, with the reply.

Messages are compared by their text with surrounding whitespace ignored; system and
tool messages, and assistant messages without text (tool calls), take no part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.conversations.models import Turn
from app.llm.portable import text_of
from app.prompt.layout import user_words

STORED_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class ClientMessage:
    """A user or assistant message of the client's history, as text."""

    role: str
    content: str


@dataclass(frozen=True)
class Sync:
    """What to do with a client's history: turns to abandon and messages to append."""

    abandon: list[int]  # turn indices
    new: list[ClientMessage]
    matched: int  # client messages already stored


def conversation_messages(messages: Sequence[Mapping[str, Any]]) -> list[ClientMessage]:
    """The client's user and assistant messages with text, in order."""
    found = []
    for message in messages:
        role = message.get("role")
        text = text_of(message.get("content"))
        if role in STORED_ROLES and text.strip():
            found.append(ClientMessage(str(role), text))
    return found


def _same(turn: Turn, message: ClientMessage) -> bool:
    return turn.role == message.role and turn.content.strip() == message.content.strip()


def _run(stored: Sequence[Turn], start: int, client: Sequence[ClientMessage]) -> int:
    """How many client messages match the stored turns from `start` on, in order."""
    n = 0
    while start + n < len(stored) and n < len(client) and _same(stored[start + n], client[n]):
        n += 1
    return n


def _alignment(stored: Sequence[Turn], client: Sequence[ClientMessage]) -> int | None:
    if not stored or not client:
        return None
    if _same(stored[0], client[0]):
        return 0
    if len(client) >= 2:
        for start in range(len(stored) - 2, 0, -1):
            if _run(stored, start, client[:2]) == 2:
                return start
    return None


def plan_sync(stored: Sequence[Turn], client: Sequence[ClientMessage]) -> Sync:
    """Line the client's messages up with the active stored turns (oldest first)."""
    start = _alignment(stored, client)
    if start is None:
        return Sync(abandon=[], new=list(client), matched=0)
    matched = _run(stored, start, client)
    abandoned = [t.turn_index for t in stored[start + matched :]]
    return Sync(abandon=abandoned, new=list(client[matched:]), matched=matched)


def derive_conversation_id(messages: Sequence[Mapping[str, Any]]) -> str:
    """A stable id from the system prompt and the first user message, for clients that name none."""
    system = next((text_of(m.get("content")) for m in messages if m.get("role") == "system"), "")
    first = next((text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
    first = user_words(first)  # the same conversation whether or not the client echoes a memory block
    digest = hashlib.sha256(f"{system.strip()}\x00{first.strip()}".encode()).hexdigest()
    return f"oa-{digest[:32]}"
