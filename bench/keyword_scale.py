"""The keyword index with many conversations: the current layout against the first one, side by side.

The first layout kept the conversation as an unindexed FTS5 column, so every write,
count and search walked the matches of every conversation. The current one keys rows
by (conversation, turn) and scopes a search with a per-conversation token. Both are
filled with the same synthetic turns; each operation is timed on each, in one run.

    .venv/bin/python bench/keyword_scale.py [--conversations 200] [--turns 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.conversations.keywords import KeywordIndex, query_terms  # noqa: E402
from app.conversations.models import Turn  # noqa: E402
from app.storage.fts import match_expression  # noqa: E402

WORDS = [
    "pottery",
    "kayak",
    "camping",
    "paint",
    "sunrise",
    "support",
    "group",
    "kids",
    "work",
    "dog",
    "cat",
    "garden",
    "violin",
    "concert",
    "museum",
    "recipe",
    "marathon",
    "beach",
    "mountain",
    "library",
    "school",
    "friend",
    "family",
    "trip",
    "photo",
    "book",
    "movie",
]
QUERIES = ["when did she paint a sunrise", "the camping trip with the kids", "which book about dogs"]


class FirstLayout:
    """The first keyword index's SQL, kept here only to measure against."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute(
            "CREATE VIRTUAL TABLE turns USING fts5(content, conversation_id UNINDEXED, "
            "turn_index UNINDEXED, tokenize='porter unicode61')"
        )

    def add(self, cid: str, index: int, text: str) -> None:
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM turns WHERE conversation_id = ? AND turn_index = ?", (cid, index))
        self.db.execute("INSERT INTO turns VALUES (?, ?, ?)", (text, cid, index))
        self.db.execute("COMMIT")

    def search(self, cid: str, query: str) -> list[tuple[int, float]]:
        sql = (
            "SELECT turn_index, -bm25(turns) FROM turns WHERE turns MATCH ? "
            "AND conversation_id = ? AND turn_index < ? ORDER BY bm25(turns) LIMIT ?"
        )
        return self.db.execute(sql, (match_expression(query_terms(query)), cid, 10**9, 15)).fetchall()

    def count(self, cid: str) -> int:
        sql = "SELECT count(*) FROM turns WHERE conversation_id = ?"
        return int(self.db.execute(sql, (cid,)).fetchone()[0])


def ms(fn: Callable[[], object], repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=1000, help="turns per conversation")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mnemo-keywords-"))
    rng = random.Random(7)
    first = FirstLayout(work / "first.sqlite3")
    current = KeywordIndex(work / "current.sqlite3")
    first.db.execute("BEGIN")
    for c in range(args.conversations):
        cid = f"conv-{c}"
        turns = [Turn(cid, i, "user", " ".join(rng.choices(WORDS, k=18))) for i in range(args.turns)]
        rows = [(t.content, cid, t.turn_index) for t in turns]
        first.db.executemany("INSERT INTO turns VALUES (?, ?, ?)", rows)
        await current.add(turns, [t.content for t in turns])
    first.db.execute("COMMIT")
    total = args.conversations * args.turns
    cid = f"conv-{args.conversations // 2}"

    # The current index is async (it runs SQLite in a worker thread); time its calls end to end.
    async def timed(fn: Callable[[], Awaitable[object]], repeat: int = 20) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            await fn()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    results: list[tuple[str, float, float]] = []
    for query in QUERIES:
        before = ms(lambda q=query: first.search(cid, q))
        after = await timed(lambda q=query: current.search(cid, q, 15, 10**9))
        assert {i for i, _ in first.search(cid, query)} == {
            i for i, _ in await current.search(cid, query, 15, 10**9)
        }, "the two layouts must find the same turns"
        results.append((f"search '{query}'", before, after))
    text = "a new turn about pottery"
    before = ms(lambda: first.add(cid, 5, text))
    after = await timed(lambda: current.add([Turn(cid, 5, "user", text)], [text]))
    results.append(("add one turn", before, after))
    before = ms(lambda: first.count(cid))
    results.append(("count a conversation", before, await timed(lambda: current.count(cid))))

    print(f"{total:,} turns in {args.conversations} conversations; median ms of 20 calls")
    print(f"{'operation':44}{'first layout':>14}{'current':>10}{'ratio':>9}")
    for name, before, after in results:
        print(f"{name:44}{before:>14.2f}{after:>10.2f}{before / after:>8.0f}x")
    current.close()


if __name__ == "__main__":
    asyncio.run(main())
