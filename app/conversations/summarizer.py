"""Hierarchical summaries, written off the hot path, lazily and within bounds.

Every N user turns the turns that left the recent window are folded into a level-0
summary; when `fanout` summaries of one level pile up they are folded into one of the
next level. Raw turns are never deleted: they stay stored and searchable.

Only what the next prompt needs is summarised: a fold starts at most `lookback` turns
before the recent window, so an imported history is not summarised end to end (its
older turns are left to recall). The scheduler runs a few folds per scheduling, holds
a bounded number of conversations, and lets chat replies go first (app/llm/traffic.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from app.conversations import hierarchy
from app.conversations.history import History
from app.conversations.models import Summary, Turn
from app.errors import MnemoError
from app.jobs import Background, Backlog, JobLog, JobRecord
from app.llm.protocols import Completer
from app.llm.traffic import Traffic
from app.storage.embedder import Embedder

log = logging.getLogger("mnemo.summarizer")

INSTRUCTIONS = (
    "You summarise part of a conversation between a user and an assistant for later reference. "
    "Keep every name, number, date, preference and decision. Write plain sentences, at most 120 words."
)


class Counter(Protocol):
    async def text(self, text: str) -> int: ...


def transcript(turns: Sequence[Turn]) -> str:
    return "\n".join(f"[{t.created_at:%Y-%m-%d}] {t.name or t.role}: {t.content}" for t in turns)


def turns_request(turns: Sequence[Turn]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": f"Conversation:\n{transcript(turns)}\n\nSummary:"},
    ]


def summaries_request(parts: Sequence[Summary]) -> list[dict[str, str]]:
    text = "\n\n".join(
        f"Turns {s.turn_from}-{s.turn_to} ({s.covers_from:%Y-%m-%d} to {s.covers_to:%Y-%m-%d}):\n{s.content}"
        for s in parts
    )
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {
            "role": "user",
            "content": f"Summaries of consecutive parts:\n{text}\n\nOne summary of all of them:",
        },
    ]


class Summarizer:
    """Decides what is due and writes one summary at a time; never deletes a turn."""

    def __init__(
        self,
        history: History,
        embedder: Embedder,
        llm: Completer,
        counter: Counter,
        every: int,
        keep: int,
        max_tokens: int,
        fanout: int = 4,
        input_tokens: int = 1200,
        timeout: float = 120.0,
        lookback: int = 64,
        traffic: Traffic | None = None,
    ) -> None:
        self._history = history
        self._embedder = embedder
        self._llm = llm
        self._counter = counter
        self._every = every
        self._keep = keep
        self._max_tokens = max_tokens
        self._fanout = max(fanout, 2)
        self._input_tokens = input_tokens
        self._timeout = timeout
        # A fold needs 2 x every turns to start; a shorter look-back would never fold.
        self._lookback = max(lookback, 2 * every)
        self._traffic = traffic or Traffic()

    async def fold(self, conversation_id: str) -> Summary | None:
        """Write the next summary that is due (a full pile first, then new turns), or None."""
        summaries = await self._history.active_summaries(conversation_id)
        parts = hierarchy.pile(summaries, self._fanout)
        if parts:
            return await self._fold_summaries(conversation_id, parts)
        stop = await self._history.next_index(conversation_id) - self._keep
        # Turns older than the look-back are left to recall: an import is never summarised end to end.
        start = max(hierarchy.covered_through(summaries) + 1, stop - self._lookback)
        if stop - start < 2 * self._every:
            return None
        turns = await self._take(await self._history.read(conversation_id, start, stop))
        if not turns:
            return None
        text = await self._write(turns_request(turns))
        summary = Summary(
            conversation_id=conversation_id,
            level=0,
            turn_from=turns[0].turn_index,
            turn_to=turns[-1].turn_index,
            content=text,
            covers_from=turns[0].created_at,
            covers_to=turns[-1].created_at,
        )
        return await self._save(summary)

    async def _fold_summaries(self, conversation_id: str, parts: list[Summary]) -> Summary | None:
        text = await self._write(summaries_request(parts))
        summary = Summary(
            conversation_id=conversation_id,
            level=parts[0].level + 1,
            turn_from=parts[0].turn_from,
            turn_to=parts[-1].turn_to,
            content=text,
            covers_from=parts[0].covers_from,
            covers_to=parts[-1].covers_to,
        )
        return await self._save(summary)

    async def _write(self, messages: list[dict[str, str]]) -> str:
        params = {"max_tokens": self._max_tokens, "temperature": 0.2}
        await self._traffic.idle()  # chat replies go first
        with anyio.fail_after(self._timeout):
            text = (await self._llm.complete(messages, params)).strip()
        if not text:
            raise MnemoError("the model returned an empty summary")
        return text

    async def _save(self, summary: Summary) -> Summary | None:
        [vector] = await self._embedder.embed([summary.content], "document")
        async with self._history.locked(summary.conversation_id):
            # The conversation may have been deleted while the model was writing.
            if await self._history.next_index(summary.conversation_id) <= summary.turn_to:
                return None
            await self._history.add_summary(summary, vector)
        return summary

    async def _take(self, turns: Sequence[Turn]) -> list[Turn]:
        """The oldest turns that fit the summariser's input budget (at least one)."""
        taken: list[Turn] = []
        used = 0
        for turn in turns:
            cost = await self._counter.text(turn.content) + 12
            if taken and used + cost > self._input_tokens:
                break
            taken.append(turn)
            used += cost
        return taken


