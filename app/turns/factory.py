"""Makes the context manager of each turn from the parts every turn shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.turns.client_turn import ClientTurn
from app.turns.context_manager import LLMContextManager, TurnParts


class TurnFactory:
    """One turn per request: a chat message (POST /chat) or an OpenAI client's history (/v1)."""

    def __init__(self, parts: TurnParts, reply_tokens: int) -> None:
        self._parts = parts
        self._reply_tokens = reply_tokens

    def chat(
        self,
        conversation_id: str,
        message: str,
        max_tokens: int | None,
        params: dict[str, Any],
        project: str | None = None,
    ) -> LLMContextManager:
        """The context manager for one chat turn; the reply gets `max_tokens`, else the default room."""
        return LLMContextManager(
            self._parts,
            conversation_id=conversation_id,
            message=message,
            reply_tokens=max_tokens or self._reply_tokens,
            params=params,
            project=project,
        )

    def client(
        self,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int | None,
        params: dict[str, Any],
    ) -> ClientTurn:
        """The context manager for one turn of an OpenAI-style client; its tools go to the model."""
        return ClientTurn(
            self._parts,
            conversation_id=conversation_id,
            messages=messages,
            reply_tokens=max_tokens or self._reply_tokens,
            params=params,
            tools=params.get("tools"),
        )
