import sqlite3
from pathlib import Path

import pytest

from app.conversations.history import History, NewMessage
from app.conversations.keywords import KeywordIndex
from app.conversations.retriever import POOL, RRF_K, Retriever, fuse
from app.conversations.store import ChromaStore
from app.errors import StoreUnavailable
from tests.fakes import HashEmbedder


def test_fusion_rewards_agreement_between_rankings() -> None:
    scores = fuse([1, 2, 3], [3, 4])
    assert scores[3] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert max(scores, key=lambda i: scores[i]) == 3  # in both lists beats first in one
    assert scores[1] > scores[2] == scores[4]  # second place in either list is worth the same
    assert fuse() == {}


def test_weighted_fusion_scales_each_rankings_votes() -> None:
    scores = fuse([1, 2], [2, 1], weights=[1.0, 0.25])
    assert scores[1] == pytest.approx(1 / (RRF_K + 1) + 0.25 / (RRF_K + 2))
    assert scores[1] > scores[2]  # the heavier ranking's first place wins
    assert fuse([1, 2], [2, 1], weights=[0.25, 1.0])[2] > fuse([1, 2], [2, 1], weights=[0.25, 1.0])[1]
    assert fuse([1], [2], weights=[1.0, 0.0])[2] == 0.0  # weight 0: no vote
    assert fuse([1, 2], [3]) == fuse([1, 2], [3], weights=[1.0])  # a ranking without a weight counts 1


async def rare_name_at_7(store: ChromaStore, keywords: KeywordIndex) -> HashEmbedder:
    """Conversation c1: 40 look-alike turns, turn 7 the only one naming Xanthippe; its embedder."""
    embedder = HashEmbedder(dimensions=8)  # a crowded vector space: many unrelated words collide
    history = History(store, embedder, keywords)
    texts = [f"we talked about topic number {i} and more" for i in range(40)]
    texts[7] = "my cousin Xanthippe moved to Porto"
    await add(history, "c1", texts)
    return embedder


