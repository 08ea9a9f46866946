from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidInput, NotFound
from app.longterm.book import Memories, Outcome, dot, scope_clause
from app.longterm.models import LongTermMemory, MemoryQuery, MemoryType
from tests.fakes import HashEmbedder

GENERAL, PREFERENCE = MemoryType.GENERAL, MemoryType.USER_PREFERENCE
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def fact(content: str, title: str = "Home", kind: MemoryType = GENERAL, **fields: object) -> LongTermMemory:
    return LongTermMemory(kind, title, content, **fields)  # type: ignore[arg-type]


def test_a_scope_is_global_or_a_project_with_the_global_ones() -> None:
    assert scope_clause(None) == {"project": ""}
    assert scope_clause("tea") == {"project": {"$in": ["", "tea"]}}
    assert dot([1.0, 2.0], [3.0, 4.0]) == 11.0


async def test_a_new_fact_is_created(book: Memories) -> None:
    home = fact("I live in Lyon")
    stored = await book.create(home)
    assert (stored.outcome, stored.memory, stored.closed) == (Outcome.CREATED, home, None)
    assert await book.get(home.id) == home
    with pytest.raises(NotFound, match=r"^no memory with id 'mem_nope'$"):
        await book.get("mem_nope")


async def test_facts_are_embedded_as_documents_and_searches_as_queries(
    book: Memories, embedder: HashEmbedder
) -> None:
    await book.create(fact("I live in Lyon"))
    assert embedder.kinds == ["document"]
    embedder.kinds.clear()
    await book.search(MemoryQuery(text="where do I live"))
    await book.injectable("where do I live", None, top_k=3, threshold=0.0)
    assert embedder.kinds == ["query", "query"]


async def test_the_same_text_is_merged_into_the_existing_fact(book: Memories) -> None:
    home = (await book.create(fact("I live in Lyon", tags=("city",)))).memory
    again = await book.create(fact("  i LIVE in   lyon ", title="Where", tags=("home", "city")))
    assert again.outcome == Outcome.MERGED and again.memory.id == home.id
    assert again.memory.use_count == 1 and again.memory.tags == ("city", "home")
    assert again.memory.updated_at >= home.updated_at
    assert [m.id for m, _ in await book.scan()] == [home.id]
    assert await book.get(home.id) == again.memory


async def test_a_near_identical_text_is_a_duplicate_too(book: Memories, embedder: HashEmbedder) -> None:
    first, second = fact("I live in Lyon, France"), fact("I live in Lyon France!")
    assert first.same_text_key != second.same_text_key
    assert dot(embedder.vector(first.embed_text), embedder.vector(second.embed_text)) >= 0.9
    await book.create(first)
    assert (await book.create(second)).outcome == Outcome.MERGED


async def test_a_new_value_for_the_same_subject_supersedes_the_old(
    book: Memories, embedder: HashEmbedder
) -> None:
    lyon, paris = fact("I live in Lyon", pinned=True), fact("I live in Paris")
    assert 0.75 <= dot(embedder.vector(lyon.embed_text), embedder.vector(paris.embed_text)) < 0.9
    await book.create(lyon)
    stored = await book.create(paris)
    assert stored.outcome == Outcome.SUPERSEDED and stored.memory.id == paris.id
    assert stored.memory.supersedes == lyon.id and stored.memory.pinned  # the old one's pin carries over
    assert stored.closed is not None and stored.closed.id == lyon.id
    old = await book.get(lyon.id)
    assert old == stored.closed and not old.current and old.superseded_by == paris.id
    assert [m.id for m in await book.history(paris.id)] == [lyon.id, paris.id]
    assert [m.id for m in await book.history(lyon.id)] == [lyon.id, paris.id]


async def test_another_type_or_project_is_another_fact(book: Memories) -> None:
    await book.create(fact("I live in Lyon"))
    assert (await book.create(fact("I live in Lyon", kind=PREFERENCE))).outcome == Outcome.CREATED
    assert (await book.create(fact("I live in Lyon", project="move"))).outcome == Outcome.CREATED
    assert len(await book.scan()) == 3


async def test_an_explicit_supersedes_closes_that_fact(book: Memories) -> None:
    dog = (await book.create(fact("My dog is called Rex", title="Pets"))).memory
    stored = await book.create(fact("I live in Paris"), supersedes=dog.id)
    assert stored.outcome == Outcome.SUPERSEDED and stored.memory.supersedes == dog.id
    with pytest.raises(InvalidInput, match=f"^memory {dog.id} is not current; supersede its newest version$"):
        await book.create(fact("I live in Rome"), supersedes=dog.id)
    with pytest.raises(NotFound):
        await book.create(fact("I live in Rome"), supersedes="mem_nope")


async def test_an_edit_re_embeds_only_when_the_text_changed(book: Memories, embedder: HashEmbedder) -> None:
    home = (await book.create(fact("I live in Lyon"))).memory
    embedder.calls.clear()
    pinned = await book.update(home.id, {"pinned": True})
    assert pinned.pinned and embedder.calls == []
    moved = await book.update(home.id, {"content": "I live in Paris"})
    assert embedder.calls == [[moved.embed_text]] and moved.id == home.id and moved.pinned
    [(_, vector)] = await book.scan(with_vectors=True)
    assert vector == pytest.approx(embedder.vector(moved.embed_text), abs=1e-6)


