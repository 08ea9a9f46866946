"""The FastAPI application: parts built once in the lifespan, routers, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer

from app.api import metrics as metrics_route
from app.api.errors import install_error_handlers
from app.api.metrics import RequestMetrics, TenantsCollector
from app.api.routes import chat, conversations, health, memories, openai
from app.mcp.server import build_mcp_server, mcp_session
from app.metrics import Metrics
from app.settings import Settings
from app.tenancy import Tenancy
from app.wiring import Services, open_tenancy


def mount_mcp(app: FastAPI, server: MCPServer, host: str = "127.0.0.1") -> None:
    """Serve the MCP tools over streamable HTTP at /mcp, as a route of the app itself."""
    http_app = server.streamable_http_app(streamable_http_path="/mcp", host=host)
    app.router.routes.extend(http_app.routes)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    metrics: Metrics | None = None,
    tenants: Tenancy | None = None,
) -> FastAPI:
    """The service; pass `tenants` (or one tenant's `services`) to run it on other parts (tests use
    fakes), `metrics` to count apart."""
    settings = settings or Settings()
    metrics = metrics or Metrics()  # a registry per app: apps in one process never count each other's traffic
    given = tenants or (Tenancy(services) if services is not None else None)

    def serve(parts: Tenancy) -> None:
        """The parts this app serves, whose turns and jobs its metrics count."""
        parts.count(metrics)
        app.state.tenants = parts
        app.state.services = parts.default  # the default tenant's, as before tenants

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if given is not None:
            serve(given)
            async with mcp_session(mcp):
                try:
                    yield
                finally:
                    await given.aclose()
            return
        async with open_tenancy(settings) as built, mcp_session(mcp):
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
    metrics.watch(TenantsCollector(lambda: app.state.tenants))
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(openai.router)
    app.include_router(health.router)
    app.include_router(memories.router)
    app.include_router(metrics_route.router)
    mount_mcp(app, mcp, settings.host)
    app.state.mcp = mcp
    return app