async def test_the_keyword_weight_decides_how_far_word_matches_lift_a_turn(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    embedder = await rare_name_at_7(store, keywords)
    query = "where did Xanthippe move"

    async def rank(weight: float) -> int:
        retriever = Retriever(
            store, embedder, top_k=40, threshold=-1.0, keywords=keywords, keyword_weight=weight
        )
        found = [m.turn.turn_index for m in await retriever.retrieve("c1", query, before=40)]
        return found.index(7)

    assert await rank(1.0) == 0  # an equal vote: the one keyword hit comes first
    assert await rank(0.0) > 3  # no vote: where the vectors alone put it
    assert await rank(0.0) >= await rank(0.02) >= await rank(1.0)


class DeepKeywords:
    """A keyword index whose hits are every turn, best first; it records how many were asked for."""

    def __init__(self, turns: int) -> None:
        self.turns = turns
        self.asked: list[int] = []

    async def search(self, conversation_id: str, query: str, k: int, before: int) -> list[tuple[int, float]]:
        self.asked.append(k)
        return [(i, 1.0 / (i + 1)) for i in range(min(k, self.turns, before))]


async def test_only_the_best_keyword_hits_take_part_in_the_fusion(store: ChromaStore) -> None:
    embedder = HashEmbedder()
    history = History(store, embedder)
    await add(history, "c1", [f"turn {i} about nothing in particular" for i in range(30)])
    deep = DeepKeywords(30)
    retriever = Retriever(
        store,
        embedder,
        top_k=20,
        threshold=-1.0,
        keywords=deep,
        keyword_depth=3,  # type: ignore[arg-type]
    )
    found = [m.turn.turn_index for m in await retriever.retrieve("c1", "zebra", before=30)]
    assert deep.asked == [3]
    assert found[:3] == [0, 1, 2]  # the three hits the keyword side kept lead
    unlimited = Retriever(store, embedder, top_k=20, threshold=-1.0, keywords=deep)  # type: ignore[arg-type]
    await unlimited.retrieve("c1", "zebra", before=30)
    assert deep.asked[-1] == 20 * POOL  # without a depth: the whole pool


async def add(history: History, cid: str, texts: list[str]) -> None:
    async with history.locked(cid):
        await history.append(
            cid,
            [NewMessage(role="user" if i % 2 == 0 else "assistant", content=t) for i, t in enumerate(texts)],
        )


async def test_hybrid_finds_a_rare_name_the_vectors_rank_low(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    embedder = await rare_name_at_7(store, keywords)
    dense_only = Retriever(store, embedder, top_k=3, threshold=-1.0)
    hybrid = Retriever(store, embedder, top_k=3, threshold=-1.0, keywords=keywords)
    query = "where did Xanthippe move"
    assert "Xanthippe" in (await hybrid.retrieve("c1", query, before=40))[0].turn.content
    dense = [m.turn.content for m in await dense_only.retrieve("c1", query, before=40)]
    assert not any("Xanthippe" in text for text in dense)  # what the keyword side bought


async def test_the_gate_keeps_unrelated_turns_out(store: ChromaStore, keywords: KeywordIndex) -> None:
    embedder = HashEmbedder()
    history = History(store, embedder, keywords)
    await add(history, "c1", ["my dog Rex loves the beach", "nice", "the weather was cold", "ok"])
    retriever = Retriever(store, embedder, top_k=5, threshold=0.3, keywords=keywords)
    assert await retriever.retrieve("c1", "quantum chromodynamics lecture notes", before=4) == []
    found = await retriever.retrieve("c1", "does my dog Rex love the beach", before=4)
    assert [m.turn.content for m in found] == ["my dog Rex loves the beach"]
    assert found[0].score >= 0.3


async def test_turns_are_embedded_as_documents_and_the_question_as_a_query(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    embedder = HashEmbedder()
    await add(History(store, embedder, keywords), "c1", ["my dog Rex loves the beach", "nice"])
    assert set(embedder.kinds) == {"document"}
    embedder.kinds.clear()
    await Retriever(store, embedder, top_k=5, threshold=0.3).retrieve("c1", "where is Rex", before=2)
    assert embedder.kinds == ["query"]


async def test_identical_texts_are_recalled_once(store: ChromaStore, keywords: KeywordIndex) -> None:
    embedder = HashEmbedder()
    history = History(store, embedder, keywords)
    await add(history, "c1", ["I love green tea", "ok", "I love green tea", "ok"])
    retriever = Retriever(store, embedder, top_k=5, threshold=0.2, keywords=keywords)
    found = await retriever.retrieve("c1", "green tea", before=4)
    assert [m.turn.content for m in found] == ["I love green tea"]


async def test_keyword_index_is_rebuilt_when_it_disagrees_with_chroma(
    store: ChromaStore, keywords: KeywordIndex, tmp_path: Path
) -> None:
    await add(History(store, HashEmbedder(), keywords), "c1", ["alpha beta", "gamma delta"])
    fresh = KeywordIndex(tmp_path / "lost.sqlite3")  # as if the keyword file had been lost
    history = History(store, HashEmbedder(), fresh)
    assert await history.next_index("c1") == 2
    assert [i for i, _ in await fresh.search("c1", "gamma", k=5, before=2)] == [1]
    fresh.close()


class FailingStore(ChromaStore):
    async def add_turns(self, turns, vectors):  # type: ignore[no-untyped-def]
        raise StoreUnavailable("Chroma failed: disk full")


async def test_a_failed_chroma_write_leaves_no_keyword_entry(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    failing = FailingStore.__new__(FailingStore)
    failing.__dict__.update(store.__dict__)
    history = History(failing, HashEmbedder(), keywords)
    with pytest.raises(StoreUnavailable):
        await add(history, "c1", ["never stored"])
    assert await keywords.count("c1") == 0
    assert await history.next_index("c1") == 0


async def test_neighbours_follow_the_primary_memories(store: ChromaStore, keywords: KeywordIndex) -> None:
    embedder = HashEmbedder()
    history = History(store, embedder, keywords)
    await add(
        history, "c1", ["filler one", "which city do you like", "Porto, for the tiles", "filler two", "x"]
    )
    plain = Retriever(store, embedder, top_k=1, threshold=0.3, keywords=keywords)
    with_neighbours = Retriever(store, embedder, top_k=1, threshold=0.3, keywords=keywords, neighbours=True)
    [primary] = await plain.retrieve("c1", "which city do you like", before=5)
    found = await with_neighbours.retrieve("c1", "which city do you like", before=5)
    assert found[0] == primary  # the primary memory is unchanged and first
    assert [(m.turn.turn_index, m.neighbour_of) for m in found[1:]] == [(0, 1), (2, 1)]
    # a neighbour inside the window (index >= before) is not brought
    found = await with_neighbours.retrieve("c1", "which city do you like", before=2)
    assert [m.turn.turn_index for m in found] == [1, 0]


async def test_a_query_naming_a_time_prefers_turns_from_then(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    from datetime import UTC, datetime

    embedder = HashEmbedder()
    history = History(store, embedder, keywords)
    dates = [
        datetime(2023, 3, 5, tzinfo=UTC),
        datetime(2023, 5, 9, tzinfo=UTC),
        datetime(2023, 7, 1, tzinfo=UTC),
    ]
    async with history.locked("c1"):
        await history.append(
            "c1",
            [
                NewMessage(role="user", content=f"we went hiking in the hills, trip {n}", created_at=d)
                for n, d in enumerate(dates)
            ],
        )
    retriever = Retriever(store, embedder, top_k=1, threshold=0.1, keywords=keywords)
    now = datetime(2023, 8, 1, tzinfo=UTC)
    [may] = await retriever.retrieve("c1", "the hiking trip last May", before=3, now=now)
    assert may.turn.created_at.month == 5
    [march] = await retriever.retrieve("c1", "the hiking trip in March 2023", before=3, now=now)
    assert march.turn.created_at.month == 3


async def test_contextual_vectors_carry_the_turn_replied_to(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    embedder = HashEmbedder()
    history = History(store, embedder, keywords, context=True)
    await add(history, "c1", ["did you adopt the greyhound", "yes last week"])
    await add(history, "c1", ["great news"])  # a later batch still sees its predecessor
    embedded = [text for call in embedder.calls for text in call]
    assert embedded == [
        "did you adopt the greyhound",
        "yes last week\n(in reply to did you adopt the greyhound)",
        "great news\n(in reply to yes last week)",
    ]
    # the keyword index and the stored text stay the turn's own words
    assert [t.content for t in await history.read("c1", 0, 3)] == [
        "did you adopt the greyhound",
        "yes last week",
        "great news",
    ]
    assert [i for i, _ in await keywords.search("c1", "greyhound", k=5, before=3)] == [0]


async def test_a_query_naming_a_speaker_prefers_their_turns(
    store: ChromaStore, keywords: KeywordIndex
) -> None:
    embedder = HashEmbedder()
    history = History(store, embedder, keywords)
    async with history.locked("c1"):
        await history.append(
            "c1",
            [
                # Caroline's turn shares more words with the question than Melanie's does
                NewMessage(
                    role="user", content="paint a sunrise over the lake, did you paint", name="Caroline"
                ),
                NewMessage(role="assistant", content="my sunrise painting", name="Melanie"),
            ],
        )
    retriever = Retriever(store, embedder, top_k=1, threshold=0.05, keywords=keywords, speakers=True)
    [found] = await retriever.retrieve("c1", "When did Melanie paint a sunrise over the lake?", before=2)
    assert found.turn.name == "Melanie"
    off = Retriever(store, embedder, top_k=1, threshold=0.05, keywords=keywords)
    [found] = await off.retrieve("c1", "When did Melanie paint a sunrise over the lake?", before=2)
    assert found.turn.name == "Caroline"  # what the speaker ranking bought


async def test_an_index_in_the_first_layout_is_dropped_and_history_rebuilds_it(
    tmp_path: Path, store: ChromaStore
) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE VIRTUAL TABLE turns USING fts5(content, conversation_id UNINDEXED, turn_index UNINDEXED)"
    )
    old.execute("INSERT INTO turns VALUES ('stale text', 'c1', 0)")
    old.commit()
    old.close()
    embedder = HashEmbedder()
    await add(History(store, embedder), "c1", ["my canoe is red", "nice"])  # stored before the upgrade
    index = KeywordIndex(path)
    assert await index.count("c1") == 0
    history = History(store, embedder, index)
    assert await history.next_index("c1") == 2  # a first look reconciles with Chroma
    assert [i for i, _ in await index.search("c1", "canoe", k=5, before=9)] == [0]
    assert await index.search("c1", "stale", k=5, before=9) == []
    index.close()
