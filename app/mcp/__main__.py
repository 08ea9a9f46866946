"""`python -m app.mcp`: the memory tools over stdio, for desktop MCP clients.

Opens the same data folder as the service (MNEMO_DATA_DIR, or MNEMO_CHROMA_URL for a shared
Chroma); llama.cpp is not needed. Logs go to stderr: stdout carries the protocol.

When keys are on (MNEMO_ADMIN_KEY is set, or the data folder's registry has tenants), the process
acts for the tenant of MNEMO_API_KEY, checked once at start; else for MNEMO_TENANT.
"""

from __future__ import annotations

import logging
import sys

import anyio

from app.mcp.server import build_mcp_server
from app.settings import Settings
from app.tenants.registry import Registry
from app.wiring import open_tenancy

REFUSED_EXIT = 2
NO_KEY = (
    "keys are on for this data folder: set MNEMO_API_KEY to your tenant's API key in the MCP client's "
    "environment for this server (an admin makes one with POST /admin/tenants; see the README)."
)
BAD_KEY = (
    "MNEMO_API_KEY is unknown or revoked: ask your admin for a new key (POST /admin/tenants/{name}/keys)."
)


class Refused(Exception):
    """The process may not start: the message says why and what to do."""


async def tenant_for(settings: Settings) -> str:
    """The tenant this process acts for; Refused when keys are on and MNEMO_API_KEY does not resolve."""
    registry = Registry(settings.tenants_path)
    try:
        if not (settings.keys_on or registry.has_tenants()):
            return settings.tenant
        if settings.api_key is None:
            raise Refused(NO_KEY)
        tenant = await registry.resolve(settings.api_key.get_secret_value())
        if tenant is None:
            raise Refused(BAD_KEY)
        return tenant
    finally:
        registry.close()


async def serve(settings: Settings) -> None:
    tenant = await tenant_for(settings)
    async with open_tenancy(settings) as tenancy:
        # Every call acts on the key's tenant: the process has no request to take another from.
        await build_mcp_server(lambda _: tenancy.memories_for(tenant), tenant).run_stdio_async()


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        anyio.run(serve, Settings())
    except Refused as exc:
        print(f"mnemo mcp: {exc}", file=sys.stderr, flush=True)
        sys.exit(REFUSED_EXIT)


if __name__ == "__main__":
    main()
