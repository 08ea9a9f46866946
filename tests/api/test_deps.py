"""Each route names the parts it uses; the parts come from the service built in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi.routing import APIRoute

from app.api import deps
from app.api.routes import chat, conversations, health, memories, openai
from app.conversations.store import ChromaStore
from app.errors import StoreUnavailable
from app.longterm.cleanup import Cleanup
from app.longterm.transfer import MemoryTransfer
from app.main import create_app
from app.settings import Settings
from app.turns.factory import TurnFactory
from app.wiring import Services
from tests.fakes import FakeLLM, HashEmbedder


def test_each_dependency_is_its_part_of_the_service(services: Services) -> None:
    assert deps.get_settings(services) is services.settings
    assert deps.get_llm(services) is services.llm
    assert deps.get_store(services) is services.store
    assert deps.get_counter(services) is services.counter
    assert deps.get_history(services) is services.history
    assert deps.get_builder(services) is services.builder
    assert deps.get_summaries(services) is services.scheduler
    assert deps.get_sent(services) is services.sent
    assert isinstance(deps.get_turns(services), TurnFactory)
    assert deps.get_book(services) is services.memories
    assert services.long_term is not None
    assert deps.get_extractor(services) is services.long_term.extractor is not None


def test_transfer_and_cleanup_work_on_the_book(services: Services) -> None:
    book = deps.get_book(services)
    assert isinstance(deps.get_transfer(book), MemoryTransfer)
    assert isinstance(deps.get_cleanup(book), Cleanup)


def test_without_long_term_memories_the_book_is_unavailable_and_there_is_no_extractor(
    settings: Settings, llm: FakeLLM, store: ChromaStore, embedder: HashEmbedder
) -> None:
    bare = Services.assemble(settings, llm, store, embedder)
    with pytest.raises(StoreUnavailable):
        deps.get_book(bare)
    assert deps.get_extractor(bare) is None


def test_no_route_takes_the_whole_service() -> None:
    routes = [r for m in (chat, conversations, health, memories, openai) for r in m.router.routes]
    assert len(routes) > 15 and all(isinstance(r, APIRoute) for r in routes)
    for route in routes:
        direct = [d.call for d in route.dependant.dependencies]
        assert deps.get_services not in direct, route.path
        assert len(direct) <= 5, route.path


@pytest.fixture
async def bare_client(
    settings: Settings, llm: FakeLLM, store: ChromaStore, embedder: HashEmbedder
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, Services.assemble(settings, llm, store, embedder))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo") as http:
            yield http


async def test_a_route_on_the_book_answers_503_when_there_is_none(bare_client: httpx.AsyncClient) -> None:
    for response in (await bare_client.get("/memories/stats"), await bare_client.get("/memories/export")):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_unavailable"
    assert (await bare_client.get("/conversations/c1/messages")).status_code == 200
