import math
from pathlib import Path
from typing import Any

import anyio
import pytest

from app.storage.embedder import SentenceTransformerEmbedder, default_model_path


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
    dog, puppy, tax = await embedder.embed(["my dog is called Rex", "our puppy's name is Rex", "tax forms"])
    assert len(dog) == 384
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in (dog, puppy, tax))
    assert cosine(dog, puppy) > cosine(dog, tax) + 0.3


async def test_a_batch_embeds_each_text_as_alone(embedder: SentenceTransformerEmbedder) -> None:
    texts = ["short", "a much longer text that needs padding in a batch with a short one"]
    batch = await embedder.embed(texts)
    for text, vector in zip(texts, batch, strict=True):
        [alone] = await embedder.embed([text])
        assert cosine(alone, vector) == pytest.approx(1.0, abs=1e-4)


async def test_nothing_to_embed_costs_nothing(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedder, "_encode", fail)
    assert await embedder.embed([]) == []


async def test_a_query_embedded_again_comes_from_the_cache(
    embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await embedder.embed(["when did Caroline go hiking?"])
    monkeypatch.setattr(embedder, "_encode", fail)
    assert await embedder.embed(["when did Caroline go hiking?"]) == first
    with pytest.raises(AssertionError):  # a batch, or another text, is encoded
        await embedder.embed(["when did Caroline go hiking?", "and Melanie?"])


async def test_concurrent_calls_each_get_their_own_vectors(embedder: SentenceTransformerEmbedder) -> None:
    texts = [f"text number {n} about {topic}" for n, topic in enumerate(["cats", "rain", "jazz", "tax"])]
    results: dict[str, list[float]] = {}

    async def embed(text: str) -> None:
        [results[text]] = await embedder.embed([text])

    async with anyio.create_task_group() as tasks:
        for text in texts:
            tasks.start_soon(embed, text)
    together = await embedder.embed(texts)
    for text, vector in zip(texts, together, strict=True):
        assert cosine(results[text], vector) == pytest.approx(1.0, abs=1e-4)


def fail(texts: Any) -> Any:
    raise AssertionError(f"encoded {texts}")
