"""Five memory tools (seed 003's names and argument shapes) on the official MCP SDK's MCPServer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from app.api.schemas.memories import PROJECT, MemoryOut, ScoredOut
from app.errors import MnemoError
from app.longterm.book import Memories
from app.longterm.models import LongTermMemory, MemoryQuery, MemoryType, Source

INSTRUCTIONS = (
    "Mnemo's long-term memory. Store facts worth keeping across conversations (memory-store), find them "
    "(memory-search), read one (memory-retrieve), correct one (memory-update) or remove one (memory-delete)."
)
Text = Annotated[str, Field(min_length=1, max_length=100_000)]
TagList = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=50)]


def _blank(name: str, value: str | None) -> None:
    if value is not None and not value.strip():
        raise ToolError(f"{name} must not be blank")


def _project(value: str | None) -> str | None:
    if value is not None and not PROJECT.fullmatch(value):
        raise ToolError("projectId must be 1-128 characters from A-Z a-z 0-9 . _ : -")
    return value


def _tags(values: list[str] | None) -> tuple[str, ...]:
    tags = [" ".join(v.split()) for v in values or []]
    if any(not t or "|" in t for t in tags):
        raise ToolError("a tag must not be blank or contain '|'")
    return tuple(dict.fromkeys(tags))


def _dump(memory: LongTermMemory) -> dict[str, Any]:
    return MemoryOut.of(memory).model_dump(mode="json")


def build_mcp_server(memories: Callable[[], Memories]) -> MCPServer:
    """The tools; `memories` is called per request (the service's parts exist only in its lifespan)."""
    # MCPServer configures the root logger at its log level; at INFO every HTTP request
    # Mnemo makes to llama.cpp would be logged.
    server: MCPServer = MCPServer(
        name="mnemo", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING"
    )

    async def guarded(coro: Any) -> Any:
        try:
            return await coro
        except MnemoError as exc:
            raise ToolError(f"{exc.code}: {exc.message}") from exc

    @server.tool(
        name="memory-store", description="Store a memory; duplicates are merged, replaced facts closed."
    )
    async def memory_store(
        type: MemoryType,
        title: Text,
        content: Text,
        tags: TagList | None = None,
        projectId: str | None = None,
    ) -> dict[str, Any]:
        _blank("title", title)
        _blank("content", content)
        memory = LongTermMemory(
            type=type,
            title=title,
            content=content,
            tags=_tags(tags),
            project=_project(projectId),
            source=Source.EXTRACTED,  # a model called the tool
        )
        stored = await guarded(memories().create(memory))
        result = {"outcome": stored.outcome.value, "memory": _dump(stored.memory)}
        if stored.closed is not None:
            result["closed"] = _dump(stored.closed)
        return result

    @server.tool(name="memory-search", description="Search memories by text, type, tags and project.")
    async def memory_search(
        text: str = "",
        type: MemoryType | None = None,
        tags: TagList | None = None,
        projectId: str | None = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        query = MemoryQuery(
            text=text or None,
            types=(type,) if type else (),
            tags=_tags(tags),
            project=_project(projectId),
            global_too=projectId is not None,
            limit=limit,
        )
        page = await guarded(memories().search(query))
        return {
            "total": page.total,
            "memories": [ScoredOut.scored(s).model_dump(mode="json") for s in page.items],
        }

    @server.tool(name="memory-retrieve", description="Read one memory by id (counts as a use).")
    async def memory_retrieve(id: str) -> dict[str, Any]:
        book = memories()
        await guarded(book.get(id))
        await guarded(book.mark_used([id]))
        return _dump(await guarded(book.get(id)))

    @server.tool(name="memory-update", description="Correct a memory's title, content, tags or type.")
    async def memory_update(
        id: str,
        title: Text | None = None,
        content: Text | None = None,
        tags: TagList | None = None,
        type: MemoryType | None = None,
    ) -> dict[str, Any]:
        _blank("title", title)
        _blank("content", content)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if content is not None:
            changes["content"] = content
        if tags is not None:
            changes["tags"] = _tags(tags)
        if type is not None:
            changes["type"] = type
        if not changes:
            raise ToolError("nothing to change: give title, content, tags or type")
        return _dump(await guarded(memories().update(id, changes)))

    @server.tool(name="memory-delete", description="Delete a memory by id.")
    async def memory_delete(id: str) -> dict[str, Any]:
        await guarded(memories().delete(id))
        return {"id": id, "deleted": True}

    return server


def mount_mcp(app: FastAPI, server: MCPServer, host: str = "127.0.0.1") -> None:
    """Serve the tools over streamable HTTP at /mcp, as a route of the app itself."""
    http_app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    app.router.routes.extend(http_app.routes)


@asynccontextmanager
async def mcp_session(server: MCPServer) -> AsyncIterator[None]:
    """The streamable HTTP session manager; must run inside the app's lifespan."""
    async with server.session_manager.run():
        yield
