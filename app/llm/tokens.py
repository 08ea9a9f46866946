"""Token counts from the served model's own tokenizer, cached by text; an estimate without one."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

from cachetools import LRUCache

from app.errors import LLMUnsupported
from app.llm.protocols import Tokenizer

ESTIMATE_MESSAGE_OVERHEAD = 8
CONCURRENCY = 16  # /tokenize requests in flight at once


def estimate_text(text: str) -> int:
    """Conservative count when the server cannot tokenize: one token per 3 bytes of UTF-8, rounded up."""
    return math.ceil(len(text.encode()) / 3) + 1


def estimate_prompt(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(estimate_text(str(m.get("content", ""))) + ESTIMATE_MESSAGE_OVERHEAD for m in messages) + 4


class TokenCounter:
    """Counts with llama.cpp's /apply-template and /tokenize, so counts are exact for the served model.

    A piece of text is tokenized once, not every request (LRU by text). Against a
    server without those endpoints it switches to a conservative estimate, and says
    so through `exact`.
    """

    def __init__(self, llm: Tokenizer, cache_size: int = 50_000) -> None:
        self._llm = llm
        self._cache: LRUCache[str, int] = LRUCache(maxsize=cache_size)
        self.exact = True

    async def text(self, text: str) -> int:
        count = self._cache.get(text)
        if count is None:
            count = await self._count_text(text)
            self._cache[text] = count
        return count

    async def texts(self, texts: Sequence[str]) -> list[int]:
        """Counts of many texts; the ones not cached are tokenized concurrently."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), CONCURRENCY):
            chunk = missing[start : start + CONCURRENCY]
            counts = await asyncio.gather(*(self._count_text(t) for t in chunk))
            self._cache.update(zip(chunk, counts, strict=True))
        return [self._cache[t] if t in self._cache else await self.text(t) for t in texts]

    async def _count_text(self, text: str) -> int:
        if self.exact:
            try:
                return await self._llm.count_text(text)
            except LLMUnsupported:
                self.exact = False
        return estimate_text(text)

    async def prompt(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """The whole prompt with its chat template, as the server will evaluate it."""
        if self.exact:
            try:
                return await self._llm.count_prompt(messages)
            except LLMUnsupported:
                self.exact = False
                self._cache.clear()
        return estimate_prompt(messages)
