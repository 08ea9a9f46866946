"""Embeddings from an OpenAI-compatible /v1/embeddings server: llama.cpp --embedding, Ollama, TEI."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from cachetools import LRUCache

from app.errors import EmbedderUnavailable
from app.storage.embedder import Kind, Prefixes

ENDPOINT = "/v1/embeddings"
# What llama-server says of an input longer than a batch (500) or a slot's context (400); others alike.
TOO_LONG = re.compile(r"too large|too long|context size|context length|exceeds", re.IGNORECASE)
INPUT_TOKENS = re.compile(r"input \((\d+) tokens\)")
BATCH_TOKENS = re.compile(r"current batch size: (\d+)")

log = logging.getLogger("mnemo.embedder")


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


@dataclass(frozen=True)
class TooLong:
    """A server's refusal of an input longer than it takes, with the token counts when it gives them."""

    tokens: int | None = None
    limit: int | None = None

    def shorten(self, text: str) -> str:
        """The text's start, cut in proportion to what fits (a little under), else by half."""
        keep = len(text) // 2
        if self.tokens and self.limit and self.limit < self.tokens:
            keep = min(len(text) - 1, int(len(text) * self.limit / self.tokens * 0.95))
        return text[:keep]


def too_long(response: httpx.Response) -> TooLong | None:
    """The refusal of an over-long input, or None for any other answer."""
    if response.status_code not in (400, 413, 422, 500) or not TOO_LONG.search(response.text):
        return None
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict) and "n_prompt_tokens" in error and "n_ctx" in error:
        return TooLong(int(error["n_prompt_tokens"]), int(error["n_ctx"]))
    tokens, limit = INPUT_TOKENS.search(response.text), BATCH_TOKENS.search(response.text)
    return TooLong(int(tokens[1]) if tokens else None, int(limit[1]) if limit else None)


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
            refusal = too_long(response)
            if refusal is None:
                response.raise_for_status()
                return vectors_of(response.json(), len(texts))
        if len(texts) > 1:
            # One long text fails the whole batch: send them one by one, so only it is shortened.
            return [vector for text in texts for vector in await self._request([text])]
        return await self._request([self._shortened(texts[0], refusal)])

    def _shortened(self, text: str, refusal: TooLong) -> str:
        """Its start, as sentence-transformers embeds a text longer than the model's context."""
        shorter = refusal.shorten(text)
        if not shorter:
            raise EmbedderUnavailable(
                f"the embedding server at {self._client.base_url} refused even one character"
            )
        log.info(
            "the embedding server refused %d characters as too long: sending the first %d",
            len(text),
            len(shorter),
        )
        return shorter
