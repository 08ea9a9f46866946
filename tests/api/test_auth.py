"""Keys on every surface: tenant keys for the API and /mcp, the admin key for /admin and /metrics."""

from __future__ import annotations

import string
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import hypothesis
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from hypothesis import strategies as st
from pydantic import SecretStr

from app.api.auth import Access, TenantAuth, access, bearer
from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from app.tenants.registry import Registry
from app.wiring import Services
from tests.mcp_http import INITIALIZE, MCP_HEADERS

ADMIN = "admin-key-for-tests-0123456789"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def with_probe(app: FastAPI) -> FastAPI:
    """The app with /probe, a route that says which tenant it was given."""

    async def probe(request: Request) -> dict[str, Any]:
        return {"tenant": request.state.tenant}

    app.add_api_route("/probe", probe, methods=["GET"])
    return app


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_key": SecretStr(ADMIN)})


async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


@pytest.fixture
async def http(keyed: Settings, tenancy: Tenancy) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serving(with_probe(create_app(keyed, tenants=tenancy))):
        yield client


@pytest.fixture
async def open_http(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async for client in serving(with_probe(create_app(settings, services))):
        yield client


async def new_tenant(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    created = await http.post("/admin/tenants", json={"name": name}, headers=auth(ADMIN))
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_paths_are_open_admin_or_a_tenants() -> None:
    for path in ["/health", "/ready", "/docs", "/openapi.json", "/redoc", "/ui", "/ui/", "/ui/app.js"]:
        assert access(path) is Access.OPEN, path
    for path in ["/metrics", "/admin", "/admin/tenants", "/admin/tenants/ada/keys"]:
        assert access(path) is Access.ADMIN, path
    for path in ["/chat", "/mcp", "/v1/chat/completions", "/memories", "/uix", "/healthz", "/", "/adminx"]:
        assert access(path) is Access.TENANT, path


def test_the_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer({"headers": [(b"authorization", b"Bearer abc")]}) == "abc"
    assert bearer({"headers": [(b"authorization", b"bearer  abc ")]}) == "abc"
    assert bearer({"headers": [(b"authorization", b"Basic abc")]}) is None
    assert bearer({"headers": [(b"authorization", b"Bearer ")]}) is None
    assert bearer({"headers": []}) is None


async def test_without_keys_every_request_acts_as_the_configured_tenant(
    open_http: httpx.AsyncClient,
) -> None:
    assert (await open_http.get("/probe")).json() == {"tenant": "default"}
    assert (await open_http.get("/probe", headers=auth("whatever"))).json() == {"tenant": "default"}
    assert (await open_http.get("/metrics")).status_code == 200
    for method, path in [("GET", "/admin/tenants"), ("POST", "/admin/tenants"), ("GET", "/admin")]:
        missing = await open_http.request(method, path, headers=auth(ADMIN))
        assert missing.status_code == 404, path  # no admin key configured: no /admin at all
        assert missing.json()["error"]["code"] == "not_found"


async def test_a_key_acts_as_its_tenant(http: httpx.AsyncClient) -> None:
    ada = await new_tenant(http, "ada")
    bob = await new_tenant(http, "bob")
    assert (await http.get("/probe", headers=auth(ada["api_key"]))).json() == {"tenant": "ada"}
    assert (await http.get("/probe", headers=auth(bob["api_key"]))).json() == {"tenant": "bob"}


async def test_the_api_serves_a_tenants_key_on_every_surface(http: httpx.AsyncClient) -> None:
    key = auth((await new_tenant(http, "ada"))["api_key"])
    memory = {"type": "general", "title": "Hives", "content": "Ada keeps three beehives"}
    assert (await http.post("/memories", json=memory, headers=key)).status_code == 201
    chat = await http.post(
        "/chat", json={"conversation_id": "c1", "message": "hi", "stream": False}, headers=key
    )
    assert chat.status_code == 200, chat.text
    assert (await http.get("/conversations/c1/messages", headers=key)).status_code == 200
    v1 = await http.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, headers=key
    )
    assert v1.status_code == 200, v1.text


async def test_no_key_or_a_bad_one_is_a_401_saying_how_to_get_one(http: httpx.AsyncClient) -> None:
    ada = await new_tenant(http, "ada")
    for headers in [{}, auth("mnemo_nope"), auth(ADMIN), {"Authorization": ada["api_key"]}]:
        for method, path in [("GET", "/probe"), ("POST", "/chat"), ("GET", "/memories"), ("POST", "/mcp")]:
            refused = await http.request(method, path, headers=headers, json={})
            assert refused.status_code == 401, (path, headers)
            assert refused.headers["www-authenticate"].startswith("Bearer")
            error = refused.json()["error"]
            assert error["code"] == "unauthorized" and "POST /admin/tenants" in error["message"]
    sent_bad = await http.get("/probe", headers=auth("mnemo_nope"))
    assert 'error="invalid_token"' in sent_bad.headers["www-authenticate"]


async def test_v1_refuses_in_openais_error_shape(http: httpx.AsyncClient) -> None:
    refused = await http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "unauthorized" and error["type"] == "invalid_request_error"


async def test_open_paths_need_no_key(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/openapi.json")).status_code == 200
    assert (await http.get("/docs")).status_code == 200
    assert (await http.get("/ready")).status_code in (200, 503)
    assert (await http.get("/ui/nothing.js")).status_code == 404  # no page yet: open, and not found


async def test_a_revoked_key_is_refused_at_the_next_request(http: httpx.AsyncClient) -> None:
    ada = await new_tenant(http, "ada")
    key = auth(ada["api_key"])
    assert (await http.get("/probe", headers=key)).status_code == 200
    revoked = await http.delete(f"/admin/tenants/ada/keys/{ada['key_id']}", headers=auth(ADMIN))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await http.get("/probe", headers=key)).status_code == 401


async def test_rotation_and_tenant_revocation_take_effect_at_once(http: httpx.AsyncClient) -> None:
    ada = await new_tenant(http, "ada")
    rotated = await http.post("/admin/tenants/ada/keys", json={"revoke_others": True}, headers=auth(ADMIN))
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["tenant"] == "ada" and new["api_key"] != ada["api_key"]
    assert (await http.get("/probe", headers=auth(ada["api_key"]))).status_code == 401
    assert (await http.get("/probe", headers=auth(new["api_key"]))).json() == {"tenant": "ada"}
    extra = await http.post("/admin/tenants/ada/keys", headers=auth(ADMIN))  # no body: keep the others
    assert extra.status_code == 201
    assert (await http.get("/probe", headers=auth(new["api_key"]))).status_code == 200
    gone = await http.delete("/admin/tenants/ada", headers=auth(ADMIN))
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    for key in [new["api_key"], extra.json()["api_key"]]:
        assert (await http.get("/probe", headers=auth(key))).status_code == 401
    again = await http.post("/admin/tenants/ada/keys", headers=auth(ADMIN))
    assert again.status_code == 409 and again.json()["error"]["code"] == "tenant_revoked"


async def test_the_admin_api_needs_the_admin_key(http: httpx.AsyncClient) -> None:
    ada = await new_tenant(http, "ada")
    for headers in [{}, auth("not-the-admin-key-at-all"), auth(ada["api_key"])]:
        for method, path in [
            ("GET", "/admin/tenants"),
            ("POST", "/admin/tenants"),
            ("POST", "/admin/tenants/ada/keys"),
            ("DELETE", "/admin/tenants/ada"),
            ("GET", "/admin/nowhere"),
        ]:
            refused = await http.request(method, path, headers=headers, json={"name": "eve"})
            assert refused.status_code == 401, (method, path)
            assert refused.json()["error"]["code"] == "unauthorized"
    assert (await http.get("/probe", headers=auth(ada["api_key"]))).status_code == 200  # nothing changed


async def test_the_admin_api_lists_creates_and_refuses_what_it_must(
    http: httpx.AsyncClient, keyed: Settings
) -> None:
    ada = await new_tenant(http, "ada")
    assert set(ada) == {"tenant", "api_key", "key_id", "created_at"} and ada["tenant"] == "ada"
    taken = await http.post("/admin/tenants", json={"name": "ada"}, headers=auth(ADMIN))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "tenant_exists"
    bad = await http.post("/admin/tenants", json={"name": "a/b"}, headers=auth(ADMIN))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    listed = await http.get("/admin/tenants", headers=auth(ADMIN))
    assert listed.status_code == 200
    assert listed.json()["tenants"] == [
        {
            "name": "ada",
            "created_at": ada["created_at"],
            "revoked_at": None,
            "keys": [{"key_id": ada["key_id"], "created_at": ada["created_at"], "revoked_at": None}],
        }
    ]
    assert ada["api_key"] not in listed.text  # shown once, at creation
    files = list(keyed.data_dir.glob("tenants.sqlite3*"))  # with its write-ahead log
    assert files and not [f for f in files if ada["api_key"].encode() in f.read_bytes()]  # a hash only
    missing = await http.post("/admin/tenants/nobody/keys", headers=auth(ADMIN))
    assert missing.status_code == 404
    assert (await http.delete("/admin/tenants/ada/keys/000000000000", headers=auth(ADMIN))).status_code == 404
    assert (await http.delete("/admin/tenants/nobody", headers=auth(ADMIN))).status_code == 404


async def test_metrics_take_the_admin_key_when_keys_are_on(http: httpx.AsyncClient) -> None:
    ada = await new_tenant(http, "ada")
    assert (await http.get("/metrics")).status_code == 401
    assert (await http.get("/metrics", headers=auth(ada["api_key"]))).status_code == 401
    scraped = await http.get("/metrics", headers=auth(ADMIN))
    assert scraped.status_code == 200 and "mnemo_http_requests_total" in scraped.text
    assert 'status="401"' in scraped.text  # refusals are counted too


async def test_mcp_over_http_takes_the_bearer_key(http: httpx.AsyncClient) -> None:
    refused = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    ada = await new_tenant(http, "ada")
    answered = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **auth(ada["api_key"])})
    assert answered.status_code == 200 and '"serverInfo"' in answered.text


