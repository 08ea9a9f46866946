from typing import Any

import pytest

from app.settings import Settings
from app.storage.backends import (
    DEFAULT_EMBEDDING_MODEL,
    MINILM_GATES,
    NOMIC_GATES,
    NOMIC_MODEL,
    NOMIC_PREFIXES,
    Gates,
    embedding_model_name,
    gates,
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


async def test_nomic_is_the_http_embedder_on_the_local_embedding_server() -> None:
    settings = Settings(_env_file=None, embedder="nomic", embedder_port=8123)  # type: ignore[call-arg]
    assert (model_name(settings), prefixes(settings)) == (NOMIC_MODEL, NOMIC_PREFIXES)
    assert settings.starts_embedder
    async with open_embedder(settings) as embedder:
        assert isinstance(embedder, HttpEmbedder)
        assert str(embedder._client.base_url) == "http://127.0.0.1:8123"
        assert (embedder._model, embedder._prefixes) == (NOMIC_MODEL, NOMIC_PREFIXES)


async def test_nomic_at_a_given_url_is_not_started_locally() -> None:
    settings = Settings(_env_file=None, embedder="nomic", embedder_url="http://gpu:9000/v1")  # type: ignore[call-arg]
    assert not settings.starts_embedder
    async with open_embedder(settings) as embedder:
        assert isinstance(embedder, HttpEmbedder)
        assert str(embedder._client.base_url) == "http://gpu:9000"
        assert embedder._model == NOMIC_MODEL


def test_no_other_embedder_starts_a_server() -> None:
    assert not Settings(_env_file=None).starts_embedder  # type: ignore[call-arg]
    assert not nomic_over_http().starts_embedder
    assert Settings(_env_file=None).embedder_root == ""  # type: ignore[call-arg]


def test_unset_gates_are_the_embedders_own() -> None:
    assert gates(Settings(_env_file=None)) == MINILM_GATES  # type: ignore[call-arg]
    assert gates(Settings(_env_file=None, embedder="nomic")) == NOMIC_GATES  # type: ignore[call-arg]
    assert gates(nomic_over_http()) == NOMIC_GATES  # by the model's name, whichever server serves it
    # nomic's cosines sit higher: each of its gates is stricter than MiniLM's.
    for field in ("recall", "memory", "duplicate", "supersede"):
        assert getattr(NOMIC_GATES, field) > getattr(MINILM_GATES, field)


def test_a_gate_that_is_set_wins_over_the_embedders_own() -> None:
    settings = Settings(_env_file=None, embedder="nomic", score_threshold=0.25, memory_threshold=0.0)  # type: ignore[call-arg]
    assert gates(settings) == Gates(
        recall=0.25, memory=0.0, duplicate=NOMIC_GATES.duplicate, supersede=NOMIC_GATES.supersede
    )
