"""The embedder the settings name (MNEMO_EMBEDDER), its prefixes, the model name its vectors carry,
and the cosine gates that fit its scores."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from app.settings import Settings
from app.storage.embedder import Embedder, Prefixes, SentenceTransformerEmbedder, default_model_path
from app.storage.http_embedder import HttpEmbedder

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# nomic-embed-text is trained with these; without them its recall drops.
NOMIC_PREFIXES = Prefixes(query="search_query: ", document="search_document: ")
# What MNEMO_EMBEDDER=nomic sends and records: f16 and Q8_0 copies share one vector space.
NOMIC_MODEL = "nomic-embed-text-v1.5"


@dataclass(frozen=True)
class Gates:
    """Least cosines, which depend on the embedder: each model spreads its scores differently."""

    recall: float  # a turn recalled into the prompt (MNEMO_SCORE_THRESHOLD)
    memory: float  # a long-term memory injected (MNEMO_MEMORY_THRESHOLD)
    duplicate: float  # a new memory merged into a current one (MNEMO_MEMORY_DUPLICATE_THRESHOLD)
    supersede: float  # a new memory replacing the nearest current one (MNEMO_MEMORY_SUPERSEDE_THRESHOLD)


# MiniLM's recall gate is bench/embedders.py's calibration on the LoCoMo dev set (0.28 leaves 92% of its
# 50 unrelated questions without memories and lets 92% of evidence turns through; 0.3: 94% and 88%).
MINILM_GATES = Gates(recall=0.28, memory=0.45, duplicate=0.9, supersede=0.75)
# nomic-embed-text's cosines sit higher: unrelated questions score above MiniLM's 0.3 against every
# conversation. The recall gate is bench/embedders.py's calibration on the LoCoMo dev set (the least
# cosine that keeps >= 90% of its 50 unrelated questions without memories: 0.62 for f16 and Q8_0;
# unrelated top cosines p90 .61, evidence turns p10 .64). The long-term gates are not calibrated:
# MiniLM's, moved up as far as nomic's unrelated scores sit above MiniLM's.
NOMIC_GATES = Gates(recall=0.62, memory=0.7, duplicate=0.95, supersede=0.86)


def embedding_model_name(model_path: str) -> str:
    """A sentence-transformers folder's name, else the bundled MiniLM's."""
    if not model_path:
        return DEFAULT_EMBEDDING_MODEL
    return os.path.basename(os.path.normpath(model_path)) or model_path


def legacy_model_name(settings: Settings) -> str:
    """The model that wrote vectors before collections recorded it: what MNEMO_EMBEDDING_MODEL_PATH named."""
    return embedding_model_name(settings.embedding_model_path)


def model_name(settings: Settings) -> str:
    """The name of the configured model, recorded with its vectors and in memory exports."""
    if settings.embedder == "nomic":
        return settings.embedder_model or NOMIC_MODEL
    if settings.embedder == "http":
        return settings.embedder_model
    if settings.embedder == "sentence-transformers":
        return embedding_model_name(settings.embedder_model)
    return legacy_model_name(settings)


def is_nomic(settings: Settings) -> bool:
    """Whether the configured model is a nomic-embed-text, by its name."""
    return "nomic-embed" in model_name(settings).lower()


def prefixes(settings: Settings) -> Prefixes:
    """The configured prefixes; unset, nomic-embed-text's own for a model of that name, else none."""
    known = NOMIC_PREFIXES if is_nomic(settings) else Prefixes()
    query, document = settings.embedder_query_prefix, settings.embedder_document_prefix
    return Prefixes(
        query=known.query if query is None else query,
        document=known.document if document is None else document,
    )


def gates(settings: Settings) -> Gates:
    """The configured gates; each one unset takes the embedder's own (MiniLM's for a model not calibrated)."""
    known = NOMIC_GATES if is_nomic(settings) else MINILM_GATES

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    return Gates(
        recall=pick(settings.score_threshold, known.recall),
        memory=pick(settings.memory_threshold, known.memory),
        duplicate=pick(settings.memory_duplicate_threshold, known.duplicate),
        supersede=pick(settings.memory_supersede_threshold, known.supersede),
    )


@asynccontextmanager
async def open_embedder(settings: Settings) -> AsyncIterator[Embedder]:
    """The configured embedder, open for the service's lifetime."""
    if settings.embedder in ("http", "nomic"):
        timeout = httpx.Timeout(settings.embedder_timeout)
        async with httpx.AsyncClient(base_url=settings.embedder_root, timeout=timeout) as client:
            yield HttpEmbedder(client, model_name(settings), settings.embedder_batch, prefixes(settings))
        return
    folder = settings.embedder_model if settings.embedder == "sentence-transformers" else ""
    path = folder or settings.embedding_model_path or default_model_path()
    yield SentenceTransformerEmbedder(path, settings.embedder_batch, prefixes(settings))
