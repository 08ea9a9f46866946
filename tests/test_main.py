"""The app: its lifespan owns the parts, every router and /mcp are served, errors answer in one shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app import main
from app.errors import NotFound
from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from app.wiring import Services
from tests.mcp_http import INITIALIZE, MCP_HEADERS


@asynccontextmanager
async def serve(app: FastAPI, raise_errors: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=raise_errors)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


async def test_the_lifespan_serves_the_given_parts_and_closes_them(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []
    original = services.aclose

    async def aclose() -> None:
        closed.append(True)
        await original()

    monkeypatch.setattr(services, "aclose", aclose)
    app = create_app(settings, services)
    async with serve(app) as http:
        assert app.state.services is services
        assert (await http.get("/health")).status_code == 200
        assert not closed
    assert closed == [True]


async def test_without_given_parts_the_lifespan_opens_the_real_ones(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Settings] = []

    @asynccontextmanager
    async def open_tenancy(given: Settings) -> AsyncIterator[Tenancy]:
        opened.append(given)
        yield Tenancy(services)

    monkeypatch.setattr(main, "open_tenancy", open_tenancy)
    app = create_app(settings)
    async with serve(app) as http:
        assert opened == [settings]
        assert app.state.services is services
        assert (await http.get("/health")).json() == {"status": "ok"}


def test_every_router_is_included_and_mcp_is_a_route_of_the_app(
    settings: Settings, services: Services
) -> None:
    app = create_app(settings, services)
    paths = set(app.openapi()["paths"])
    for path in ["/chat", "/conversations/{conversation_id}", "/v1/chat/completions", "/ready", "/memories"]:
        assert path in paths
    assert "/mcp" in {getattr(route, "path", None) for route in app.routes}


async def test_mcp_answers_over_http_inside_the_app(settings: Settings, services: Services) -> None:
    async with serve(create_app(settings, services)) as http:
        response = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        assert response.status_code == 200
        assert '"serverInfo"' in response.text and '"mnemo"' in response.text
        # Bound to settings.host: a request naming another host is refused (DNS rebinding guard).
        foreign = await http.post(
            "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "host": "evil.example:8000"}
        )
        assert foreign.status_code == 421


async def test_mcp_tools_use_the_lifespans_parts(settings: Settings, services: Services) -> None:
    from mcp import Client

    app = create_app(settings, services)
    async with serve(app) as http, Client(app.state.mcp) as mcp:
        body = {"type": "general", "title": "Hives", "content": "Ada keeps three beehives"}
        stored = (await http.post("/memories", json=body)).json()["memory"]
        got = await mcp.call_tool("memory-retrieve", {"id": stored["id"]})
        assert not got.is_error
        assert got.structured_content is not None
        assert got.structured_content["content"] == "Ada keeps three beehives"  # the book HTTP wrote to
        missing = await mcp.call_tool("memory-retrieve", {"id": "mem_missing"})
        assert missing.is_error and "not_found" in str(missing.content)


async def test_errors_answer_in_the_one_shape(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(create_app(settings, services), raise_errors=False) as http:
        unknown = await http.get("/nowhere")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "not_found"

        invalid = await http.post("/chat", json={"conversation_id": "c1"})
        assert invalid.status_code == 422
        assert invalid.json()["error"] == {"code": "invalid_input", "message": "message: Field required"}

        async def missing() -> bool:
            raise NotFound("no such thing")

        monkeypatch.setattr(services.llm, "healthy", missing)
        mnemo = await http.get("/ready")
        assert mnemo.status_code == 404
        assert mnemo.json() == {"error": {"code": "not_found", "message": "no such thing"}}

        async def broken() -> bool:
            raise RuntimeError("secret detail")

        monkeypatch.setattr(services.llm, "healthy", broken)
        unexpected = await http.get("/ready")
        assert unexpected.status_code == 500
        assert unexpected.json()["error"]["code"] == "internal_error"
        assert "secret" not in unexpected.text
