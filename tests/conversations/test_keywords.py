from pathlib import Path
from typing import Any

import pytest

from app.conversations.keywords import KeywordIndex, query_terms, scope_token
from app.conversations.models import Turn
from app.errors import StoreUnavailable


def test_query_terms_drop_stopwords_and_repeats() -> None:
    assert query_terms("When did Caroline go to the LGBTQ support group, the group?") == [
        "caroline",
        "go",
        "lgbtq",
        "support",
        "group",
    ]
    assert query_terms("what is the") == []


async def test_keyword_search_ranks_rare_words_and_respects_before(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw.sqlite3")
    turns = [
        Turn("c1", i, "user", text) for i, text in enumerate(["the pottery class", "a walk", "pottery again"])
    ]
    await index.add(turns, [t.content for t in turns])
    await index.add([Turn("c2", 0, "user", "pottery")], ["pottery"])
    hits = await index.search("c1", "tell me about pottery", k=5, before=3)
    assert {i for i, _ in hits} == {0, 2}
    assert [i for i, _ in await index.search("c1", "pottery", k=5, before=2)] == [0]
    assert await index.search("c1", "the of and", k=5, before=3) == []  # only stopwords
    assert await index.search("c1", 'pottery" OR "x', k=5, before=3)  # FTS syntax in user text is inert
    assert await index.count("c1") == 3
    assert await index.delete_conversation("c1") == 3
    assert await index.search("c1", "pottery", k=5, before=3) == []
    assert await index.count("c2") == 1
    index.close()


async def test_keyword_entries_are_replaced_removed_and_kept_per_conversation(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw.sqlite3")
    await index.add([Turn("c1", 0, "user", "x")], ["a kayak trip"])
    await index.add([Turn("c1", 0, "user", "x")], ["a pottery class"])  # the same turn again
    await index.add([Turn("c 1/ü", 0, "user", "x")], ["a kayak trip"])  # any characters in the id
    assert await index.count("c1") == 1
    assert await index.search("c1", "kayak", k=5, before=9) == []
    assert [i for i, _ in await index.search("c1", "pottery", k=5, before=9)] == [0]
    assert [i for i, _ in await index.search("c 1/ü", "kayak", k=5, before=9)] == [0]
    await index.add([Turn("c1", i, "user", "x") for i in (1, 2)], ["pottery wheel", "pottery kiln"])
    await index.remove("c1", [0, 2, 7])  # 7 was never indexed
    assert [i for i, _ in await index.search("c1", "pottery", k=5, before=9)] == [1]
    assert await index.count("c1") == 1
    index.close()


def test_a_scope_token_is_one_word_per_conversation() -> None:
    token = scope_token("c 1/ü")
    assert token == scope_token("c 1/ü") != scope_token("c 1/u")
    assert token.isalnum() and token.startswith("c")


async def test_a_failed_write_leaves_none_of_its_turns(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw.sqlite3")
    turns = [Turn("c1", i, "user", "x") for i in range(3)]
    unbindable: Any = object()  # SQLite cannot store it: the write fails at the second turn
    with pytest.raises(StoreUnavailable, match=r"^the keyword index failed: "):
        await index.add(turns, ["pottery wheel", unbindable, "pottery kiln"])
    assert await index.count("c1") == 0
    assert await index.search("c1", "pottery", k=5, before=9) == []
    await index.add(turns[:1], ["pottery wheel"])  # and the index still takes writes
    assert await index.count("c1") == 1
    index.close()


async def test_a_broken_index_is_store_unavailable(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw.sqlite3")
    index.close()
    with pytest.raises(StoreUnavailable, match=r"^the keyword index failed: "):
        await index.count("c1")
