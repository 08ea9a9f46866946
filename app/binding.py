"""Where Mnemo may listen: loopback without keys, any interface only with MNEMO_ADMIN_KEY set."""

from __future__ import annotations

import ipaddress

from app.settings import Settings

UNGUARDED_EXIT = 2
LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def reachable(host: str) -> str:
    """The host to send requests to: loopback for a wildcard binding."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "[::]", "") else host


def unguarded(settings: Settings) -> str | None:
    """Why this binding is refused (another interface than loopback, and no keys), or None."""
    if settings.keys_on or is_loopback(settings.host):
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
