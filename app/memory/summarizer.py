"""Folding turns that left the recent window into a rolling summary, off the hot path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from app.errors import MnemoError
from app.memory.embedder import Embedder
from app.memory.history import History
from app.memory.store import Store
from app.memory.types import Summary, Turn

log = logging.getLogger("mnemo.summarizer")

INSTRUCTIONS = (
    "You write the running summary of a conversation between a user and an assistant. "
    "Keep every name, number, date, preference and decision. Write plain sentences, at most 150 words."
)


class Completer(Protocol):
    async def complete(self, messages: Sequence[dict[str, Any]], params: dict[str, Any]) -> str: ...


class Counter(Protocol):
    async def text(self, text: str) -> int: ...


def transcript(turns: Sequence[Turn]) -> str:
    return "\n".join(f"{t.name or t.role}: {t.content}" for t in turns)


def summary_request(previous: Summary | None, turns: Sequence[Turn]) -> list[dict[str, Any]]:
    before = f"Summary so far:\n{previous.content}\n\n" if previous else ""
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {
            "role": "user",
            "content": f"{before}New turns:\n{transcript(turns)}\n\nWrite the updated summary.",
        },
    ]


class Summarizer:
    """Writes a summary when enough turns have left the window; never deletes a turn."""

    def __init__(
        self,
        history: History,
        store: Store,
        embedder: Embedder,
        llm: Completer,
        counter: Counter,
        every: int,
        keep: int,
        max_tokens: int,
        input_tokens: int = 1500,
    ) -> None:
        self._history = history
        self._store = store
        self._embedder = embedder
        self._llm = llm
        self._counter = counter
        self._every = every
        self._keep = keep
        self._max_tokens = max_tokens
        self._input_tokens = input_tokens

    async def pending(self, conversation_id: str) -> tuple[Summary | None, int, int]:
        """The latest summary and the range [start, stop) of turns it should now absorb."""
        latest = await self._history.latest_summary(conversation_id)
        start = latest.turn_to + 1 if latest else 0
        stop = await self._history.next_index(conversation_id) - self._keep
        return latest, start, stop

    async def due(self, conversation_id: str) -> bool:
        _, start, stop = await self.pending(conversation_id)
        return stop - start >= 2 * self._every

    async def fold(self, conversation_id: str) -> Summary | None:
        """Fold the turns that left the window into a new rolling summary, if enough did."""
        latest, start, stop = await self.pending(conversation_id)
        if stop - start < 2 * self._every:
            return None
        turns = await self._take(await self._history.read(conversation_id, start, stop))
        if not turns:
            return None
        text = (
            await self._llm.complete(
                summary_request(latest, turns), {"max_tokens": self._max_tokens, "temperature": 0.2}
            )
        ).strip()
        if not text:
            raise MnemoError("the model returned an empty summary")
        summary = Summary(
            conversation_id=conversation_id,
            level=0,
            turn_from=latest.turn_from if latest else turns[0].turn_index,
            turn_to=turns[-1].turn_index,
            content=text,
            covers_from=latest.covers_from if latest else turns[0].created_at,
            covers_to=turns[-1].created_at,
        )
        [vector] = await self._embedder.embed([text])
        async with self._history.locked(conversation_id):
            # The conversation may have been deleted while the model was writing.
            if await self._history.next_index(conversation_id) > summary.turn_to:
                await self._store.add_summary(summary, vector)
                return summary
        return None

    async def _take(self, turns: Sequence[Turn]) -> list[Turn]:
        """The oldest turns that fit the summariser's input budget (at least one)."""
        taken: list[Turn] = []
        used = 0
        for turn in turns:
            cost = await self._counter.text(turn.content) + 8
            if taken and used + cost > self._input_tokens:
                break
            taken.append(turn)
            used += cost
        return taken


class SummaryScheduler:
    """Runs folds in background tasks, one at a time per conversation."""

    def __init__(self, summarizer: Summarizer) -> None:
        self._summarizer = summarizer
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.failures = 0

    def schedule(self, conversation_id: str) -> None:
        if conversation_id in self._running:
            self._again.add(conversation_id)
            return
        task = asyncio.create_task(self._run(conversation_id), name=f"summary:{conversation_id}")
        self._running[conversation_id] = task

    async def _run(self, conversation_id: str) -> None:
        try:
            while True:
                self._again.discard(conversation_id)
                try:
                    while await self._summarizer.fold(conversation_id):
                        pass  # a backlog folds in several steps
                except Exception as exc:  # the raw turns stay; the next turn retries
                    self.failures += 1
                    log.warning("summary of %s failed, will retry: %s", conversation_id, exc)
                if conversation_id not in self._again:
                    return
        finally:
            self._running.pop(conversation_id, None)

    async def drain(self) -> None:
        """Wait until no summary is being written."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)
