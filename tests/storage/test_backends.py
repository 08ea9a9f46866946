from typing import Any

import pytest

from app.settings import Settings
from app.storage.backends import (
    DEFAULT_EMBEDDING_MODEL,
    NOMIC_PREFIXES,
    embedding_model_name,
    legacy_model_name,
    model_name,
    open_embedder,
    prefixes,
)
from app.storage.embedder import Prefixes
from app.storage.http_embedder import HttpEmbedder


def nomic_over_http(**fields: Any) -> Settings:
    return Settings(
        embedder="http",
        embedder_url="http://127.0.0.1:8081",
        embedder_model="nomic-embed-text-v1.5",
        **fields,
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [("", DEFAULT_EMBEDDING_MODEL), ("/models/bge-small/", "bge-small"), ("models/e5", "e5")],
)
def test_exports_name_the_embedding_model_by_its_folder(path: str, name: str) -> None:
    assert embedding_model_name(path) == name


def test_the_default_is_minilm_without_prefixes() -> None:
    settings = Settings()
    assert (settings.embedder, model_name(settings), prefixes(settings)) == (
        "minilm",
        "all-MiniLM-L6-v2",
        Prefixes(),
    )
    assert settings.embedder_batch == 64


def test_each_backend_names_its_model() -> None:
    folder = Settings(embedder="sentence-transformers", embedder_model="/models/bge-small/")
    assert model_name(folder) == "bge-small"
    assert model_name(Settings(embedding_model_path="/models/e5")) == "e5"  # the older setting still works
    assert model_name(nomic_over_http()) == "nomic-embed-text-v1.5"


def test_vectors_from_before_the_record_are_the_old_settings_model() -> None:
    assert legacy_model_name(nomic_over_http()) == DEFAULT_EMBEDDING_MODEL
    assert legacy_model_name(nomic_over_http(embedding_model_path="/models/e5")) == "e5"


def test_nomic_gets_its_own_prefixes_unless_others_are_set() -> None:
    assert prefixes(nomic_over_http()) == NOMIC_PREFIXES
    assert prefixes(nomic_over_http(embedder_query_prefix="", embedder_document_prefix="doc: ")) == Prefixes(
        query="", document="doc: "
    )
    assert prefixes(Settings(embedder_query_prefix="query: ")) == Prefixes(query="query: ")


async def test_the_http_backend_posts_to_the_configured_server() -> None:
    async with open_embedder(nomic_over_http(embedder_timeout=5.0)) as embedder:
        assert isinstance(embedder, HttpEmbedder)
        client = embedder._client
        assert str(client.base_url) == "http://127.0.0.1:8081"
        assert client.timeout.read == 5.0
