"""One mapping from a failure to its status, code and message, in the shapes Mnemo answers with.

The same `Problem` is Mnemo's JSON error body, OpenAI's error body under /v1 (so SDKs raise as
usual) and the data of an SSE `error` event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from app.errors import MnemoError
from app.fields import describe_errors

log = logging.getLogger("mnemo")

UNEXPECTED = "Mnemo failed unexpectedly; see its log."
CHAT_STREAM_FAILED = "Mnemo failed while streaming; see its log."
COMPLETION_FAILED = "Mnemo failed; see its log."
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


@dataclass(frozen=True)
class Problem:
    """What went wrong, as a client reads it."""

    status: int
    code: str
    message: str

    def body(self) -> dict[str, Any]:
        """Mnemo's shape: `{"error": {"code", "message"}}`."""
        return {"error": {"code": self.code, "message": self.message}}

    def openai_body(self) -> dict[str, Any]:
        """OpenAI's shape: `{"error": {"message", "type", "code"}}`."""
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "code": self.code}}


def problem(exc: BaseException, unexpected: str = UNEXPECTED) -> Problem:
    """Mnemo's own errors as they say; anything else an internal error with `unexpected` as message."""
    if isinstance(exc, MnemoError):
        return Problem(exc.status_code, exc.code, exc.message)
    return Problem(500, "internal_error", unexpected)


def invalid_request(errors: Iterable[Mapping[str, Any]]) -> Problem:
    """A body or parameter FastAPI could not validate: bad JSON, else each field's complaint."""
    errors = list(errors)
    for error in errors:
        if error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            return Problem(422, "invalid_json", f"The request body is not valid JSON: {detail}")
    return Problem(422, "invalid_input", describe_errors(errors, skip=("body", "path", "query")))


def http_problem(exc: HTTPException) -> Problem:
    """Starlette's HTTP errors; a 400 means the body could not be read (not UTF-8), so bad JSON."""
    if exc.status_code == 400:
        return Problem(422, "invalid_json", f"The request body is not valid JSON: {exc.detail}")
    return Problem(exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail))


def respond(found: Problem, request: Request | None = None) -> JSONResponse:
    """The JSON error response; OpenAI's shape for requests under /v1."""
    if request is not None and request.url.path.startswith("/v1/"):
        return JSONResponse(found.openai_body(), status_code=found.status)
    return JSONResponse(found.body(), status_code=found.status)


async def send_problem(
    found: Problem, scope: Scope, receive: Receive, send: Send, headers: Mapping[str, str] | None = None
) -> None:
    """The JSON error response sent from an ASGI middleware, before any route runs."""
    response = respond(found, Request(scope))
    response.headers.update(headers or {})
    await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure a route lets through answers in the one error shape."""

    @app.exception_handler(MnemoError)
    async def mnemo_error(request: Request, exc: MnemoError) -> JSONResponse:
        return respond(problem(exc), request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(invalid_request(exc.errors()), request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return respond(http_problem(exc), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return respond(problem(exc), request)
