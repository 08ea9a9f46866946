"""The last prompt sent in each conversation, kept in memory so a user can see what was injected."""

from __future__ import annotations

from cachetools import LRUCache

from app.prompt.builder import PromptContext

DEFAULT_CONVERSATIONS = 1000


class SentPrompts:
    """The newest prompt of each of the most recently active conversations (since start-up)."""

    def __init__(self, conversations: int = DEFAULT_CONVERSATIONS) -> None:
        self._last: LRUCache[str, PromptContext] = LRUCache(maxsize=conversations)

    def remember(self, context: PromptContext) -> None:
        """Note `context` as its conversation's last prompt; the least recent conversation goes first."""
        self._last[context.conversation_id] = context

    def last(self, conversation_id: str) -> PromptContext | None:
        """The last prompt sent in the conversation, if one was since start-up."""
        return self._last.get(conversation_id)
