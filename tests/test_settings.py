import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_the_http_embedder_needs_a_server_and_a_model() -> None:
    with pytest.raises(ValidationError, match="MNEMO_EMBEDDER=http needs MNEMO_EMBEDDER_URL"):
        Settings(embedder="http", embedder_model="nomic-embed-text-v1.5")
    with pytest.raises(ValidationError, match="MNEMO_EMBEDDER=http needs"):
        Settings(embedder="http", embedder_url="http://127.0.0.1:8081")


def test_a_sentence_transformers_embedder_needs_its_folder() -> None:
    with pytest.raises(ValidationError, match="needs MNEMO_EMBEDDER_MODEL, a model folder"):
        Settings(embedder="sentence-transformers")


def test_an_unknown_embedder_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(embedder="word2vec")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url", ["http://h:11434", "http://h:11434/", "http://h:11434/v1", "http://h:11434/v1/"]
)
def test_the_embedding_server_is_named_by_its_root(url: str) -> None:
    assert Settings(embedder_url=url).embedder_url == "http://h:11434"
