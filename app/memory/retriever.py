"""Finding the stored turns that matter for a new message."""

from __future__ import annotations

from app.memory.embedder import Embedder
from app.memory.store import Store
from app.memory.types import Memory


class Retriever:
    """Top-k turns of one conversation by cosine similarity, gated by a score threshold."""

    def __init__(self, store: Store, embedder: Embedder, top_k: int, threshold: float) -> None:
        self._store = store
        self._embedder = embedder
        self._top_k = top_k
        self._threshold = threshold

    async def retrieve(
        self, conversation_id: str, query: str, before: int, exclude: frozenset[str] = frozenset()
    ) -> list[Memory]:
        """Memories among turns [0, before), most relevant first; texts in `exclude` are skipped."""
        if self._top_k == 0 or before <= 0 or not query.strip():
            return []
        [vector] = await self._embedder.embed([query])
        # Ask for a few more than k: some fall to the gate or are already in the window.
        hits = await self._store.search(conversation_id, vector, self._top_k * 2, before)
        chosen: list[Memory] = []
        seen = set(exclude)
        for memory in sorted(hits, key=lambda m: m.score, reverse=True):
            text = memory.turn.content.strip()
            if memory.score < self._threshold or text in seen or not text:
                continue
            seen.add(text)
            chosen.append(memory)
            if len(chosen) == self._top_k:
                break
        return chosen
