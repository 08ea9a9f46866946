"""ClientTurn: one turn of an OpenAI-style client that resends its whole history every time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.conversations.history import NewMessage
from app.conversations.models import Turn
from app.errors import InvalidInput, LLMRefused
from app.llm.portable import portable
from app.prompt.client import last_user_text
from app.prompt.layout import without_memories
from app.turns.context_manager import LLMContextManager, TurnParts
from app.turns.openai_sync import Sync, conversation_messages, plan_sync


class ClientTurn(LLMContextManager):
    """An LLMContextManager whose window is the client's own history.

    On entry it lines the client's messages up with the stored turns (turns/openai_sync.py);
    on storing it marks the abandoned turns and appends only the new messages and the
    reply, so a resent history is stored once and a regenerate replaces the old reply.
    A memory block the client sends back (one that echoes the prompt Mnemo built) is
    taken out first: it is never the user's words, in the prompt or in the store.
    """

    def __init__(
        self,
        parts: TurnParts,
        *,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
        reply_tokens: int,
        params: dict[str, Any] | None = None,
        tools: Any = None,
    ) -> None:
        messages = [without_memories(m) for m in messages]
        super().__init__(
            parts,
            conversation_id=conversation_id,
            message=last_user_text(messages),
            reply_tokens=reply_tokens,
            params=params,
        )
        self.messages = messages
        self._tools = tools
        self.sync: Sync | None = None

    async def _prepare(self, budget: int) -> None:
        stop = await self._history.next_index(self.conversation_id)
        stored = await self._history.read(self.conversation_id, 0, stop)
        self.sync = plan_sync(stored, conversation_messages(self.messages))
        try:
            self.context = await self._builder.build_for_client(
                self.conversation_id, self.messages, budget, self._tools
            )
        except LLMRefused:
            # The served template refuses this sequence (Gemma's wants alternating roles):
            # send it in the form every template takes. What is stored stays as sent.
            reshaped = portable(self.messages)
            try:
                self.context = await self._builder.build_for_client(
                    self.conversation_id, reshaped, budget, self._tools
                )
            except LLMRefused as exc:
                raise refused(exc) from exc

    def _turns_to_store(self) -> int:
        """The client's messages not stored yet, and the reply."""
        return (len(self.sync.new) if self.sync else 0) + 1

    async def open(self) -> None:
        """Start the completion; messages or fields llama.cpp refuses are the client's 422."""
        try:
            await super().open()
        except LLMRefused as exc:
            raise refused(exc) from exc

    async def _store(self, incomplete: bool) -> list[Turn]:
        if self.stored or self.sync is None:
            return self.stored
        await self._history.abandon(self.conversation_id, self.sync.abandon)
        messages = [NewMessage(role=m.role, content=m.content) for m in self.sync.new]  # type: ignore[arg-type]
        if self.reply.strip():  # a reply of tool calls only has no text to remember
            messages.append(NewMessage(role="assistant", content=self.reply, incomplete=incomplete))
        self.stored = await self._history.append(self.conversation_id, messages, held=self._held)
        return self.stored


def refused(exc: LLMRefused) -> InvalidInput:
    """llama.cpp's refusal of what the client sent, as bad input."""
    return InvalidInput(f"The model server cannot take this request: {exc.message}")
