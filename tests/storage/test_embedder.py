import math
from pathlib import Path
from typing import Any

import anyio
import pytest

from app.storage.embedder import Prefixes, SentenceTransformerEmbedder, default_model_path


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(default_model_path())


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_the_bundled_model_is_a_local_folder() -> None:
    assert (Path(default_model_path()) / "config.json").is_file()


async def test_texts_become_unit_vectors_closer_when_they_mean_the_same(
    embedder: SentenceTransformerEmbedder,
) -> None:
    dog, puppy, tax = await embedder.embed(
        ["my dog is called Rex", "our puppy's name is Rex", "tax forms"], "document"
    )
    assert len(dog) == 384
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in (dog, puppy, tax))
    assert cosine(dog, puppy) > cosine(dog, tax) + 0.3


async def test_a_batch_embeds_each_text_as_alone(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["short", "a much longer text that needs padding in a batch with a short one"]
    batch = await embedder.embed(texts, "document")
    for text, vector in zip(texts, batch, strict=True):
        [alone] = await embedder.embed([text], "document")
        assert cosine(alone, vector) == pytest.approx(1.0, abs=1e-4)


async def test_nothing_to_embed_costs_nothing(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedder, "_encode", fail)
    assert await embedder.embed([], "query") == []


async def test_a_query_embedded_again_comes_from_the_cache(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await embedder.embed(["when did Caroline go hiking?"], "query")
    monkeypatch.setattr(embedder, "_encode", fail)
    assert await embedder.embed(["when did Caroline go hiking?"], "query") == first
    with pytest.raises(AssertionError):  # a batch, or another text, is encoded
        await embedder.embed(["when did Caroline go hiking?", "and Melanie?"], "query")


async def test_concurrent_calls_each_get_their_own_vectors(embedder: SentenceTransformerEmbedder) -> None:
    texts = [f"text number {n} about {topic}" for n, topic in enumerate(["cats", "rain", "jazz", "tax"])]
    results: dict[str, list[float]] = {}

    async def embed(text: str) -> None:
        [results[text]] = await embedder.embed([text], "document")

    async with anyio.create_task_group() as tasks:
        for text in texts:
            tasks.start_soon(embed, text)
    together = await embedder.embed(texts, "document")
    for text, vector in zip(texts, together, strict=True):
        assert cosine(results[text], vector) == pytest.approx(1.0, abs=1e-4)


def test_prefixes_go_before_queries_or_documents_by_kind() -> None:
    nomic = Prefixes(query="search_query: ", document="search_document: ")
    assert nomic.apply(["when?"], "query") == ["search_query: when?"]
    assert nomic.apply(["I went"], "document") == ["search_document: I went"]
    assert Prefixes().apply(["as is"], "query") == ["as is"]


async def test_the_embedder_embeds_each_kind_with_its_prefix(embedder: SentenceTransformerEmbedder) -> None:
    prefixed = SentenceTransformerEmbedder(default_model_path(), prefixes=Prefixes(query="question: "))
    [query] = await prefixed.embed(["where is Rex"], "query")
    [document] = await prefixed.embed(["where is Rex"], "document")
    [by_hand] = await embedder.embed(["question: where is Rex"], "query")
    assert cosine(query, by_hand) == pytest.approx(1.0, abs=1e-4)
    assert cosine(document, query) < 0.999


def fail(texts: Any) -> Any:
    raise AssertionError(f"encoded {texts}")
