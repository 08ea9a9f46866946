"""The five MCP tools, driven by the SDK's own client against the app's MCP server in-process."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from mcp import Client

from app.api.schemas.memories import MemoryOut, ScoredOut
from app.longterm.models import LongTermMemory, MemoryType, Scored
from app.main import create_app
from app.mcp import server
from app.mcp.server import as_json, scored_json
from app.settings import Settings
from app.tenancy import Tenancy
from app.wiring import Services

TOOLS = {"memory-store", "memory-search", "memory-retrieve", "memory-update", "memory-delete"}


async def call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def test_the_five_tools_store_search_retrieve_update_and_delete(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    app: FastAPI = create_app(settings, services)
    app.state.tenants = Tenancy(services)  # what its lifespan does; the same parts as the HTTP client's app
    async with Client(app.state.mcp) as mcp:
        tools = (await mcp.list_tools()).tools
        assert {t.name for t in tools} == TOOLS
        store_schema = next(t for t in tools if t.name == "memory-store").input_schema
        assert set(store_schema["required"]) == {"type", "title", "content"}
        assert {"tags", "projectId"} <= set(store_schema["properties"])

        stored = await call(
            mcp,
            "memory-store",
            {
                "type": "user_preference",
                "title": "Preferred AI Model",
                "content": "User prefers Claude 3.5 Sonnet for coding tasks",
                "tags": ["ai", "model", "preference"],
                "projectId": "litellm",
            },
        )
        memory = stored["memory"]
        assert stored["outcome"] == "created" and memory["source"] == "extracted"
        assert memory["project"] == "litellm"

        found = await call(
            mcp,
            "memory-search",
            {
                "text": "coding preferences",
                "type": "user_preference",
                "tags": ["ai", "model"],
                "limit": 10,
                "projectId": "litellm",
            },
        )
        assert [m["id"] for m in found["memories"]] == [memory["id"]]
        assert found["memories"][0]["score"] > 0

        got = await call(mcp, "memory-retrieve", {"id": memory["id"]})
        assert got["content"] == memory["content"] and got["use_count"] == 1

        updated = await call(
            mcp, "memory-update", {"id": memory["id"], "title": "Updated Title", "content": "Updated content"}
        )
        assert updated["title"] == "Updated Title" and updated["content"] == "Updated content"
        # The HTTP API sees what the tools did.
        assert (await client.get(f"/memories/{memory['id']}")).json()["title"] == "Updated Title"

        assert await call(mcp, "memory-delete", {"id": memory["id"]}) == {"id": memory["id"], "deleted": True}
        assert (await client.get(f"/memories/{memory['id']}")).status_code == 404

        missing = await mcp.call_tool("memory-retrieve", {"id": memory["id"]})
        assert missing.is_error and "not_found" in str(missing.content)
        bad_type = await mcp.call_tool("memory-store", {"type": "opinion", "title": "t", "content": "c"})
        assert bad_type.is_error
        blank = await mcp.call_tool("memory-store", {"type": "general", "title": "t", "content": "  "})
        assert blank.is_error and "blank" in str(blank.content)
        nothing = await mcp.call_tool("memory-update", {"id": "x"})
        assert nothing.is_error


async def test_bad_tags_projects_and_blank_text_are_refused_with_their_messages(
    settings: Settings, services: Services
) -> None:
    app: FastAPI = create_app(settings, services)
    app.state.tenants = Tenancy(services)
    args = {"type": "general", "title": "t", "content": "c"}
    async with Client(app.state.mcp) as mcp:
        for extra, message in [
            ({"tags": ["a|b"]}, "a tag must not be blank or contain '|'"),
            ({"tags": [" "]}, "a tag must not be blank or contain '|'"),
            ({"projectId": "a b"}, "projectId must be 1-128 characters from A-Z a-z 0-9 . _ : -"),
            ({"title": " "}, "title must not be blank"),
        ]:
            result = await mcp.call_tool("memory-store", args | extra)
            assert result.is_error and message in str(result.content), (extra, result.content)
        stored = await call(
            mcp, "memory-store", args | {"tags": [" big  data ", "big data"], "projectId": "p.1"}
        )
        assert stored["memory"]["tags"] == ["big data"] and stored["memory"]["project"] == "p.1"


def test_a_memory_reads_as_the_http_api_shows_it() -> None:
    memory = LongTermMemory(
        type=MemoryType.USER_PREFERENCE,
        title="Theme",
        content="dark",
        tags=("ui",),
        project="p",
        last_used_at=datetime(2025, 5, 1, 9, 30, tzinfo=UTC),
    )
    assert as_json(memory) == MemoryOut.of(memory).model_dump(mode="json")
    scored = Scored(memory, score=0.5, semantic=0.7, keyword=None)
    assert scored_json(scored) == ScoredOut.scored(scored).model_dump(mode="json")


def test_the_tools_stand_apart_from_the_http_layer() -> None:
    tree = ast.parse(Path(server.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.startswith(("fastapi", "starlette", "app.api"))}
