"""Whether a message asks about the past (pure): it names a time, or it is a question."""

from __future__ import annotations

import re
from datetime import datetime

from app.conversations.when import time_span

# A sentence opened by a question word and closed by a question mark: "When did Ann move?",
# "Did I tell you about my trip?". Its answer may lie anywhere in the conversation.
QUESTION = re.compile(
    r"(?:^|[.!?\n]\s*)(?:when|what|who|whom|whose|where|which|how|why|did|do|does|have|has|had|was|were)"
    r"\b[^.!?\n]*\?",
    re.IGNORECASE,
)


def asks_about_past(message: str, now: datetime) -> bool:
    """True when the message names a time ("last May", "two weeks ago") or asks a question."""
    return QUESTION.search(message) is not None or time_span(message, now) is not None
