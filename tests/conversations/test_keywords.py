import hashlib
import sqlite3
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
    assert scope_token("c1", "ada") != scope_token("c1", "bob") != scope_token("c1")
    assert scope_token("b/c", "a") != scope_token("c", "a/b")


async def test_each_tenant_sees_only_its_own_rows(tmp_path: Path) -> None:
    index = KeywordIndex(tmp_path / "kw.sqlite3", tenant="ada")
    bob = index.scoped("bob")
    await index.add([Turn("c1", 0, "user", "x")], ["ada's pottery"])
    await bob.add([Turn("c1", 0, "user", "x"), Turn("c1", 1, "user", "y")], ["bob's pottery", "bob's kiln"])
    assert await index.count("c1") == 1 and await bob.count("c1") == 2
    assert [i for i, _ in await index.search("c1", "pottery kiln", k=5, before=9)] == [0]
    assert await bob.delete_conversation("c1") == 2
    assert await bob.search("c1", "pottery", k=5, before=9) == []
    assert [i for i, _ in await index.search("c1", "pottery", k=5, before=9)] == [0]
    assert await index.conversations() == [("ada", "c1", 1)]
    index.close()


async def test_a_file_from_before_tenants_becomes_the_default_tenants(tmp_path: Path) -> None:
    path = tmp_path / "kw.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE turn_rows (conversation_id TEXT NOT NULL, turn_index INTEGER NOT NULL, "
        "PRIMARY KEY (conversation_id, turn_index))"
    )
    old.execute("CREATE VIRTUAL TABLE turn_text USING fts5(content, scope, tokenize='porter unicode61')")
    for row, (cid, index, text) in enumerate(
        [("c1", 0, "pottery wheel"), ("c1", 1, "kayak"), ("c2", 0, "kiln")]
    ):
        old.execute(
            "INSERT INTO turn_rows (rowid, conversation_id, turn_index) VALUES (?, ?, ?)",
            (row + 7, cid, index),
        )
        token = "c" + hashlib.blake2b(cid.encode(), digest_size=12).hexdigest()  # the scope token then
        old.execute("INSERT INTO turn_text (rowid, content, scope) VALUES (?, ?, ?)", (row + 7, text, token))
    old.commit()
    old.close()

    index = KeywordIndex(path, tenant="me")
    assert await index.conversations() == [("me", "c1", 2), ("me", "c2", 1)]
    assert [i for i, _ in await index.search("c1", "pottery kayak", k=5, before=9)] in ([0, 1], [1, 0])
    assert [i for i, _ in await index.search("c2", "kiln", k=5, before=9)] == [0]
    assert await index.scoped("other").search("c1", "pottery", k=5, before=9) == []
    await index.add([Turn("c1", 2, "user", "x")], ["pottery kiln"])  # and it takes writes as before
    assert await index.count("c1") == 3
    index.close()
    again = KeywordIndex(path, tenant="someone else")  # migrated once: the rows stay the first tenant's
    assert await again.scoped("me").count("c1") == 3 and await again.count("c1") == 0
    again.close()


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
