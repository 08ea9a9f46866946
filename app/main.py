"""The FastAPI application: parts built once in the lifespan, routers, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer

from app.api import metrics as metrics_route
from app.api.errors import install_error_handlers
from app.api.metrics import RequestMetrics, ServicesCollector
from app.api.routes import chat, conversations, health, memories, openai
from app.api.routes.ui import mount_ui
from app.mcp.server import build_mcp_server, mcp_session
from app.metrics import Metrics
from app.settings import Settings
from app.wiring import Services, open_services


def mount_mcp(app: FastAPI, server: MCPServer, host: str = "127.0.0.1") -> None:
    """Serve the MCP tools over streamable HTTP at /mcp, as a route of the app itself."""
    http_app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    app.router.routes.extend(http_app.routes)


def create_app(
    settings: Settings | None = None, services: Services | None = None, metrics: Metrics | None = None
) -> FastAPI:
    """The service; pass `services` to run it on other parts (tests use fakes), `metrics` to count apart."""
    settings = settings or Settings()
    metrics = metrics or Metrics()  # a registry per app: apps in one process never count each other's traffic

    def serve(parts: Services) -> None:
        """The parts this app serves, whose turns and jobs its metrics count."""
        parts.metrics = metrics
        app.state.services = parts

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            serve(services)
            async with mcp_session(mcp):
                try:
                    yield
                finally:
                    await services.aclose()
            return
        async with open_services(settings) as built, mcp_session(mcp):
            serve(built)
            yield

    mcp = build_mcp_server(lambda: app.state.services.require_memories())

    app = FastAPI(
        title="Mnemo",
        version="0.1.0",
        summary="A local-first memory layer for LLMs served by llama.cpp",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.metrics = metrics
    metrics.watch(ServicesCollector(lambda: app.state.services))
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(openai.router)
    app.include_router(health.router)
    app.include_router(memories.router)
    app.include_router(metrics_route.router)
    mount_mcp(app, mcp, settings.host)
    app.state.mcp = mcp
    mount_ui(app)
    return app
