"""The statuses the middlewares answer with (401, 413, 429), declared on the operations they guard.

Routes declare what they answer themselves; the key check and the limits run before any route,
so their answers are added here, from the settings the app runs with, and the schema stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.api.auth import Access, access
from app.settings import Settings

SCHEME = "bearer"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
STATUSES = {
    "401": "No key, or a key unknown or revoked",
    "413": "The request body is over the size limit",
    "429": "Too many requests this minute; see Retry-After",
}


def error_ref(path: str) -> dict[str, str]:
    model = "OpenAIError" if path.startswith("/v1/") else "ErrorResponse"
    return {"$ref": f"#/components/schemas/{model}"}


def guarded_statuses(settings: Settings, path: str, operation: dict[str, Any]) -> list[str]:
    """The statuses the middlewares may answer this operation with, under these settings."""
    kind = access(path)
    statuses = []
    if settings.keys_on and kind is not Access.OPEN:
        statuses.append("401")
    if "requestBody" in operation:
        statuses.append("413")
    if settings.requests_per_minute and kind is Access.TENANT:
        statuses.append("429")
    return statuses


def declare_guards(app: FastAPI, settings: Settings) -> None:
    """Wrap `app.openapi` so each operation lists the middlewares' statuses and, with keys on, Bearer."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, item in schema.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    guard(settings, path, item[method])
        if settings.keys_on:
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes[SCHEME] = {"type": "http", "scheme": "bearer", "description": "A tenant's API key"}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def guard(settings: Settings, path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status in guarded_statuses(settings, path, operation):
        responses.setdefault(
            status,
            {"description": STATUSES[status], "content": {"application/json": {"schema": error_ref(path)}}},
        )
    if settings.keys_on and access(path) is not Access.OPEN:
        operation["security"] = [{SCHEME: []}]