async def test_delete_mark_used_and_a_gap_in_the_history(book: Memories) -> None:
    lyon = (await book.create(fact("I live in Lyon"))).memory
    paris = (await book.create(fact("I live in Paris"))).memory
    await book.mark_used([paris.id, "mem_gone"], T0)
    used = await book.get(paris.id)
    assert (used.use_count, used.last_used_at) == (1, T0)
    deleted = await book.delete(lyon.id)  # superseded by paris
    assert deleted.id == lyon.id and deleted.superseded_by == paris.id
    assert await book.get_many([lyon.id]) == {}
    assert [m.id for m in await book.history(paris.id)] == [paris.id]
    with pytest.raises(NotFound):
        await book.delete(lyon.id)


async def test_search_filters_scores_and_pages(book: Memories) -> None:
    old = fact("Kayak trips on the lake every summer", title="Hobby", created_at=T0)
    new = fact("Tax forms are due in April", title="Admin", created_at=T0 + timedelta(days=1))
    tea = fact("Green tea in the morning", title="Drinks", kind=PREFERENCE, created_at=T0 + timedelta(days=2))
    for memory in (old, new, tea):
        await book.create(memory)
    listed = await book.search(MemoryQuery(limit=2))
    assert [s.memory.id for s in listed.items] == [tea.id, new.id] and listed.total == 3
    assert listed.next_offset == 2 and all(s.score is None for s in listed.items)
    keyword = await book.search(MemoryQuery(text="kayak", mode="keyword"))
    assert [(s.memory.id, s.score, s.semantic) for s in keyword.items] == [(old.id, 1.0, None)]
    semantic = await book.search(MemoryQuery(text="lake kayak summer", mode="semantic"))
    assert semantic.items[0].memory.id == old.id and semantic.items[0].keyword is None
    assert semantic.total == 3  # every memory has a score, however low
    hybrid = await book.search(MemoryQuery(text="kayak lake", min_score=0.3))
    [best] = hybrid.items
    assert best.memory.id == old.id and best.score == pytest.approx(0.7 * best.semantic + 0.3 * 1.0, abs=1e-3)
    typed = await book.search(MemoryQuery(text="tea", types=(PREFERENCE,)))
    assert [s.memory.id for s in typed.items] == [tea.id]


async def test_injectable_gives_pinned_then_relevant_current_facts_of_the_scope(book: Memories) -> None:
    pinned = fact("Call me Sam", title="Name", pinned=True)
    tea = fact("I drink green tea every morning", title="Drinks")
    port = fact("The tea service listens on port 8080", title="Tea service", project="tea")
    for memory in (pinned, tea, port):
        await book.create(memory)
    always, relevant = await book.injectable("what tea do I drink in the morning", None, 5, 0.3)
    assert [m.id for m in always] == [pinned.id]
    assert [s.memory.id for s in relevant] == [tea.id]
    _, in_project = await book.injectable("tea service port", "tea", 5, 0.3)
    assert port.id in [s.memory.id for s in in_project]
    assert await book.injectable("", None, 5, 0.3) == ([pinned], [])
    assert await book.injectable("tea", None, 0, 0.3) == ([pinned], [])


async def test_stats_count_what_the_book_holds(book: Memories) -> None:
    await book.create(fact("I live in Lyon", tags=("city",)))
    await book.create(fact("I live in Paris", tags=("city",)))  # supersedes Lyon
    await book.create(fact("Green tea", title="Drinks", kind=PREFERENCE, pinned=True, project="x"))
    stats = await book.stats()
    assert (stats["total"], stats["current"], stats["superseded"], stats["pinned"]) == (3, 2, 1, 1)
    assert stats["by_type"]["general"] == 1 and stats["by_type"]["user_preference"] == 1
    assert stats["by_project"] == {"": 1, "x": 1} and stats["tags"] == {"city": 1}
    assert stats["storage"]["vector_bytes"] == 3 * 4 * 384 and stats["storage"]["keyword_index_bytes"] > 0
    assert stats["embedding_model"] == "hash-384"


async def test_restore_rewrite_and_remove_take_memories_as_given(
    book: Memories, embedder: HashEmbedder
) -> None:
    lyon, paris = fact("I live in Lyon", created_at=T0), fact("I live in Paris", valid_to=T0)
    vectors = await book.vectors([lyon, paris])
    assert vectors == [embedder.vector(lyon.embed_text), embedder.vector(paris.embed_text)]
    await book.restore([lyon, paris], vectors)  # no supersession rule: both stay as they are
    assert await book.get_many([lyon.id, paris.id, "mem_nope"]) == {lyon.id: lyon, paris.id: paris}
    archived = replace(lyon, archived=True, use_count=4)
    await book.rewrite([archived])
    assert await book.get(lyon.id) == archived
    await book.remove([lyon.id, paris.id])
    assert await book.scan() == []
