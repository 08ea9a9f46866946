from pathlib import Path

import pytest

from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.models import LongTermMemory, MemoryType

GENERAL = MemoryType.GENERAL


def memory(memory_id: str, title: str, content: str, *tags: str) -> LongTermMemory:
    return LongTermMemory(GENERAL, title, content, tags=tags, id=memory_id)


def test_title_content_and_tags_are_searched_and_ranked(tmp_path: Path) -> None:
    index = MemoryKeywordIndex(tmp_path / "fts.sqlite3")
    index.put(
        [
            memory("a", "Kayak", "A trip on the lake", "outdoors"),
            memory("b", "Pottery", "Pottery class, pottery wheel and a kayak poster"),
            memory("c", "Tax", "Forms are due in April", "kayak"),
        ],
        "t1",
    )
    found = index.search("kayak", "t1", limit=10)
    assert set(found) == {"a", "b", "c"}
    assert max(found.values()) == 1.0 and all(0 < score <= 1.0 for score in found.values())
    assert index.search("pottery", "t1", limit=10) == {"b": 1.0}
    assert index.search("outdoors", "t1", limit=10) == {"a": 1.0}  # a tag
    assert len(index.search("kayak", "t1", limit=1)) == 1
    assert index.search("?!", "t1", limit=10) == {}  # no words, no query
    assert index.search("violin", "t1", limit=10) == {}
    assert index.search('kayak" OR "x', "t1", limit=10)  # FTS syntax in user text is inert
    index.close()


def test_tenants_see_only_their_own(tmp_path: Path) -> None:
    index = MemoryKeywordIndex(tmp_path / "fts.sqlite3")
    index.put([memory("a", "Kayak", "lake trip")], "t1")
    index.put([memory("b", "Kayak", "river trip")], "t2")
    assert index.ids("t1") == {"a"} and index.ids("t2") == {"b"}
    assert set(index.search("kayak", "t2", limit=10)) == {"b"}
    index.close()


def test_put_replaces_and_remove_forgets(tmp_path: Path) -> None:
    index = MemoryKeywordIndex(tmp_path / "fts.sqlite3")
    index.put([memory("a", "Kayak", "lake trip")], "t1")
    index.put([memory("a", "Canoe", "river trip")], "t1")  # the same memory, edited
    assert index.search("kayak", "t1", limit=10) == {}
    assert index.search("canoe", "t1", limit=10) == {"a": 1.0}
    index.put([memory("a", "Canoe", "river trip")], "t2")  # another tenant's memory of the same id
    index.remove(["a", "never-there"], "t1")
    assert index.ids("t1") == set()
    assert index.search("canoe", "t2", limit=10) == {"a": 1.0}
    index.close()


def test_a_failed_transaction_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    index = MemoryKeywordIndex(tmp_path / "fts.sqlite3")
    index.put([memory("a", "Kayak", "lake trip")], "t1")
    with pytest.raises(OSError), index.transaction():
        index.remove(["a"], "t1")
        index.put([memory("b", "Canoe", "river trip")], "t1")
        raise OSError("Chroma refused the write")
    assert index.ids("t1") == {"a"}
    index.close()


def test_size_counts_the_database_and_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "fts.sqlite3"
    index = MemoryKeywordIndex(path)
    index.put([memory(f"m{n}", "Kayak", "lake trip " * 50) for n in range(50)], "t1")
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert len(files) >= 2  # the database and its write-ahead log
    assert index.size() == sum(p.stat().st_size for p in files) > 0
    index.close()