def test_the_schema_declares_the_401_and_the_bearer_scheme_when_keys_are_on(keyed: Settings) -> None:
    schema = create_app(keyed).openapi()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    chat = schema["paths"]["/chat"]["post"]
    assert "401" in chat["responses"] and chat["security"] == [{"bearer": []}]
    assert "401" in schema["paths"]["/admin/tenants"]["post"]["responses"]
    assert "401" in schema["paths"]["/metrics"]["get"]["responses"]
    health = schema["paths"]["/health"]["get"]
    assert "401" not in health["responses"] and "security" not in health
    v1 = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["401"]
    assert v1["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")


def test_without_keys_the_schema_has_no_401_and_no_admin(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    assert not [p for p in schema["paths"] if p.startswith("/admin")]
    assert "401" not in schema["paths"]["/chat"]["post"]["responses"]
    assert "securitySchemes" not in schema.get("components", {})


def key_like(key_id: str) -> st.SearchStrategy[bytes]:
    """Keys shaped as Mnemo's: a live key's id with other secrets, other ids, other prefixes."""
    secret = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=0, max_size=60)
    ids = st.sampled_from([key_id, "0" * 12, key_id.upper(), key_id[:-1]])
    return st.builds(lambda i, s: f"Bearer mnemo_{i}_{s}".encode(), ids, secret)


def test_of_any_authorization_header_only_a_live_key_acts_as_a_tenant(
    tmp_path: Path, keyed: Settings
) -> None:
    registry = Registry(tmp_path / "tenants.sqlite3")
    issued = anyio.run(registry.create, "ada")
    answers: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        answers.append(scope["state"]["tenant"])

    guarded = TenantAuth(app, keyed, registry)

    async def status_of(header: bytes) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        headers = [(b"authorization", header)]
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/memories",
            "headers": headers,
            "query_string": b"",
        }
        answers.clear()
        await guarded(scope, receive, send)
        return int(sent[0]["status"]) if sent else 200

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @hypothesis.given(header=st.one_of(st.binary(max_size=200), key_like(issued.key_id)))
    def refused(header: bytes) -> None:
        assert anyio.run(status_of, header) == 401 and not answers

    try:
        refused()
        assert anyio.run(status_of, f"Bearer {issued.api_key}".encode()) == 200 and answers == ["ada"]
    finally:
        registry.close()
