"""The FastAPI application: parts built once in the lifespan, routers, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer

from app.api.errors import install_error_handlers
from app.api.routes import chat, conversations, health, memories, openai
from app.mcp.server import build_mcp_server, mcp_session
from app.settings import Settings
from app.wiring import Services, open_services


def mount_mcp(app: FastAPI, server: MCPServer, host: str = "127.0.0.1") -> None:
    """Serve the MCP tools over streamable HTTP at /mcp, as a route of the app itself."""
    http_app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    app.router.routes.extend(http_app.routes)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The service; pass `services` to run it on other parts (tests use fakes)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            async with mcp_session(mcp):
                try:
                    yield
                finally:
                    await services.aclose()
            return
        async with open_services(settings) as built, mcp_session(mcp):
            app.state.services = built
            yield

    mcp = build_mcp_server(lambda: app.state.services.require_memories())

    app = FastAPI(
        title="Mnemo",
        version="0.1.0",
        summary="A local-first memory layer for LLMs served by llama.cpp",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(openai.router)
    app.include_router(health.router)
    app.include_router(memories.router)
    mount_mcp(app, mcp, settings.host)
    app.state.mcp = mcp
    return app
