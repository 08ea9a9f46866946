"""Finding the stored turns that matter for a new message: vector and keyword search, fused."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from app.conversations.keywords import STOPWORDS, KeywordIndex
from app.conversations.models import Recalled
from app.conversations.store import Store
from app.conversations.when import time_span
from app.storage.embedder import Embedder

NAME = re.compile(r"\b[A-Z][a-z]+\b")
RRF_K = 60  # the usual constant of reciprocal rank fusion
POOL = 3  # candidates fetched from each index per memory wanted


def fuse(*rankings: list[int], weights: Sequence[float] = ()) -> dict[int, float]:
    """Weighted reciprocal rank fusion: ranking r adds weights[r] / (RRF_K + rank) to an item's score.

    Rankings without a weight count 1.
    """
    scores: dict[int, float] = defaultdict(float)
    for n, ranking in enumerate(rankings):
        weight = weights[n] if n < len(weights) else 1.0
        for rank, item in enumerate(ranking, start=1):
            scores[item] += weight / (RRF_K + rank)
    return dict(scores)


class Retriever:
    """The turns of one conversation that matter for a message, best first, at most top_k.

    Candidates come from the vector index (MiniLM, cosine) and, when there is one, the
    keyword index (BM25); they are ranked by weighted reciprocal rank fusion, where the
    keyword ranking counts `keyword_weight` against 1 for each vector ranking and holds only
    its `keyword_depth` best hits (a boost for the turns that share the query's rare words
    and names, not a vote for every turn sharing a common one). Every candidate
    carries its cosine similarity to the query, and nothing below the threshold is
    returned: an unrelated message gets no memories at all.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        top_k: int,
        threshold: float,
        keywords: KeywordIndex | None = None,
        neighbours: bool = False,
        speakers: bool = False,
        keyword_weight: float = 1.0,
        keyword_depth: int = 10**6,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._top_k = top_k
        self._threshold = threshold
        self._keywords = keywords
        self._neighbours = neighbours
        self._speakers = speakers
        self._keyword_weight = keyword_weight
        self._keyword_depth = keyword_depth

    async def retrieve(
        self,
        conversation_id: str,
        query: str,
        before: int,
        exclude: frozenset[str] = frozenset(),
        k: int | None = None,
        threshold: float | None = None,
        now: datetime | None = None,
        neighbours: bool | None = None,
    ) -> list[Recalled]:
        """Memories among turns [0, before), best first; texts in `exclude` are skipped.

        A query that names a time ("last May", "two weeks ago", relative to `now`) adds
        a ranking of the nearest turns from that period; one that names a speaker (a
        turn's `name`, as imported histories carry) adds a ranking of that speaker's turns.
        """
        k = self._top_k if k is None else k
        threshold = self._threshold if threshold is None else threshold
        if k == 0 or before <= 0 or not query.strip():
            return []
        [vector] = await self._embedder.embed([query], "query")
        pool = k * POOL
        searches = [self._store.search(conversation_id, vector, pool, before)]
        span = time_span(query, now or datetime.now(UTC))
        if span is not None:  # turns from the period the query names
            between = (span.start.replace(tzinfo=UTC).timestamp(), span.end.replace(tzinfo=UTC).timestamp())
            searches.append(self._store.search(conversation_id, vector, pool, before, between))
        names = NAME.findall(query) if self._speakers else []
        speakers = [n for n in dict.fromkeys(names) if n.lower() not in STOPWORDS]
        if speakers:  # turns spoken by a person the query names
            searches.append(self._store.search(conversation_id, vector, pool, before, speakers=speakers))
        vector_rankings, sparse = await asyncio.gather(
            asyncio.gather(*searches),
            self._keyword_ranking(conversation_id, query, min(pool, self._keyword_depth), before),
        )

        candidates: dict[int, Recalled] = {}
        for ranking in vector_rankings:
            for memory in ranking:
                candidates.setdefault(memory.turn.turn_index, memory)
        missing = [i for i in sparse if i not in candidates]  # keyword hits need their cosine for the gate
        for memory in await self._store.score(conversation_id, missing, vector):
            candidates[memory.turn.turn_index] = memory
        rankings = [[m.turn.turn_index for m in ranking] for ranking in vector_rankings]
        rankings.append(sparse)
        fused = fuse(*rankings, weights=[1.0] * len(vector_rankings) + [self._keyword_weight])

        chosen: list[Recalled] = []
        seen = set(exclude)
        for index in sorted(candidates, key=lambda i: fused.get(i, 0.0), reverse=True):
            memory = candidates[index]
            text = memory.turn.content.strip()
            if memory.score < threshold or text in seen or not text:
                continue
            seen.add(text)  # near-duplicates (the same words) are injected once
            chosen.append(memory)
            if len(chosen) == k:
                break
        if self._neighbours if neighbours is None else neighbours:
            chosen += await self._neighbours_of(conversation_id, chosen, vector, before, seen)
        return chosen

    async def _keyword_ranking(self, conversation_id: str, query: str, k: int, before: int) -> list[int]:
        if self._keywords is None:
            return []
        return [i for i, _ in await self._keywords.search(conversation_id, query, k, before)]

    async def _neighbours_of(
        self,
        conversation_id: str,
        chosen: list[Recalled],
        vector: Sequence[float],
        before: int,
        seen: set[str],
    ) -> list[Recalled]:
        """The turns just before and after each chosen one: an answer often spans a question and its reply.

        They come after every primary memory, so the budget drops them first.
        """
        taken = {m.turn.turn_index for m in chosen}
        wanted: list[tuple[int, int]] = []
        for memory in chosen:
            for index in (memory.turn.turn_index - 1, memory.turn.turn_index + 1):
                if 0 <= index < before and index not in taken:
                    taken.add(index)
                    wanted.append((index, memory.turn.turn_index))
        found = {
            m.turn.turn_index: m
            for m in await self._store.score(conversation_id, [i for i, _ in wanted], vector)
        }
        extra = []
        for index, parent in wanted:
            neighbour = found.get(index)
            if neighbour is not None and neighbour.turn.content.strip() not in seen:
                seen.add(neighbour.turn.content.strip())
                extra.append(replace(neighbour, neighbour_of=parent))
        return extra
