"""Limits on requests: body size (413) and requests per minute per tenant (429), before a route runs.

The size is counted as the body streams in, so a client that sends no Content-Length (or a false
one) is stopped at the cap too, before a route has read the rest. The imports take whole histories
and exports, so they get their own cap (MNEMO_MAX_IMPORT_BYTES): the conversation import streams
its body a chunk at a time and never holds it whole; the memory import reads its body whole, so its
cap is also never above the 50 MB its route allows.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import Access, access
from app.api.errors import Problem, send_problem
from app.api.routes.memories import MAX_IMPORT_BYTES as MEMORY_IMPORT_BYTES
from app.errors import MnemoError
from app.settings import Settings
from app.tenants.rate import RequestRate

CONVERSATION_IMPORT = "/conversations/import"
MEMORY_IMPORT = "/memories/import"
IMPORT_PATHS = frozenset({CONVERSATION_IMPORT, MEMORY_IMPORT})
TOO_LARGE = "request_too_large"


class BodyTooLarge(HTTPException, MnemoError):
    """Raised to the route reading a body past its cap; answered as a 413 by the error handlers.

    A MnemoError too, so the streamed conversation import stops at it as at any failure: what it
    stored is kept, and its last progress line (or its status, in the first chunk) says why.
    """

    status_code = 413
    code = TOO_LARGE

    def __init__(self, message: str) -> None:
        HTTPException.__init__(self, 413, message)
        self.message = message


def too_large(cap: int, path: str) -> str:
    if path in IMPORT_PATHS:
        return f"The request body is over {cap:,} bytes (MNEMO_MAX_IMPORT_BYTES); import it in parts."
    return (
        f"The request body is over {cap:,} bytes (MNEMO_MAX_REQUEST_BYTES); send less, or import long "
        "histories with POST /conversations/import."
    )


def content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestLimits:
    """ASGI middleware, inside TenantAuth (it reads `scope["state"]["tenant"]`)."""

    def __init__(self, app: ASGIApp, settings: Settings, rate: RequestRate | None = None) -> None:
        self.app = app
        self.max_bytes = settings.max_request_bytes
        self.max_import_bytes = settings.max_import_bytes
        self.rate = rate or RequestRate(settings.requests_per_minute)

    def cap(self, path: str) -> int:
        """The most bytes a body to this path may have."""
        if path == MEMORY_IMPORT:
            return min(self.max_import_bytes, MEMORY_IMPORT_BYTES)
        return self.max_import_bytes if path == CONVERSATION_IMPORT else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if access(path) is Access.TENANT:  # open and admin routes are no tenant's traffic
            tenant = scope.get("state", {}).get("tenant", "")
            wait = self.rate.take(tenant)
            if wait:
                message = (
                    f"Too many requests: at most {self.rate.per_minute} a minute "
                    f"(MNEMO_REQUESTS_PER_MINUTE); retry in {wait} s."
                )
                await send_problem(
                    Problem(429, "rate_limited", message), scope, receive, send, {"Retry-After": str(wait)}
                )
                return
        cap = self.cap(path)
        length = content_length(scope)
        if length is not None and length > cap:
            await send_problem(Problem(413, TOO_LARGE, too_large(cap, path)), scope, receive, send)
            return
        await self.app(scope, counted(receive, cap, too_large(cap, path)), send)


def counted(receive: Receive, cap: int, message: str) -> Receive:
    """`receive`, raising BodyTooLarge once the body's bytes pass `cap`."""
    seen = 0

    async def receive_counted() -> Message:
        nonlocal seen
        received = await receive()
        if received["type"] == "http.request":
            seen += len(received.get("body", b""))
            if seen > cap:
                raise BodyTooLarge(message)
        return received

    return receive_counted
