"""Settings: the environment prefix, the window/summary rule, and the derived values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.settings import Settings


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_values_come_from_mnemo_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNEMO_PORT", "9001")
    monkeypatch.setenv("MNEMO_TOP_K", "7")
    monkeypatch.setenv("PORT", "1234")  # unprefixed: ignored
    settings = make()
    assert settings.port == 9001
    assert settings.top_k == 7


def test_the_window_must_hold_a_fold() -> None:
    # window_min + 2 * summary_every is the largest the window grows between folds.
    assert make(window_min_turns=4, summary_every=5, window_max_turns=14).window_max_turns == 14
    with pytest.raises(ValidationError, match=r"MNEMO_WINDOW_MAX_TURNS=13 is below .* = 14"):
        make(window_min_turns=4, summary_every=5, window_max_turns=13)


def test_the_window_rule_counts_the_minimum_too() -> None:
    with pytest.raises(ValidationError, match="below"):
        make(window_min_turns=10, summary_every=5, window_max_turns=16)
    make(window_min_turns=6, summary_every=5, window_max_turns=16)


def test_the_defaults_pass_the_window_rule() -> None:
    settings = make()
    assert settings.window_max_turns >= settings.window_min_turns + 2 * settings.summary_every


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 0),
        ("port", 65536),
        ("llama_ctx", 511),
        ("top_k", 201),
        ("keyword_weight", -0.1),
        ("memory_share_past", 1.5),
        ("reply_tokens", 15),
        ("llm_timeout", 0),
    ],
)
def test_bounds_are_enforced(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        make(**{field: value})


def test_trailing_slashes_are_stripped_from_the_llm_url() -> None:
    assert make(llm_base_url="http://gpu:8080//").llm_base_url == "http://gpu:8080"
    assert make(llm_base_url="http://gpu:8080//").llm_url == "http://gpu:8080"


def test_without_a_configured_server_the_llm_url_is_the_local_one() -> None:
    assert make().llm_url == "http://127.0.0.1:8080"
    assert make(llama_port=9090).llm_url == "http://127.0.0.1:9090"


def test_model_alias_prefers_llm_model_then_the_bundled_name_then_the_file_stem() -> None:
    assert make(model="qwen2.5-coder-0.5b-instruct").model_alias == "qwen2.5-coder-0.5b-instruct"
    assert make(model="/models/Llama-3-8B.Q4_K_M.gguf").model_alias == "Llama-3-8B.Q4_K_M"
    assert make(model="/models/x.gguf", llm_model="served-name").model_alias == "served-name"


def test_paths_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = make(data_dir=tmp_path)
    assert settings.chroma_dir == tmp_path / "chroma"
    assert settings.memory_index_path == tmp_path / "memories-fts.sqlite3"
    assert settings.model_dir == tmp_path / "models"


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


def test_every_setting_is_in_env_example_and_the_readme() -> None:
    root = Path(__file__).parent.parent
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    for field in Settings.model_fields:
        name = f"MNEMO_{field.upper()}"
        assert f"# {name}=" in example, name
        assert f"| `{name}` |" in readme, name
