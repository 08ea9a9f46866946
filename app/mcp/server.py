"""The long-term memory book as five MCP tools: store, search, retrieve, update and delete."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, TypeAdapter

from app.errors import MnemoError
from app.fields import NAME_RULE, check_project, clean_tags, not_blank
from app.longterm.book import Memories
from app.longterm.models import LongTermMemory, MemoryQuery, MemoryType, Scored, Source

INSTRUCTIONS = (
    "Mnemo's long-term memory. Store facts worth keeping across conversations (memory-store), find them "
    "(memory-search), read one (memory-retrieve), correct one (memory-update) or remove one (memory-delete)."
)
Text = Annotated[str, Field(min_length=1, max_length=100_000)]
TagList = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=50)]
MEMORY = TypeAdapter(LongTermMemory)


def _blank(name: str, value: str | None) -> None:
    try:
        if value is not None:
            not_blank(value)
    except ValueError as exc:
        raise ToolError(f"{name} {exc}") from exc


def _project(value: str | None) -> str | None:
    try:
        return check_project(value)
    except ValueError as exc:
        raise ToolError(f"projectId must be {NAME_RULE}") from exc


def _tags(values: list[str] | None) -> tuple[str, ...]:
    try:
        return tuple(clean_tags(values or []))
    except ValueError as exc:
        raise ToolError("a tag must not be blank or contain '|'") from exc


def as_json(memory: LongTermMemory) -> dict[str, Any]:
    """A memory as JSON, with the same fields as the HTTP API's."""
    fields: dict[str, Any] = MEMORY.dump_python(memory, mode="json")
    return {"id": memory.id, **fields, "current": memory.current}


def scored_json(item: Scored) -> dict[str, Any]:
    return {**as_json(item.memory), "score": item.score, "semantic": item.semantic, "keyword": item.keyword}


def tenant_of(ctx: Context[Any, Any], default: str) -> str:
    """The tenant a tool call acts for: over HTTP the one TenantAuth set on the request, else `default`.

    Over stdio (and in-process clients) there is no HTTP request: the process acts for one tenant.
    An HTTP request without a tenant is refused rather than given the default's memories.
    """
    request = ctx.request_context.request
    if request is None:
        return default
    tenant = getattr(getattr(request, "state", None), "tenant", None)
    if not isinstance(tenant, str):
        raise ToolError("unauthorized: this request carries no tenant")
    return tenant


def build_mcp_server(memories_for: Callable[[str], Memories], default_tenant: str = "default") -> MCPServer:
    """The tools; `memories_for(tenant)` is called per tool call (parts exist only in the lifespan)."""
    # MCPServer configures the root logger at its log level; at INFO every HTTP request
    # Mnemo makes to llama.cpp would be logged.
    server: MCPServer = MCPServer(
        name="mnemo", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING"
    )

    def memories(ctx: Context[Any, Any] | None) -> Memories:
        return memories_for(default_tenant if ctx is None else tenant_of(ctx, default_tenant))

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
        ctx: Context[Any, Any] | None = None,
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
        stored = await guarded(memories(ctx).create(memory))
        result = {"outcome": stored.outcome.value, "memory": as_json(stored.memory)}
        if stored.closed is not None:
            result["closed"] = as_json(stored.closed)
        return result

    @server.tool(name="memory-search", description="Search memories by text, type, tags and project.")
    async def memory_search(
        text: str = "",
        type: MemoryType | None = None,
        tags: TagList | None = None,
        projectId: str | None = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        ctx: Context[Any, Any] | None = None,
    ) -> dict[str, Any]:
        query = MemoryQuery(
            text=text or None,
            types=(type,) if type else (),
            tags=_tags(tags),
            project=_project(projectId),
            global_too=projectId is not None,
            limit=limit,
        )
        page = await guarded(memories(ctx).search(query))
        return {
            "total": page.total,
            "memories": [scored_json(s) for s in page.items],
        }

    @server.tool(name="memory-retrieve", description="Read one memory by id (counts as a use).")
    async def memory_retrieve(id: str, ctx: Context[Any, Any] | None = None) -> dict[str, Any]:
        book = memories(ctx)
        await guarded(book.get(id))
        await guarded(book.mark_used([id]))
        return as_json(await guarded(book.get(id)))

    @server.tool(name="memory-update", description="Correct a memory's title, content, tags or type.")
    async def memory_update(
        id: str,
        title: Text | None = None,
        content: Text | None = None,
        tags: TagList | None = None,
        type: MemoryType | None = None,
        ctx: Context[Any, Any] | None = None,
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
        return as_json(await guarded(memories(ctx).update(id, changes)))

    @server.tool(name="memory-delete", description="Delete a memory by id.")
    async def memory_delete(id: str, ctx: Context[Any, Any] | None = None) -> dict[str, Any]:
        await guarded(memories(ctx).delete(id))
        return {"id": id, "deleted": True}

    return server


@asynccontextmanager
async def mcp_session(server: MCPServer) -> AsyncIterator[None]:
    """The streamable HTTP session manager; must run inside the app's lifespan."""
    async with server.session_manager.run():
        yield
