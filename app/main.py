"""The FastAPI application: parts built once in the lifespan, routers, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer

from app.api import metrics as metrics_route
from app.api.auth import TenantAuth
from app.api.errors import install_error_handlers
from app.api.limits import RequestLimits
from app.api.metrics import RequestMetrics, TenantsCollector
from app.api.openapi import declare_guards
from app.api.routes import admin, chat, conversations, health, memories, openai
from app.api.routes.ui import mount_ui
from app.mcp.server import build_mcp_server, mcp_session
from app.metrics import Metrics
from app.settings import Settings
from app.tenancy import Tenancy
from app.tenants.registry import Registry
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

    @asynccontextmanager
    async def lifespan_and_registry(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with lifespan(app):
                yield
        finally:
            if registry is not None:
                registry.close()

    # Keys are on when an admin key is configured; the registry file is opened on first use.
    registry = Registry(settings.tenants_path) if settings.keys_on else None
    # Each tool call acts on its key's tenant (read from app.state at the call, after the lifespan built it).
    mcp = build_mcp_server(lambda tenant: app.state.tenants.memories_for(tenant), settings.tenant)

    app = FastAPI(
        title="Mnemo",
        version="0.1.0",
        summary="A local-first memory layer for LLMs served by llama.cpp",
        lifespan=lifespan_and_registry,
    )
    install_error_handlers(app)
    # The last added runs first: metrics count every answer, the key check comes before the limits
    # (which are per tenant), and both answer before any route reads a body.
    app.add_middleware(RequestLimits, settings=settings)
    app.add_middleware(TenantAuth, settings=settings, registry=registry)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.state.metrics = metrics
    app.state.registry = registry
    metrics.watch(TenantsCollector(lambda: app.state.tenants))
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(openai.router)
    app.include_router(health.router)
    app.include_router(memories.router)
    app.include_router(metrics_route.router)
    if settings.keys_on:  # else the whole /admin tree is a 404
        app.include_router(admin.router)
    declare_guards(app, settings)
    mount_mcp(app, mcp, settings.host)
    app.state.mcp = mcp
    mount_ui(app)
    return app
