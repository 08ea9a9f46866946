"""SQLite FTS5 for both keyword indexes: the connection, transactions and match expressions."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

WORD = re.compile(r"\w+", re.UNICODE)


def connect(path: Path | str) -> sqlite3.Connection:
    """One connection for every worker thread (callers hold a lock); WAL, transactions begun by hand."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Commit the block's writes together, or roll them all back if it (or the commit) fails."""
    db.execute("BEGIN")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def words(text: str) -> list[str]:
    """The distinct words of a text, in order, each lower-cased after it was found."""
    return list(dict.fromkeys(word.lower() for word in WORD.findall(text)))


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query matching any term; quoting keeps user text from being read as FTS syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
