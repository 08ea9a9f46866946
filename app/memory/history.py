"""A conversation's turn sequence: index allocation, appending (embedded) and reading back."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache

from app.memory.embedder import Embedder
from app.memory.store import Store
from app.memory.types import Role, Summary, Turn, utcnow

EMBED_BATCH = 64


@dataclass(frozen=True)
class NewMessage:
    """A message to append; the history gives it its index."""

    role: Role
    content: str
    name: str | None = None
    created_at: datetime | None = None
    incomplete: bool = False


class History:
    """Appends turns to conversations in order and reads windows of them back.

    Keeps no per-conversation data that grows with the chat: an LRU of the next
    turn index (reloaded from the store on a miss) and weakly held locks.
    """

    def __init__(self, store: Store, embedder: Embedder, cache_size: int = 10_000) -> None:
        self._store = store
        self._embedder = embedder
        self._next: LRUCache[str, int] = LRUCache(maxsize=cache_size)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, conversation_id: str) -> asyncio.Lock:
        """The lock that keeps one conversation's turns in order.

        An asyncio lock, not anyio's: a chat turn takes it in the request handler
        and releases it in the task that streams the response.
        """
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    @asynccontextmanager
    async def locked(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self.lock(conversation_id)  # held strongly for the duration
        async with lock:
            yield

    async def next_index(self, conversation_id: str) -> int:
        """Index the next appended turn will get."""
        cached = self._next.get(conversation_id)
        if cached is None:
            cached = await self._store.last_turn_index(conversation_id) + 1
            self._next[conversation_id] = cached
        return cached

    async def append(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[Turn]:
        """Embed and store messages as the next turns; call with the conversation locked."""
        start = await self.next_index(conversation_id)
        now = utcnow()
        turns = [
            Turn(
                conversation_id=conversation_id,
                turn_index=start + offset,
                role=msg.role,
                content=msg.content,
                created_at=msg.created_at or now,
                name=msg.name,
                incomplete=msg.incomplete,
            )
            for offset, msg in enumerate(messages)
        ]
        for begin in range(0, len(turns), EMBED_BATCH):
            batch = turns[begin : begin + EMBED_BATCH]
            vectors = await self._embedder.embed([embed_text(t) for t in batch])
            await self._store.add_turns(batch, vectors)
            # Advance only past what is stored, so a failure leaves no gap.
            self._next[conversation_id] = batch[-1].turn_index + 1
        return turns

    async def read(
        self, conversation_id: str, start: int, stop: int, include_abandoned: bool = False
    ) -> list[Turn]:
        return await self._store.turns(conversation_id, start, stop, include_abandoned)

    async def abandon(self, conversation_id: str, turn_indices: Sequence[int]) -> None:
        """Mark turns left behind by a regenerate or an edit; call with the conversation locked."""
        await self._store.abandon(conversation_id, turn_indices)

    async def summaries(self, conversation_id: str) -> list[Summary]:
        return await self._store.summaries(conversation_id)

    async def forget(self, conversation_id: str) -> int:
        """Delete every record of a conversation; returns how many were removed."""
        removed = await self._store.delete_conversation(conversation_id)
        self._next.pop(conversation_id, None)
        return removed


def embed_text(turn: Turn) -> str:
    """What is embedded for a turn: the speaker's name helps questions that name people."""
    return f"{turn.name}: {turn.content}" if turn.name else turn.content
