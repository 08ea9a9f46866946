"""Embeddings from an OpenAI-compatible /v1/embeddings server: llama.cpp --embedding, Ollama, TEI."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from cachetools import LRUCache

from app.errors import EmbedderUnavailable
from app.storage.embedder import Kind, Prefixes

ENDPOINT = "/v1/embeddings"


@contextmanager
def map_embedding_errors(url: str) -> Iterator[None]:
    """httpx's failures and a malformed reply as EmbedderUnavailable, naming the server."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise EmbedderUnavailable(f"the embedding server at {url} timed out: {exc!r}") from exc
    except httpx.TransportError as exc:
        raise EmbedderUnavailable(f"the embedding server at {url} is not reachable: {exc!r}") from exc
    except httpx.HTTPStatusError as exc:
        status, text = exc.response.status_code, exc.response.text[:300]
        raise EmbedderUnavailable(f"the embedding server at {url} answered {status}: {text}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EmbedderUnavailable(f"the embedding server at {url} sent a malformed reply: {exc!r}") from exc


def unit(vector: list[float]) -> list[float]:
    """The vector scaled to length 1, as the stores compare vectors by dot product."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def vectors_of(body: Any, expected: int) -> list[list[float]]:
    """The embeddings of a reply, put back in input order by their `index`."""
    data = sorted(body["data"], key=lambda item: int(item["index"]))
    if [int(item["index"]) for item in data] != list(range(expected)):
        raise ValueError(f"{len(data)} embeddings for {expected} inputs")
    return [unit([float(x) for x in item["embedding"]]) for item in data]


class HttpEmbedder:
    """Embeds through a server's /v1/embeddings, `batch_size` texts a request, in order."""

    def __init__(
        self, client: httpx.AsyncClient, model: str, batch_size: int = 64, prefixes: Prefixes | None = None
    ) -> None:
        self._client = client
        self._model = model
        self._batch_size = batch_size
        self._prefixes = prefixes or Prefixes()
        # A message is embedded as a query more than once per turn (turn recall, long-term recall).
        self._queries: LRUCache[str, list[float]] = LRUCache(maxsize=256)

    async def embed(self, texts: list[str], kind: Kind) -> list[list[float]]:
        texts = self._prefixes.apply(texts, kind)
        if len(texts) == 1 and texts[0] in self._queries:
            return [self._queries[texts[0]]]
        vectors: list[list[float]] = []
        for begin in range(0, len(texts), self._batch_size):
            vectors.extend(await self._request(texts[begin : begin + self._batch_size]))
        if len(texts) == 1:
            self._queries[texts[0]] = vectors[0]
        return vectors

    async def _request(self, texts: list[str]) -> list[list[float]]:
        payload = {"model": self._model, "input": texts, "encoding_format": "float"}
        with map_embedding_errors(str(self._client.base_url)):
            response = await self._client.post(ENDPOINT, json=payload)
            response.raise_for_status()
            return vectors_of(response.json(), len(texts))
