"""Whether Mnemo may start without keys: only on loopback, and only on a data folder that never had tenants.

A data folder with tenants was served with keys: without MNEMO_ADMIN_KEY every request would act as
MNEMO_TENANT, and the tenants' clients (whose keys would be ignored) would write into one another's
memories.
"""

from __future__ import annotations

import ipaddress

from app.settings import Settings
from app.tenants.registry import Registry

UNGUARDED_EXIT = 2
LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def has_tenants(settings: Settings) -> bool:
    registry = Registry(settings.tenants_path)
    try:
        return registry.has_tenants()
    finally:
        registry.close()


def reachable(host: str) -> str:
    """The host to send requests to: loopback for a wildcard binding."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "[::]", "") else host


def unguarded(settings: Settings) -> str | None:
    """Why starting without keys is refused (another interface than loopback, or tenants), or None."""
    if settings.keys_on:
        return None
    if has_tenants(settings):
        return (
            f"refusing to start without keys: {settings.tenants_path} has tenants, so this data folder is "
            "served with keys; without MNEMO_ADMIN_KEY every request would act as one tenant.\n"
            "  Set MNEMO_ADMIN_KEY again (in .env or the environment), or move that file away to serve "
            "the data folder as a single-user service again."
        )
    if is_loopback(settings.host):
        return None
    return (
        f"refusing to listen on {settings.host}:{settings.port} without keys: anyone who reaches the port "
        "would read and change every memory.\n"
        "  Set an admin key (in .env or the environment), e.g.\n"
        "    echo \"MNEMO_ADMIN_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\" \\\n"
        "      >> .env\n"
        "  then, once Mnemo runs, create a key per person:\n"
        f"    curl -X POST http://{reachable(settings.host)}:{settings.port}/admin/tenants "
        '-H "Authorization: Bearer $MNEMO_ADMIN_KEY" \\\n'
        "         -H 'Content-Type: application/json' -d '{\"name\": \"ada\"}'\n"
        "  Or keep MNEMO_HOST=127.0.0.1 for a single-user service on this machine.\n"
        '  See the README, "Running Mnemo for several people".'
    )