@dataclass(frozen=True)
class QueueDepth:
    """Summary jobs now: waiting for the lane, folding, refused since start for the global cap, and owed.

    An owed conversation was refused for the cap and not folded since: it is folded when
    the queue has room and the model is idle, or before its next prompt, whichever comes first.
    """

    queued: int
    running: int
    dropped: int
    owed: int = 0


class SummaryScheduler:
    """Runs folds in background tasks: one job per conversation, one fold at a time overall.

    Bounded: a scheduling runs at most `per_conversation` folds, and at most `max_queued`
    conversations are queued or running; past that a conversation is dropped (counted) and
    owed: the shared backlog keeps its id (with every tenant's, the oldest forgotten first)
    until a job ends and gives the room to the longest-owed, or until its next prompt asks for
    it (`needed`). Folds take the traffic lane, so chat replies and imports go first. `after`
    runs when a conversation's background work is done (the service trims the heap there, off
    the hot path).
    """

    def __init__(
        self,
        summarizer: Summarizer,
        after: Callable[[], Awaitable[None]] | None = None,
        *,
        traffic: Traffic | None = None,
        per_conversation: int = 2,
        max_queued: int = 8,
        backlog: Backlog | None = None,
    ) -> None:
        self._summarizer = summarizer
        self._after = after
        self._traffic = traffic or Traffic()
        self._per_conversation = max(per_conversation, 1)
        # Shared by the schedulers of every tenant: the cap on queued conversations is global.
        self.backlog = backlog or Backlog(max_queued)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._folding: set[str] = set()
        self._background = Background()
        self._again: set[str] = set()
        self._closed = False
        self.failures = 0
        self.written = 0
        self.dropped = 0
        self.jobs = JobLog()

    @property
    def busy(self) -> int:
        """Conversations whose summaries are queued or being written now."""
        return len(self._running)

    @property
    def queue(self) -> QueueDepth:
        """How many conversations wait for the lane, how many fold now, how many the cap dropped."""
        folding = len(self._folding)
        return QueueDepth(
            queued=len(self._running) - folding,
            running=folding,
            dropped=self.dropped,
            owed=self.backlog.owed_to(self),
        )

    def schedule(self, conversation_id: str) -> None:
        """Queue the conversation's due folds, unless the global cap is reached (then it is owed)."""
        if conversation_id in self._running:
            self._again.add(conversation_id)
            return
        if not self.backlog.take():
            self.dropped += 1
            self.backlog.owe(self, conversation_id)
            log.info("summary queue full (%d): %s is owed its folds", self.backlog.limit, conversation_id)
            return
        self._start(conversation_id)

    def _start(self, conversation_id: str) -> None:
        """A job for the conversation, holding its room in the backlog until it ends."""
        self.backlog.settle(self, conversation_id)
        task = self._background.start(self._run(conversation_id), name=f"summary:{conversation_id}")
        task.add_done_callback(lambda _: self._ended())  # also when cancelled before it began
        self._running[conversation_id] = task

    async def needed(self, conversation_id: str) -> None:
        """Before a prompt: an owed conversation folds once now, so the prompt has its summaries.

        Waits for the lane like any fold (after the replies in flight and the background
        fold being written); a failure is recorded and the prompt is built without it.
        """
        if conversation_id in self._running or not self.backlog.settle(self, conversation_id):
            return
        await self._turn(conversation_id, urgent=True)  # ahead of the queued folds a chat does not wait for

    def _ended(self) -> None:
        """A job ended: its room goes back to the backlog, which may give it to an owed job."""
        self.backlog.give()

    def resume(self, conversation_id: str) -> None:
        """The backlog has room for an owed conversation: its job starts, unless one runs or this closed."""
        if not self._closed and conversation_id not in self._running and self.backlog.take():
            self._start(conversation_id)

    async def _run(self, conversation_id: str) -> None:
        try:
            while True:
                self._again.discard(conversation_id)
                for _ in range(self._per_conversation):  # a backlog folds over several schedulings
                    if not await self._turn(conversation_id):
                        break
                if conversation_id not in self._again:
                    break
        finally:
            self._running.pop(conversation_id, None)
        if self._after is not None:
            await self._after()

    async def _turn(self, conversation_id: str, urgent: bool = False) -> bool:
        """One fold in the traffic lane: after every chat reply in flight, alone among background jobs."""
        async with self._traffic.lane(urgent):
            self._folding.add(conversation_id)
            try:
                return await self._fold(conversation_id)
            finally:
                self._folding.discard(conversation_id)

    async def _fold(self, conversation_id: str) -> bool:
        """One fold, recorded; False when nothing more is due or it failed (the next turn retries)."""
        started = time.monotonic()
        try:
            summary = await self._summarizer.fold(conversation_id)
        except Exception as exc:  # the raw turns stay; the next turn retries
            self.failures += 1
            self.backlog.failures += 1
            reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            detail = getattr(exc, "message", None) or repr(exc)
            self._record(conversation_id, started, f"{detail}; will retry", reason)
            return False
        if summary is None:
            return False
        self.written += 1
        self.backlog.succeeded += 1
        self._record(conversation_id, started, f"wrote {summary.id} ({len(summary.content)} characters)")
        return True

    def _record(self, conversation_id: str, started: float, detail: str, reason: str | None = None) -> None:
        seconds = time.monotonic() - started
        self.jobs.record(JobRecord("summary", conversation_id, reason is None, detail, seconds, reason))

    async def drain(self) -> None:
        """Wait until no summary is being written."""
        await self._background.drain()

    async def aclose(self) -> None:
        self._closed = True
        self.backlog.forget(self)
        await self._background.aclose()
        self._running.clear()  # a task cancelled before its first step never ran its `finally`
