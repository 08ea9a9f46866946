"""A conversation's turn sequence: index allocation, appending (embedded) and reading back."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from cachetools import LRUCache

from app.conversations import hierarchy
from app.conversations.catalog import TenantCatalog
from app.conversations.keywords import KeywordIndex
from app.conversations.models import Role, Summary, Turn
from app.conversations.store import Store
from app.errors import check_room
from app.fields import utcnow
from app.storage.embedder import Embedder

# Texts per call to the embedder (it micro-batches inside): the longer a call, the longer a chat's
# query waits for the embedder behind an import.
EMBED_CALL = 256
# Turns per keyword transaction and store write.
WRITE_BATCH = 256


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

    Keeps no per-conversation data that grows with the chat: LRUs of the next turn
    index and of the active summaries (a few per level, so logarithmic in the
    chat's length; both reloaded from the store on a miss) and weakly held locks.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        keywords: KeywordIndex | None = None,
        cache_size: int = 10_000,
        context: bool = False,
        catalog: TenantCatalog | None = None,
        max_turns: int = 0,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._max_turns = max_turns  # turns the tenant may store in all (0: no cap; counted by the catalog)
        self._writing = 0  # turns of appends under way: counted against the cap until they are stored
        self._embedder = embedder
        self._keywords = keywords
        self._context = context
        self._next: LRUCache[str, int] = LRUCache(maxsize=cache_size)
        self._active: LRUCache[str, tuple[Summary, ...]] = LRUCache(maxsize=cache_size)
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
            await self._reconcile(conversation_id, cached)
            self._next[conversation_id] = cached
        return cached

    async def _reconcile(self, conversation_id: str, stored: int) -> None:
        """Rebuild a conversation's keyword index from Chroma if they disagree (a crash between writes)."""
        if self._keywords is None or await self._keywords.count(conversation_id) == stored:
            return
        turns = await self._store.turns(conversation_id, 0, stored, include_abandoned=True)
        await self._keywords.delete_conversation(conversation_id)
        await self._keywords.add(turns, [embed_text(t) for t in turns])

    async def make_room(self, turns: int, reserved: int = 0) -> None:
        """Raise StorageFull (429), or OverStorageCap (413), if `turns` more would pass the tenant's cap.

        Counts what is stored and what appends under way will store (less the caller's own
        `reserved` turns among those).
        """
        if self._max_turns <= 0 or self._catalog is None or turns <= 0:
            return
        if turns <= self._max_turns:
            stored = await self._catalog.stored_turns() + self._writing - reserved
        else:
            stored = 0  # too many for any tenant: no need to count
        check_room("turns", "MNEMO_MAX_STORED_TURNS", self._max_turns, stored, turns)

    async def hold(self, turns: int) -> None:
        """Reserve room for `turns` to be appended later (a chat turn's, before the model is called).

        Raises as `make_room` when they would not fit; else `release` them once the turn is done,
        and pass them to `append` as `held`.
        """
        self._writing += turns
        try:
            await self.make_room(turns, reserved=turns)
        except BaseException:
            self._writing -= turns
            raise

    def release(self, turns: int) -> None:
        """Give back what `hold` reserved."""
        self._writing -= turns

    async def append(self, conversation_id: str, messages: Sequence[NewMessage], held: int = 0) -> list[Turn]:
        """Embed and store messages as the next turns; call with the conversation locked.

        Refused whole, before anything is embedded, if the tenant's cap on stored turns would be
        passed (`held`: turns the caller reserved with `hold` for this). The whole request is
        embedded first, then stored in batches of WRITE_BATCH: each one keyword transaction and
        one store write, the next index moved past it once both are in.
        """
        # Reserved against the cap before the check and until stored, so appends to other
        # conversations of the tenant, under way at once, cannot pass it together.
        pending = [len(messages)]
        self._writing += pending[0]
        try:
            await self.make_room(len(messages), reserved=pending[0] + held)
            return await self._append(conversation_id, messages, pending)
        finally:
            self._writing -= pending[0]

    async def _append(
        self, conversation_id: str, messages: Sequence[NewMessage], pending: list[int]
    ) -> list[Turn]:
        """`append` past the cap's check; `pending[0]` counts the turns not stored yet."""
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
        texts = [embed_text(t) for t in turns]
        vectors = await self._embed(await self._vector_texts(conversation_id, turns, texts))
        for begin in range(0, len(turns), WRITE_BATCH):
            end = begin + WRITE_BATCH
            await self._write(turns[begin:end], texts[begin:end], vectors[begin:end])
            stored = len(turns[begin:end])  # now in the catalog's count
            pending[0] -= stored
            self._writing -= stored
        return turns

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        """Vectors of the texts, embedded shortest first in calls of EMBED_CALL.

        A batch is padded to its longest text, so texts of like length together cost less
        (the embedder sorts within a call, this sorts across the request); the calls stay
        short so that a chat's query is embedded in between.
        """
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for begin in range(0, len(order), EMBED_CALL):
            picked = order[begin : begin + EMBED_CALL]
            found = await self._embedder.embed([texts[i] for i in picked], "document")
            for i, vector in zip(picked, found, strict=True):
                vectors[i] = vector
        return vectors

    async def _write(self, batch: list[Turn], texts: list[str], vectors: list[list[float]]) -> None:
        """One batch's keyword rows, then its vectors; the next index moves past it only once both are in."""
        conversation_id = batch[0].conversation_id
        if self._keywords is not None:
            await self._keywords.add(batch, texts)
        try:
            await self._store.add_turns(batch, vectors)
        except BaseException:
            if self._keywords is not None:  # keep the two indexes in step
                await self._keywords.remove(conversation_id, [t.turn_index for t in batch])
            raise
        # Advance only past what is stored, so a failure leaves no gap.
        self._next[conversation_id] = batch[-1].turn_index + 1
        if self._catalog is not None:
            await self._catalog.turns_added(batch)

    async def _vector_texts(self, conversation_id: str, turns: Sequence[Turn], texts: list[str]) -> list[str]:
        """What the vectors are computed from: each turn, and with `context` the turn it answers.

        The turn before the first comes from the store, read once per append.
        """
        if not self._context or not turns:
            return texts
        first = turns[0].turn_index
        before = await self._store.turns(conversation_id, first - 1, first) if first > 0 else []
        previous: list[Turn | None] = [before[0] if before else None, *turns[:-1]]
        return [contextual_text(t, p) for t, p in zip(turns, previous, strict=True)]

    async def read(
        self, conversation_id: str, start: int, stop: int, include_abandoned: bool = False
    ) -> list[Turn]:
        return await self._store.turns(conversation_id, start, stop, include_abandoned)

    async def abandon(self, conversation_id: str, turn_indices: Sequence[int]) -> None:
        """Mark turns left behind by a regenerate or an edit; call with the conversation locked."""
        await self._store.abandon(conversation_id, turn_indices)

    async def summaries(self, conversation_id: str) -> list[Summary]:
        """Every summary of the conversation, folded ones too (for listing)."""
        return await self._store.summaries(conversation_id)

    async def active_summaries(self, conversation_id: str) -> list[Summary]:
        """The summaries that stand for the past now (`hierarchy.active`), oldest first.

        Read from the store once per conversation, then kept up to date by
        `add_summary`, so a turn does not reread a list that grows with the chat.
        """
        cached = self._active.get(conversation_id)
        if cached is None:
            cached = tuple(hierarchy.active(await self._store.summaries(conversation_id)))
            self._active[conversation_id] = cached
        return list(cached)

    async def add_summary(self, summary: Summary, vector: Sequence[float]) -> None:
        """Store a summary; call with the conversation locked."""
        active = await self.active_summaries(summary.conversation_id)
        await self._store.add_summary(summary, vector)
        self._active[summary.conversation_id] = tuple(hierarchy.active([*active, summary]))
        if self._catalog is not None:
            await self._catalog.summary_added(summary)

    async def forget(self, conversation_id: str) -> int:
        """Delete every record of a conversation; returns how many were removed."""
        removed = await self._store.delete_conversation(conversation_id)
        if self._keywords is not None:
            await self._keywords.delete_conversation(conversation_id)
        if self._catalog is not None:
            await self._catalog.forget(conversation_id)
        self._next.pop(conversation_id, None)
        self._active.pop(conversation_id, None)
        return removed


def embed_text(turn: Turn) -> str:
    """What is indexed for a turn: the speaker's name helps questions that name people."""
    return f"{turn.name}: {turn.content}" if turn.name else turn.content


def contextual_text(turn: Turn, previous: Turn | None) -> str:
    """The turn first (the embedder truncates long input at the end), then what it replies to."""
    if previous is None:
        return embed_text(turn)
    return f"{embed_text(turn)}\n(in reply to {embed_text(previous)})"
