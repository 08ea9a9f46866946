"""Configuration, read from the environment (prefix MNEMO_) and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.llm.models import alias_of

MIN_ADMIN_KEY = 16


class Settings(BaseSettings):
    """Every knob of the service; see .env.example for one line on each."""

    model_config = SettingsConfigDict(env_prefix="MNEMO_", env_file=".env", extra="ignore")

    # Service
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("./data")
    tenant: str = "default"
    log_level: str = "info"

    # Keys and limits (see README, "Running Mnemo for several people")
    admin_key: SecretStr | None = None
    api_key: SecretStr | None = None  # stdio MCP only: the tenant key it acts with
    max_request_bytes: int = Field(1024 * 1024, ge=1024)
    max_import_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    requests_per_minute: int = Field(0, ge=0)

    # llama.cpp server
    llm_base_url: str = ""
    llama_port: int = Field(8080, ge=1, le=65535)
    llama_ctx: int = Field(8192, ge=512)
    llama_slots: int = Field(2, ge=1)
    llama_threads: int = Field(0, ge=0)
    model: str = "qwen2.5-coder-0.5b-instruct"
    chat_template_file: str = ""
    llm_model: str = ""
    llm_timeout: float = Field(120.0, gt=0)
    llm_connect_timeout: float = Field(5.0, gt=0)

    # Prompt and token budget
    system_prompt: str = (
        "You are a helpful assistant with a long-term memory of this conversation. "
        "A message may start with memories recalled from earlier in the conversation; "
        "use them when they help you answer."
    )
    context_tokens: int = Field(0, ge=0)
    reply_tokens: int = Field(512, ge=16)

    # Memory
    embedding_model_path: str = ""
    chroma_url: str = ""
    top_k: int = Field(40, ge=0, le=200)
    score_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    neighbours: bool = False
    speaker_ranking: bool = False
    keyword_weight: float = Field(1.0, ge=0.0, le=4.0)
    keyword_depth: int = Field(10, ge=0, le=200)
    embed_context: bool = True
    window_min_turns: int = Field(4, ge=0)
    window_max_turns: int = Field(16, ge=2)
    summary_every: int = Field(5, ge=1)
    summary_fanout: int = Field(4, ge=2)
    summary_tokens: int = Field(192, ge=32)
    summary_timeout: float = Field(120.0, gt=0)
    summary_lookback: int = Field(64, ge=1)
    summary_max_per_conversation: int = Field(2, ge=1)
    summary_max_queued: int = Field(8, ge=1)
    # Background model calls start this many seconds after an import's last append (app/llm/traffic.py).
    import_quiet: float = Field(2.0, ge=0.0)
    summary_share: float = Field(0.25, ge=0.0, le=1.0)
    memory_share: float = Field(0.25, ge=0.0, le=1.0)
    memory_share_past: float = Field(0.5, ge=0.0, le=1.0)

    # Embedder (see README, "A stronger embedder")
    embedder: Literal["minilm", "sentence-transformers", "http", "nomic"] = "minilm"
    embedder_model: str = ""
    embedder_url: str = ""
    embedder_port: int = Field(8081, ge=1, le=65535)
    embedder_threads: int = Field(1, ge=0)
    embedder_quant: Literal["f16", "q8_0"] = "f16"
    embedder_query_prefix: str | None = None
    embedder_document_prefix: str | None = None
    embedder_batch: int = Field(64, ge=1, le=2048)
    embedder_timeout: float = Field(60.0, gt=0)

    # Long-term typed memories (see docs/memories.md)
    memory_top_k: int = Field(5, ge=0, le=50)
    memory_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    memory_duplicate_threshold: float | None = Field(None, ge=0.0, le=1.0)
    memory_supersede_threshold: float | None = Field(None, ge=0.0, le=1.0)
    extraction_enabled: bool = True
    extraction_retries: int = Field(2, ge=0, le=10)
    extraction_max_items: int = Field(3, ge=1, le=10)
    extraction_max_queued: int = Field(32, ge=1)  # long-term jobs waiting or running, all tenants together

    # Per-tenant caps on what is stored (0: no cap); a write past one is refused, nothing stored is lost
    max_stored_turns: int = Field(0, ge=0)
    max_stored_memories: int = Field(0, ge=0)
    tenants_cached: int = Field(64, ge=1)  # tenants whose parts are kept built (least recently used go)

    @field_validator("admin_key", "api_key", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # `MNEMO_ADMIN_KEY=` in .env (as .env.example leaves it) means no key, not an empty one.
        return None if value == "" else value

    @field_validator("admin_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_KEY:
            raise ValueError(
                f"MNEMO_ADMIN_KEY must be at least {MIN_ADMIN_KEY} characters; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("llm_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("embedder_url")
    @classmethod
    def _server_root(cls, value: str) -> str:
        # Mnemo posts to /v1/embeddings itself; a URL given with /v1 (as Ollama's docs do) means the same.
        value = value.rstrip("/")
        return value.removesuffix("/v1")

    @model_validator(mode="after")
    def _embedder_is_complete(self) -> Settings:
        if self.embedder == "http" and not (self.embedder_url and self.embedder_model):
            raise ValueError("MNEMO_EMBEDDER=http needs MNEMO_EMBEDDER_URL and MNEMO_EMBEDDER_MODEL")
        if self.embedder == "sentence-transformers" and not self.embedder_model:
            raise ValueError(
                "MNEMO_EMBEDDER=sentence-transformers needs MNEMO_EMBEDDER_MODEL, a model folder"
            )
        return self

    @model_validator(mode="after")
    def _window_holds_a_fold(self) -> Settings:
        # Between folds the window grows to window_min + 2 * summary_every turns; if the cap is
        # lower it slides every turn, and llama.cpp's cached prefix is lost on every request.
        needed = self.window_min_turns + 2 * self.summary_every
        if self.window_max_turns < needed:
            raise ValueError(
                f"MNEMO_WINDOW_MAX_TURNS={self.window_max_turns} is below MNEMO_WINDOW_MIN_TURNS + "
                f"2 x MNEMO_SUMMARY_EVERY = {needed}: raise it or summarise more often"
            )
        return self

    @property
    def llm_url(self) -> str:
        """The llama.cpp server Mnemo talks to: the configured one, else the local one."""
        return self.llm_base_url or f"http://127.0.0.1:{self.llama_port}"

    @property
    def model_alias(self) -> str:
        """The model name Mnemo serves and sends: MNEMO_LLM_MODEL, else MNEMO_MODEL's name."""
        return self.llm_model or alias_of(self.model)

    @property
    def embedder_root(self) -> str:
        """The embedding server Mnemo talks to: the configured one, else (nomic) the one `make run` starts."""
        if self.embedder == "nomic" and not self.embedder_url:
            return f"http://127.0.0.1:{self.embedder_port}"
        return self.embedder_url

    @property
    def starts_embedder(self) -> bool:
        """Whether `make run` starts its own embedding server: nomic, and no MNEMO_EMBEDDER_URL."""
        return self.embedder == "nomic" and not self.embedder_url

    @property
    def keys_on(self) -> bool:
        """Whether requests need keys: an admin key is configured."""
        return self.admin_key is not None

    @property
    def tenants_path(self) -> Path:
        return self.data_dir / "tenants.sqlite3"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "conversations.sqlite3"

    @property
    def memory_index_path(self) -> Path:
        return self.data_dir / "memories-fts.sqlite3"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"
