"""Who is asking: every request's tenant, from its Bearer key when keys are on, set as `request.state.tenant`.

With an admin key configured (MNEMO_ADMIN_KEY), every route needs a tenant's key except the open
ones (liveness, readiness, the API docs, the /ui page's files); /admin and /metrics need the admin
key. Without one, Mnemo is a single-user service: no key is asked for and every request acts as
MNEMO_TENANT. Either way a route finds `request.state.tenant` (MNEMO_TENANT on open and admin routes).
"""

from __future__ import annotations

import hmac
from enum import Enum

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import Problem, send_problem
from app.settings import Settings
from app.tenants.registry import Registry

OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
HOW_TO_GET_A_KEY = (
    "An admin makes one with POST /admin/tenants or POST /admin/tenants/{name}/keys "
    '(see the README, "Running Mnemo for several people").'
)
NO_KEY = f"This route needs an API key: send the header 'Authorization: Bearer <key>'. {HOW_TO_GET_A_KEY}"
BAD_KEY = f"The API key is unknown or revoked. {HOW_TO_GET_A_KEY}"
NO_ADMIN_KEY = "This route needs the admin key (MNEMO_ADMIN_KEY): send 'Authorization: Bearer <admin key>'."
BAD_ADMIN_KEY = "That is not the admin key (MNEMO_ADMIN_KEY)."


class Access(Enum):
    OPEN = "open"  # anyone
    ADMIN = "admin"  # the admin key
    TENANT = "tenant"  # a tenant's key


def access(path: str) -> Access:
    """Which key a path needs when keys are on; anything not named open or admin needs a tenant's."""
    if path in OPEN_PATHS or path == "/ui" or path.startswith("/ui/"):
        return Access.OPEN
    if path in ("/metrics", "/admin") or path.startswith("/admin/"):
        return Access.ADMIN
    return Access.TENANT


def bearer(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the request has one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def challenge(invalid: bool) -> dict[str, str]:
    """RFC 6750's header on a 401: the scheme, and `invalid_token` when a key was sent but refused."""
    return {"WWW-Authenticate": 'Bearer realm="mnemo"' + (', error="invalid_token"' if invalid else "")}


class TenantAuth:
    """ASGI middleware: resolves the request's key to its tenant, or answers 401 in the one error shape."""

    def __init__(self, app: ASGIApp, settings: Settings, registry: Registry | None) -> None:
        self.app = app
        self.settings = settings
        self.registry = registry
        self.admin_key = settings.admin_key.get_secret_value().encode() if settings.admin_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        tenant, refusal = await self.tenant_of(scope)
        if refusal is not None:
            await self.refuse(scope, receive, send, refusal)
            return
        # A dict of this request's own: the server's lifespan state is shared, the tenant is not.
        scope["state"] = {**scope.get("state", {}), "tenant": tenant}
        await self.app(scope, receive, send)

    async def tenant_of(self, scope: Scope) -> tuple[str, tuple[str, bool] | None]:
        """The tenant a request acts as, or (message, a key was sent) to refuse it with."""
        kind = access(scope["path"])
        if self.admin_key is None or kind is Access.OPEN:
            return self.settings.tenant, None
        token = bearer(scope)
        if kind is Access.ADMIN:
            if token is None:
                return "", (NO_ADMIN_KEY, False)
            if not hmac.compare_digest(token.encode("latin-1"), self.admin_key):  # the bytes sent
                return "", (BAD_ADMIN_KEY, True)
            return self.settings.tenant, None
        if token is None:
            return "", (NO_KEY, False)
        tenant = await self.registry.resolve(token) if self.registry is not None else None
        if tenant is None:
            return "", (BAD_KEY, True)
        return tenant, None

    async def refuse(self, scope: Scope, receive: Receive, send: Send, refusal: tuple[str, bool]) -> None:
        message, invalid = refusal
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        await send_problem(Problem(401, "unauthorized", message), scope, receive, send, challenge(invalid))
