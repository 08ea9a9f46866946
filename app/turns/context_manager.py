"""LLMContextManager: one chat turn, from prompt to stored reply."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio

from app.conversations.history import History, NewMessage
from app.conversations.models import Turn
from app.conversations.summarizer import SummaryScheduler
from app.llm.protocols import ChatModel, Delta, Finished, Stream, StreamEvent
from app.llm.slots import Slots
from app.llm.traffic import Reply, Traffic
from app.llm.usage import Usage
from app.longterm.extractor import LongTermScheduler
from app.metrics import Metrics
from app.prompt.builder import ContextBuilder, PromptContext

log = logging.getLogger("mnemo.context")


@dataclass(frozen=True)
class TurnParts:
    """What every turn works with, built once by the service."""

    builder: ContextBuilder
    history: History
    llm: ChatModel
    slots: Slots
    scheduler: SummaryScheduler
    long_term: LongTermScheduler | None = None
    traffic: Traffic = field(default_factory=Traffic)
    metrics: Metrics | None = None


class LLMContextManager:
    """`async with` one turn of a conversation.

    __aenter__ takes the conversation's lock and builds the prompt (window, summary,
    recalled memories, fitted to the budget); `open()` starts the model; `events()`
    relays the reply; `commit()` stores both turns. __aexit__ stores whatever was
    accepted if the turn did not complete (the user turn, and a partial reply marked
    incomplete), releases the lock and schedules a summary off the hot path.
    """

    def __init__(
        self,
        parts: TurnParts,
        *,
        conversation_id: str,
        message: str,
        reply_tokens: int,
        params: dict[str, Any] | None = None,
        project: str | None = None,
    ) -> None:
        self._builder = parts.builder
        self._history = parts.history
        self._llm = parts.llm
        self._slots = parts.slots
        self._slot: int | None = None  # the llama.cpp slot held from `open()` until the reply ends
        self._scheduler = parts.scheduler
        self._long_term = parts.long_term
        self._traffic = parts.traffic
        self._replying: Reply | None = None
        self._metrics = parts.metrics
        self.conversation_id = conversation_id
        self.message = message
        self._reply_tokens = reply_tokens
        self._params = dict(params or {})
        self.project = project
        self._lock = parts.history.lock(conversation_id)
        self._stream: Stream | None = None
        self._reply: list[str] = []
        self._accepted = False
        self._held = 0  # turns of room held under the tenant's cap until the turn is done
        self._finished = False
        self.context: PromptContext | None = None
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.stored: list[Turn] = []

    @property
    def reply(self) -> str:
        return "".join(self._reply)

    async def __aenter__(self) -> LLMContextManager:
        # A conversation owed summaries (refused by the queue's cap) gets them before its prompt;
        # before the lock, as a fold takes it to save.
        await self._scheduler.needed(self.conversation_id)
        await self._lock.acquire()
        try:
            budget = await self._builder.prompt_budget(self._reply_tokens)
            await self._prepare(budget)
            # Before the model is called: a reply that could not be stored is refused, not streamed;
            # its room is held until the turn is done.
            await self._history.hold(self._turns_to_store())
            self._held = self._turns_to_store()
        except BaseException:
            self._lock.release()
            raise
        return self

    async def _prepare(self, budget: int) -> None:
        """Build the prompt (with the conversation locked)."""
        self.context = await self._builder.build(self.conversation_id, self.message, budget, self.project)

    def _turns_to_store(self) -> int:
        """How many turns the turn will store: the message and the reply."""
        return 2

    def _release_slot(self) -> None:
        if self._slot is not None:
            slot, self._slot = self._slot, None
            self._slots.release(slot)

    async def open(self) -> None:
        """Start the completion; fails here (nothing stored) if llama.cpp is down or refuses.

        Waits for a llama.cpp slot first (see SlotChooser) while all are busy with other turns.
        """
        assert self.context is not None, "use inside `async with`"
        params = {"max_tokens": self._reply_tokens, **self._params}
        if self._replying is None:  # background model calls wait until the reply is done
            self._replying = self._traffic.enter()
        self._slot = await self._slots.acquire(self.conversation_id)
        if self._slot is not None:
            params["id_slot"] = self._slot
        self._stream = self._llm.stream_chat(self.context.messages, params)
        await self._stream.open()
        self._accepted = True

    async def events(self) -> AsyncIterator[StreamEvent]:
        """The reply as llama.cpp produces it, ending with a Finished event."""
        if self._stream is None:
            await self.open()
        assert self._stream is not None
        async for event in self._stream.events():
            if isinstance(event, Delta):
                self._reply.append(event.text)
            elif isinstance(event, Finished):
                self.usage = event.usage
                self.finish_reason = event.finish_reason
                self._finished = True
                self._reply_done()
            yield event
        self._release_slot()  # llama.cpp is done with it: the next turn need not wait for our storing

    async def commit(self) -> list[Turn]:
        """Store the user turn and the complete reply."""
        return await self._store(incomplete=False)

    async def _store(self, incomplete: bool) -> list[Turn]:
        if self.stored:
            return self.stored
        messages = [NewMessage(role="user", content=self.message)]
        if self._reply or not incomplete:
            messages.append(NewMessage(role="assistant", content=self.reply, incomplete=incomplete))
        self.stored = await self._history.append(self.conversation_id, messages, held=self._held)
        return self.stored

    def _reply_done(self) -> None:
        """Leave the chat traffic once, whichever way the reply ended."""
        if self._replying is not None:
            self._traffic.leave(self._replying)
            self._replying = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # Shielded: a client that disconnects cancels us, and what it said must still be kept.
            with anyio.CancelScope(shield=True):
                if self._stream is not None:
                    await self._stream.aclose()
                self._reply_done()
                if self._accepted and not self.stored:
                    try:
                        await self._store(incomplete=not self._finished)
                    except Exception:
                        log.exception("could not store the interrupted turn of %s", self.conversation_id)
                        if exc is None:
                            raise
        finally:
            self._release_slot()
            self._reply_done()
            self._history.release(self._held)
            self._held = 0
            self._lock.release()
            if self._metrics is not None and self._finished:
                self._metrics.turn(self.usage, self.context)
            if self.stored:
                self._scheduler.schedule(self.conversation_id)
                if self._long_term is not None:
                    used = [s.memory.id for s in self.context.long_term] if self.context else []
                    self._long_term.turn_stored(self.stored, self.project, used)
