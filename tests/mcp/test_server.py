"""The five MCP tools, driven by the SDK's own client against the app's MCP server in-process."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from mcp import Client

from app.main import create_app
from app.settings import Settings
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
    app.state.services = services  # what its lifespan does; the same parts as the HTTP client's app
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
