"""Token counts from the served model's own tokenizer, cached by text."""

from __future__ import annotations

from collections.abc import Sequence

from cachetools import LRUCache

from app.llm.client import LLM, ChatMessage


class TokenCounter:
    """Counts with llama.cpp's /tokenize so a piece of text is tokenized once, not every request."""

    def __init__(self, llm: LLM, cache_size: int = 50_000) -> None:
        self._llm = llm
        self._cache: LRUCache[str, int] = LRUCache(maxsize=cache_size)

    async def text(self, text: str) -> int:
        count = self._cache.get(text)
        if count is None:
            count = await self._llm.count_text(text)
            self._cache[text] = count
        return count

    async def prompt(self, messages: Sequence[ChatMessage]) -> int:
        """Exact: the chat template applied by the server, then tokenized."""
        return await self._llm.count_prompt(messages)
