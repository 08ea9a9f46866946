"""The embedder the settings name (MNEMO_EMBEDDER), its prefixes, and the model name its vectors carry."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.settings import Settings
from app.storage.embedder import Embedder, Prefixes, SentenceTransformerEmbedder, default_model_path
from app.storage.http_embedder import HttpEmbedder

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
# nomic-embed-text is trained with these; without them its recall drops.
NOMIC_PREFIXES = Prefixes(query="search_query: ", document="search_document: ")


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
    if settings.embedder == "http":
        return settings.embedder_model
    if settings.embedder == "sentence-transformers":
        return embedding_model_name(settings.embedder_model)
    return legacy_model_name(settings)


def prefixes(settings: Settings) -> Prefixes:
    """The configured prefixes; unset, nomic-embed-text's own for a model of that name, else none."""
    known = NOMIC_PREFIXES if "nomic-embed" in model_name(settings).lower() else Prefixes()
    query, document = settings.embedder_query_prefix, settings.embedder_document_prefix
    return Prefixes(
        query=known.query if query is None else query,
        document=known.document if document is None else document,
    )


@asynccontextmanager
async def open_embedder(settings: Settings) -> AsyncIterator[Embedder]:
    """The configured embedder, open for the service's lifetime."""
    if settings.embedder == "http":
        timeout = httpx.Timeout(settings.embedder_timeout)
        async with httpx.AsyncClient(base_url=settings.embedder_url, timeout=timeout) as client:
            yield HttpEmbedder(client, settings.embedder_model, settings.embedder_batch, prefixes(settings))
        return
    folder = settings.embedder_model if settings.embedder == "sentence-transformers" else ""
    path = folder or settings.embedding_model_path or default_model_path()
    yield SentenceTransformerEmbedder(path, settings.embedder_batch, prefixes(settings))
