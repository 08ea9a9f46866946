import sqlite3
from pathlib import Path

import pytest

from app.storage.fts import connect, match_expression, transaction, words


def table(path: Path) -> sqlite3.Connection:
    db = connect(path)
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(content, tokenize='porter unicode61')")
    return db


def count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM docs").fetchone()[0])


def test_a_connection_makes_its_folder_and_writes_ahead(tmp_path: Path) -> None:
    db = connect(tmp_path / "new" / "index.sqlite3")
    assert (tmp_path / "new" / "index.sqlite3").exists()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.isolation_level is None  # no implicit transactions: `transaction` begins them
    db.close()


def test_a_transaction_commits_its_writes_together(tmp_path: Path) -> None:
    db = table(tmp_path / "index.sqlite3")
    with transaction(db):
        db.execute("INSERT INTO docs VALUES ('one')")
        db.execute("INSERT INTO docs VALUES ('two')")
    db.close()
    assert count(table(tmp_path / "index.sqlite3")) == 2  # seen by a new connection


def test_a_failing_transaction_leaves_nothing_and_the_connection_usable(tmp_path: Path) -> None:
    db = table(tmp_path / "index.sqlite3")
    with pytest.raises(RuntimeError), transaction(db):
        db.execute("INSERT INTO docs VALUES ('one')")
        raise RuntimeError("Chroma refused the write")
    assert count(db) == 0
    assert not db.in_transaction
    with transaction(db):
        db.execute("INSERT INTO docs VALUES ('two')")
    assert count(db) == 1


def test_words_are_distinct_lower_cased_and_in_order() -> None:
    assert words("Pottery, pottery and KILN-firing!") == ["pottery", "and", "kiln", "firing"]
    assert words("  ?! ") == []
    assert words("İstanbul") == ["İstanbul".lower()]  # found, then lower-cased: one word, not "i", "stanbul"


def test_match_expression_quotes_user_text() -> None:
    assert match_expression(['say "hi"', "OR"]) == '"say ""hi""" OR "OR"'


@pytest.mark.parametrize(
    "text", ['pottery" OR "x', "NEAR(pottery kiln)", "kiln*", "content: kiln", "-kiln ^"]
)
def test_fts_syntax_in_user_text_is_matched_as_words(tmp_path: Path, text: str) -> None:
    db = table(tmp_path / "index.sqlite3")
    db.execute("INSERT INTO docs VALUES ('the pottery kiln')")
    found = db.execute("SELECT content FROM docs WHERE docs MATCH ?", (match_expression(words(text)),))
    assert [row[0] for row in found] == ["the pottery kiln"]
