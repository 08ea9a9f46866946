"""Search in one conversation as the store grows: one collection for all, or one per conversation.

Chroma's local mode keeps no metadata index, so the first layout's `where conversation_id = ...`
scanned every stored record. Each run fills the first layout (a probe conversation and others of
random unit vectors), times the probe's search there, moves the folder with the start-up migration
(timing it too) and times the same search on the new layout, in one process.

    .venv/bin/python bench/store_layout.py [--others 10000 100000] [--probe 1000] [--dims 384]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.conversations.models import Turn  # noqa: E402
from app.conversations.store import LEGACY_COLLECTION, ChromaStore, turn_metadata  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage.chroma import chroma_client, hits, open_collection  # noqa: E402
from app.storage.threads import in_thread  # noqa: E402
from app.storage.vector_space import VectorSpace  # noqa: E402

BATCH = 1000
NOT_ABANDONED = {"abandoned": {"$ne": True}}  # the first layout's filter
PROBE = "probe"


def unit_vectors(rng: np.random.Generator, n: int, dims: int) -> list[list[float]]:
    vectors = rng.standard_normal((n, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.tolist()  # type: ignore[no-any-return]


def fill_first_layout(client: Any, probe: int, others: int, dims: int, rng: np.random.Generator) -> None:
    """The probe conversation and `others` turns in conversations of `probe` turns, all in one collection."""
    legacy = open_collection(client, LEGACY_COLLECTION)
    sizes = [(PROBE, probe)] + [(f"other-{c}", probe) for c in range(others // probe)]
    for cid, size in sizes:
        for start in range(0, size, BATCH):
            turns = [Turn(cid, i, "user", f"{cid} turn {i}") for i in range(start, min(size, start + BATCH))]
            legacy.add(
                ids=[t.id for t in turns],
                documents=[t.content for t in turns],
                metadatas=[turn_metadata(t, "default") for t in turns],  # type: ignore[misc]
                embeddings=unit_vectors(rng, len(turns), dims),  # type: ignore[arg-type]
            )


async def first_layout_search(client: Any, vector: list[float], k: int, before: int) -> list[Any]:
    """The first layout's search: its query, as ChromaStore ran it before the move."""
    legacy = open_collection(client, LEGACY_COLLECTION)
    clauses = [{"conversation_id": PROBE}, {"kind": "turn"}, {"turn_index": {"$lt": before}}, NOT_ABANDONED]
    result = await in_thread(
        lambda: legacy.query(
            query_embeddings=[vector],
            n_results=k,
            where={"$and": clauses},
            include=["documents", "metadatas", "distances"],
        ),
        "Chroma",
    )
    return hits(result)


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    """Median and 95th percentile, in ms, of `repeat` calls after one warm-up call."""
    await fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


async def run(others: int, args: argparse.Namespace) -> tuple[float, float, float, float, float]:
    rng = np.random.default_rng(7)
    work = Path(tempfile.mkdtemp(prefix="mnemo-collections-"))
    client = chroma_client(Settings(_env_file=None, data_dir=work))  # type: ignore[call-arg]
    fill_first_layout(client, args.probe, others, args.dims, rng)
    queries = unit_vectors(rng, args.queries, args.dims)
    before = args.probe - 16  # the window's turns are never recalled
    cycle = iter(range(10**9))

    def next_query() -> list[float]:
        return queries[next(cycle) % len(queries)]

    old = await timed(lambda: first_layout_search(client, next_query(), args.k, before), args.queries)
    store = ChromaStore(client, space=VectorSpace("random", args.dims))
    started = time.perf_counter()
    moved = await store.adopt_legacy()
    rate = moved / (time.perf_counter() - started)
    new = await timed(lambda: store.search(PROBE, next_query(), args.k, before), args.queries)
    return old[0], old[1], new[0], new[1], rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--others", type=int, nargs="+", default=[10_000, 100_000], help="turns besides the probe"
    )
    parser.add_argument("--probe", type=int, default=1000, help="turns of the probe conversation")
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    rows = [(others, *await run(others, args)) for others in args.others]
    print(f"search of a {args.probe}-turn conversation, k={args.k}; ms over {args.queries} random queries")
    print(f"{'other turns':>12}{'one collection p50/p95':>26}{'per conversation p50/p95':>28}{'moved/s':>10}")
    for others, old50, old95, new50, new95, rate in rows:
        print(f"{others:>12,}{old50:>17.1f} / {old95:<6.1f}{new50:>19.1f} / {new95:<6.1f}{rate:>10,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
