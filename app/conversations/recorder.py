"""Writes to a conversation from outside a turn: imported history, and forgetting it all."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.conversations.history import History, NewMessage
from app.conversations.models import Turn
from app.llm.traffic import Traffic


class Scheduler(Protocol):
    """Summarizes a conversation off the hot path once it has grown."""

    def schedule(self, conversation_id: str) -> None: ...


class Recorder:
    """Appends and forgets under the conversation's lock, so no turn interleaves with them."""

    def __init__(self, history: History, scheduler: Scheduler, traffic: Traffic | None = None) -> None:
        self._history = history
        self._scheduler = scheduler
        self._traffic = traffic or Traffic()

    async def append(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[Turn]:
        """Store the messages as the next turns, then let the summarizer catch up once imports pause."""
        with self._traffic.importing():
            async with self._history.locked(conversation_id):
                turns = await self._history.append(conversation_id, messages)
        self._scheduler.schedule(conversation_id)
        return turns

    async def forget(self, conversation_id: str) -> int:
        """Delete every turn, summary and vector of the conversation; how many records went."""
        async with self._history.locked(conversation_id):
            return await self._history.forget(conversation_id)
