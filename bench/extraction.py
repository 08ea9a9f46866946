"""How often Gemma 3 270M extracts a memory from a message, through Mnemo's Extractor.

Starts its own llama-server (the model in data/models), runs each message N times on a fresh
in-memory store and prints, per message: valid JSON replies, runs with at least one kept
(grounded) proposal, and the mean time. Temperature 0 on the first attempt, so repeated runs of a
message mostly agree; retries (temperature 0.6) are counted.

    python bench/extraction.py [N]
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings

from app.llm.llama import LlamaClient
from app.llm.models import DEFAULT, resolve
from app.llm.server import LlamaServer, config_for
from app.longterm.book import Memories
from app.longterm.extractor import ExtractionFailed, Extractor
from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.store import MemoryStore
from app.storage.embedder import SentenceTransformerEmbedder, default_model_path

ROOT = Path(__file__).resolve().parents[1]
QUIET = ChromaSettings(anonymized_telemetry=False)
MESSAGES = [
    "Please remember this: I prefer dark mode in all my editors.",
    "Remember that my favourite programming language is Rust.",
    "My project Atlas uses PostgreSQL 16 and FastAPI.",
    "I always write my notes in Markdown, remember that.",
    "Tell me one fun fact about octopuses.",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure(url: str, runs: int) -> None:
    embedder = SentenceTransformerEmbedder(default_model_path())
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        for message in MESSAGES:
            kept = failed = 0
            seconds = 0.0
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as tmp:
                    chroma = chromadb.PersistentClient(
                        tmp, settings=ChromaSettings(anonymized_telemetry=False)
                    )
                    store = MemoryStore(chroma, MemoryKeywordIndex(Path(tmp) / "fts.sqlite3"))
                    extractor = Extractor(LlamaClient(http), Memories(store, embedder, "minilm"))
                    start = time.monotonic()
                    try:
                        kept += bool(await extractor.extract(message, None))
                    except ExtractionFailed:
                        failed += 1
                    seconds += time.monotonic() - start
                    store.close()
            print(
                f"{message[:55]:55}  kept>=1: {kept}/{runs}  failed: {failed}/{runs}  "
                f"retries: {extractor.stats.retries}  mean {seconds / runs:.1f}s",
                flush=True,
            )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    model = resolve(DEFAULT, ROOT / "data" / "models")
    config = config_for(model, free_port())
    server = LlamaServer(config, Path(tempfile.gettempdir()) / f"llama-bench-{config.port}.log")
    server.start()
    try:
        server.wait_ready()
        asyncio.run(measure(server.url, runs))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
