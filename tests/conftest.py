"""Fixtures for tests on fakes: a real Chroma on disk, a hashing embedder, a scripted model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import chromadb
import httpx
import pytest
from asgi_lifespan import LifespanManager
from chromadb.config import Settings as ChromaSettings

from app.conversations.catalog import Catalog
from app.conversations.keywords import KeywordIndex
from app.conversations.store import ChromaStore
from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.store import MemoryStore
from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from app.wiring import Services, TenantParts
from tests.fakes import FakeLLM, HashEmbedder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        reply_tokens=64,
        score_threshold=0.2,
        window_max_turns=6,
        window_min_turns=2,
        summary_every=2,
        import_quiet=0.05,
    )


@pytest.fixture
def chroma(tmp_path: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )


@pytest.fixture
def store(chroma: chromadb.ClientAPI) -> ChromaStore:
    return ChromaStore(chroma)


@pytest.fixture
def memory_store(chroma: chromadb.ClientAPI, tmp_path: Path) -> Iterator[MemoryStore]:
    store = MemoryStore(chroma, MemoryKeywordIndex(tmp_path / "memories-fts.sqlite3"))
    yield store
    store.close()


@pytest.fixture
def keywords(tmp_path: Path) -> Iterator[KeywordIndex]:
    index = KeywordIndex(tmp_path / "keywords.sqlite3")
    yield index
    index.close()


@pytest.fixture
def llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def services(
    settings: Settings,
    llm: FakeLLM,
    store: ChromaStore,
    embedder: HashEmbedder,
    keywords: KeywordIndex,
    memory_store: MemoryStore,
) -> Services:
    return Services.assemble(
        settings, llm, store, embedder, keywords, memory_store=memory_store, embedding_model="hash-384"
    )


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo") as http:
            yield http


@pytest.fixture
def tenant_parts(
    settings: Settings, llm: FakeLLM, chroma: chromadb.ClientAPI, embedder: HashEmbedder, tmp_path: Path
) -> Iterator[TenantParts]:
    """Every tenant's parts on one Chroma and one set of SQLite files, as the service builds them."""
    parts = TenantParts(
        settings,
        llm,
        embedder,
        chroma,
        KeywordIndex(tmp_path / "tenants" / "keywords.sqlite3", tenant=settings.tenant),
        Catalog(tmp_path / "tenants" / "conversations.sqlite3"),
        MemoryKeywordIndex(tmp_path / "tenants" / "memories-fts.sqlite3"),
        embedding_model="hash-384",
    )
    yield parts
    parts.close()


@pytest.fixture
def tenancy(tenant_parts: TenantParts) -> Tenancy:
    """Each tenant's services, built on first use (the default tenant's at once)."""
    return tenant_parts.tenancy()
