"""The FastAPI application: parts built once in the lifespan, routers, one error shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import MCPServer
from starlette.exceptions import HTTPException

from app.api.routes import chat, conversations, health, memories, openai
from app.errors import MnemoError
from app.fields import describe_errors
from app.mcp.server import build_mcp_server, mcp_session
from app.settings import Settings
from app.wiring import Services, open_services

log = logging.getLogger("mnemo")


def error_response(status: int, code: str, message: str, request: Request | None = None) -> JSONResponse:
    """Mnemo's error shape; OpenAI's (`message`, `type`, `code`) under /v1, so SDKs raise as usual."""
    if request is not None and request.url.path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "server_error"
        body = {"error": {"message": message, "type": kind, "code": code}}
        return JSONResponse(body, status_code=status)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def describe(errors: Any) -> tuple[str, str]:
    """A readable message (and code) from pydantic's validation errors."""
    for error in errors:
        if error.get("type") == "json_invalid":
            return (
                "invalid_json",
                f"The request body is not valid JSON: {error.get('ctx', {}).get('error', '')}",
            )
    return "invalid_input", describe_errors(errors, skip=("body", "path", "query"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MnemoError)
    async def mnemo_error(request: Request, exc: MnemoError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = describe(exc.errors())
        return error_response(422, code, message, request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8): bad input like bad JSON
            return error_response(
                422, "invalid_json", f"The request body is not valid JSON: {exc.detail}", request
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "Mnemo failed unexpectedly; see its log.", request)


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
