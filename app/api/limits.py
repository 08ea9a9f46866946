"""Limits on requests: body size (413) and requests per minute per tenant (429), before a route runs.

The size is counted as the body streams in, so a client that sends no Content-Length (or a false
one) is stopped at the cap too, before a route has read the rest. The two import routes stream
their body a chunk at a time (they never hold it whole), so they get their own, larger cap.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import Access, access
from app.api.errors import Problem, send_problem
from app.settings import Settings
from app.tenants.rate import RequestRate

IMPORT_PATHS = frozenset({"/conversations/import", "/memories/import"})
TOO_LARGE = "request_too_large"


class BodyTooLarge(HTTPException):
    """Raised to the route reading a body past its cap; answered as a 413 by the error handlers."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


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
        cap = self.max_import_bytes if path in IMPORT_PATHS else self.max_bytes
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
