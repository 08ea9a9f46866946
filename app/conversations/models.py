"""Plain records that move between the store, the retriever and the prompt."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from app.fields import utcnow

Role = Literal["user", "assistant", "system"]


def turn_id(conversation_id: str, turn_index: int) -> str:
    """Stable, unique id of a turn ('/' never occurs in a conversation id)."""
    return f"{conversation_id}/t{turn_index}"


def summary_id(conversation_id: str, level: int, turn_from: int, turn_to: int) -> str:
    return f"{conversation_id}/s{level}:{turn_from}-{turn_to}"


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, stored exactly as received."""

    conversation_id: str
    turn_index: int
    role: Role
    content: str
    created_at: datetime = field(default_factory=utcnow)
    name: str | None = None
    incomplete: bool = False
    abandoned: bool = False  # left behind by a regenerate or an edit (see turns/openai_sync.py)

    @property
    def id(self) -> str:
        return turn_id(self.conversation_id, self.turn_index)


@dataclass(frozen=True)
class Summary:
    """A summary of the turns turn_from..turn_to (inclusive)."""

    conversation_id: str
    level: int
    turn_from: int
    turn_to: int
    content: str
    covers_from: datetime
    covers_to: datetime
    created_at: datetime = field(default_factory=utcnow)

    @property
    def id(self) -> str:
        return summary_id(self.conversation_id, self.level, self.turn_from, self.turn_to)


@dataclass(frozen=True)
class Recalled:
    """A stored turn recalled for the current message, with its cosine similarity."""

    turn: Turn
    score: float
    neighbour_of: int | None = None  # set when recalled as the turn next to a relevant one
