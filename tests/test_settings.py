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
        ("top_k", 51),
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
