"""Import rate against the raw embedder's rate on the same texts, side by side in one run.

The texts are LoCoMo turns (../shared/data/locomo-dev), conversation after conversation, each
turn with the turn it answers as History embeds them (`contextual_text`), in requests of up to
1,000 turns per conversation as `POST /conversations/{id}/messages` takes them. For each request
in turn: raw, the configured embedder (MiniLM by default) on the request's texts in one call;
import, the same turns through History into a real Chroma and keyword index in a temporary
folder. Taking turns keeps a machine's changing load from favouring either. The time of the
import is split into its calls to the embedder, the keyword index and the store.

    .venv/bin/python bench/import_rate.py [--turns 2000] [--request 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.conversations.history import History, NewMessage, contextual_text  # noqa: E402
from app.conversations.keywords import KeywordIndex  # noqa: E402
from app.conversations.models import Turn  # noqa: E402
from app.conversations.store import ChromaStore  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage.backends import open_embedder  # noqa: E402
from bench.locomo import conversations, messages_for  # noqa: E402


class Timed:
    """Forwards to an object and adds up the seconds spent in each of its coroutine methods."""

    def __init__(self, inner: Any, name: str, totals: dict[str, float]) -> None:
        self._inner = inner
        self._name = name
        self._totals = totals

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value) or not asyncio.iscoroutinefunction(value):
            return value
        return self._timed(value, f"{self._name}.{attr}")

    def _timed(self, method: Callable[..., Any], key: str) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self._totals[key] += time.perf_counter() - begin

        return call


def sample(turns: int) -> list[tuple[str, list[NewMessage]]]:
    """`turns` LoCoMo turns, by conversation, as the import route builds them.

    The development set has 1,451 turns; past them its conversations come again under new ids.
    """
    picked: list[tuple[str, list[NewMessage]]] = []
    left = turns
    for rerun in itertools.count():
        for cid, conv in conversations().items():
            if left <= 0:
                return picked
            messages = [
                NewMessage(
                    role=m["role"],
                    content=m["content"],
                    name=m["name"],
                    created_at=datetime.fromisoformat(m["created_at"]),
                )
                for m in messages_for(conv)[:left]
            ]
            picked.append((f"{cid}-{rerun}", messages))
            left -= len(messages)
    return picked


def vector_texts(picked: list[tuple[str, list[NewMessage]]]) -> list[str]:
    """What History embeds for these turns with context on: each turn and the one it answers."""
    texts = []
    for cid, messages in picked:
        previous: Turn | None = None
        for index, m in enumerate(messages):
            turn = Turn(cid, index, m.role, m.content, m.created_at or datetime.now(), m.name)
            texts.append(contextual_text(turn, previous))
            previous = turn
    return texts


def requests(picked: list[tuple[str, list[NewMessage]]], size: int) -> list[tuple[str, list[NewMessage]]]:
    return [(cid, messages[i : i + size]) for cid, messages in picked for i in range(0, len(messages), size)]


async def run(turns: int, request: int) -> None:
    picked = sample(turns)
    texts = vector_texts(picked)
    raw_seconds = 0.0
    totals: dict[str, float] = defaultdict(float)
    async with open_embedder(Settings(_env_file=None)) as embedder:  # type: ignore[call-arg]
        await embedder.embed(texts[:64], "document")  # load and warm the model
        with tempfile.TemporaryDirectory() as tmp:
            client = chromadb.PersistentClient(
                path=str(Path(tmp) / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
            )
            store = Timed(ChromaStore(client), "store", totals)
            keywords = KeywordIndex(Path(tmp) / "keywords.sqlite3")
            timed_keywords = Timed(keywords, "keywords", totals)
            history = History(store, Timed(embedder, "embedder", totals), timed_keywords, context=True)  # type: ignore[arg-type]
            elapsed = 0.0
            done = 0
            # Raw and import take turns a request at a time, so both see the same load on the machine.
            for cid, messages in requests(picked, request):
                begin = time.perf_counter()
                await embedder.embed(texts[done : done + len(messages)], "document")
                raw_seconds += time.perf_counter() - begin
                done += len(messages)
                begin = time.perf_counter()
                async with history.locked(cid):
                    await history.append(cid, messages)
                elapsed += time.perf_counter() - begin
            keywords.close()
    raw = len(texts) / raw_seconds
    imported = len(texts) / elapsed
    print(f"{len(texts)} turns of {len(picked)} conversations, requests of <= {request} turns")
    print(f"raw embedder: {raw:7.1f} turns/s (each request's texts in one call)")
    print(f"import:       {imported:7.1f} turns/s   ratio {imported / raw:.2f}")
    print(f"import time {elapsed:.2f} s, of which:")
    for key, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {key:24s} {seconds:6.2f} s  {100 * seconds / elapsed:5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--request", type=int, default=1000, help="turns per append (the route's max)")
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.request))


if __name__ == "__main__":
    main()
