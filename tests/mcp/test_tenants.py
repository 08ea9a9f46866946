"""Each MCP tool call acts for a tenant: over HTTP the key's, over stdio MNEMO_API_KEY's, checked at start."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr

from app import main
from app.longterm.book import Memories
from app.mcp import __main__ as stdio
from app.mcp.server import tenant_of
from app.settings import Settings
from app.tenancy import Tenancy
from app.tenants.registry import Registry
from tests.mcp_http import INITIALIZE, MCP_HEADERS

ADMIN = "admin-key-for-tests-0123456789"
SEARCH = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "memory-search", "arguments": {"text": "bees"}},
}


def context(request: Any) -> Any:
    return SimpleNamespace(request_context=SimpleNamespace(request=request))


def test_the_tenant_comes_from_the_http_request_else_the_default() -> None:
    assert tenant_of(context(None), "solo") == "solo"
    assert tenant_of(context(SimpleNamespace(state=SimpleNamespace(tenant="ada"))), "solo") == "ada"
    with pytest.raises(ToolError, match="no tenant"):
        tenant_of(context(SimpleNamespace(state=SimpleNamespace())), "solo")


def result_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer, sent as JSON or as one SSE event."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return dict(json.loads(data[-1]))
    return dict(response.json())


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tenants the app's MCP tools ask memories_for about, in order."""
    found: list[str] = []
    build = main.build_mcp_server

    def recording(memories_for: Callable[[str], Memories], default: str) -> Any:
        return build(lambda tenant: (found.append(tenant), memories_for(tenant))[1], default)

    monkeypatch.setattr(main, "build_mcp_server", recording)
    return found


async def search_over_http(http: httpx.AsyncClient, key: dict[str, str]) -> dict[str, str]:
    """Open an MCP session over HTTP with these headers and call memory-search; the session's header."""
    headers = {**MCP_HEADERS, **key}
    opened = await http.post("/mcp", json=INITIALIZE, headers=headers)
    assert opened.status_code == 200
    session = {"mcp-session-id": opened.headers["mcp-session-id"]}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post("/mcp", json=note, headers={**headers, **session})).status_code == 202
    answered = await http.post("/mcp", json=SEARCH, headers={**headers, **session})
    assert answered.status_code == 200
    assert result_of(answered)["result"]["isError"] is False
    return session


async def test_tool_calls_over_http_ask_for_the_keys_tenant(
    settings: Settings, tenancy: Tenancy, asked: list[str]
) -> None:
    app = main.create_app(settings.model_copy(update={"admin_key": SecretStr(ADMIN)}), tenants=tenancy)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            keys = {}
            for name in ["ada", "bob"]:
                created = await http.post("/admin/tenants", json={"name": name}, headers=admin)
                keys[name] = {"Authorization": f"Bearer {created.json()['api_key']}"}
            session = await search_over_http(http, keys["ada"])
            await search_over_http(http, keys["bob"])
            assert asked == ["ada", "bob"]
            # The session id alone is nothing: without the key the same session is refused.
            stolen = await http.post("/mcp", json=SEARCH, headers={**MCP_HEADERS, **session})
            assert stolen.status_code == 401
            # Another tenant's key on ada's session acts as that tenant, never as ada.
            crossed = await http.post("/mcp", json=SEARCH, headers={**MCP_HEADERS, **session, **keys["bob"]})
            assert crossed.status_code == 200
            assert asked == ["ada", "bob", "bob"]


async def test_tool_calls_over_http_without_keys_ask_for_the_configured_tenant(
    settings: Settings, tenancy: Tenancy, asked: list[str]
) -> None:
    app = main.create_app(settings.model_copy(update={"tenant": "solo"}), tenants=tenancy)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            await search_over_http(http, {})
            assert asked == ["solo"]


async def test_stdio_acts_for_the_default_tenant_while_keys_are_off(settings: Settings) -> None:
    assert await stdio.tenant_for(settings) == "default"
    assert not settings.tenants_path.exists()


async def test_stdio_takes_its_tenant_from_mnemo_api_key_when_keys_are_on(settings: Settings) -> None:
    registry = Registry(settings.tenants_path)
    issued = await registry.create("ada")
    revoked = await registry.issue("ada")
    await registry.revoke_key("ada", revoked.key_id)
    registry.close()
    # The registry has tenants: keys are on even where MNEMO_ADMIN_KEY is not set (a desktop client's env).
    with_key = settings.model_copy(update={"api_key": SecretStr(issued.api_key)})
    assert await stdio.tenant_for(with_key) == "ada"
    with pytest.raises(stdio.Refused, match="set MNEMO_API_KEY"):
        await stdio.tenant_for(settings)
    with pytest.raises(stdio.Refused, match="unknown or revoked"):
        await stdio.tenant_for(settings.model_copy(update={"api_key": SecretStr(revoked.api_key)}))
    keyed = settings.model_copy(update={"admin_key": SecretStr(ADMIN)})
    with pytest.raises(stdio.Refused):
        await stdio.tenant_for(keyed)


def test_stdio_refuses_to_start_with_exit_2_and_says_why(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MNEMO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MNEMO_ADMIN_KEY", ADMIN)
    monkeypatch.delenv("MNEMO_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit:
        stdio.main()
    assert exit.value.code == 2
    assert "set MNEMO_API_KEY" in capsys.readouterr().err
