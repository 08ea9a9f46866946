"""Chroma for both memories: the client, our collections, their records and ISO-date metadata."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from app.settings import Settings

Metadata = Mapping[str, str | int | float | bool]
Record = tuple[str, str, Metadata]  # id, document, metadata


def chroma_client(settings: Settings) -> Any:
    """Embedded Chroma on disk, or a shared Chroma server when MNEMO_CHROMA_URL is set."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


def open_collection(client: Any, name: str, metadata: Metadata | None = None) -> Any:
    """A cosine collection that never embeds: Chroma's default embedder would download a model.

    `metadata` is recorded on the collection when this call creates it; an existing one keeps its own.
    """
    return client.get_or_create_collection(
        name, embedding_function=None, metadata={**(metadata or {}), "hnsw:space": "cosine"}
    )


def find_collection(client: Any, name: str) -> Any | None:
    """The named collection, or None when there is none; never creates one."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except NotFoundError:
        return None


def collection_name(prefix: str, *parts: str) -> str:
    """A valid Chroma name (3-63 of [a-zA-Z0-9._-], alphanumeric ends) that stands for `parts`, any text."""
    digest = hashlib.blake2b(json.dumps(parts).encode(), digest_size=20).hexdigest()
    return f"{prefix}{digest}"


def iso(moment: datetime | None) -> str:
    """A time as metadata: ISO 8601 in UTC; "" for none, as metadata takes no None."""
    return moment.astimezone(UTC).isoformat() if moment else ""


def from_iso(value: object) -> datetime | None:
    """The time an `iso` string stands for; None for ""."""
    return datetime.fromisoformat(str(value)) if value else None


def required_time(value: object) -> datetime:
    """A time that must be there."""
    moment = from_iso(value)
    if moment is None:
        raise ValueError("a stored record lacks a time")
    return moment


def records(result: Any) -> list[Record]:
    """The (id, document, metadata) of each record a `get` returned."""
    return list(zip(result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True))


def hits(result: Any) -> list[tuple[str, str, Metadata, float]]:
    """The (id, document, metadata, cosine similarity) of each hit of a one-vector `query`."""
    ids = result["ids"][0]
    docs = (result["documents"] or [[]])[0]
    metas = (result["metadatas"] or [[]])[0]
    dists = (result["distances"] or [[]])[0]
    return [
        (i, doc, meta, round(1.0 - float(dist), 4))
        for i, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
    ]
