"""Keys and tenants together: the real key check in front of the real per-tenant stores.

test_auth.py proves a key picks its tenant and test_isolation.py that a tenant sees only its own
data; here the two meet as a deployment has them: tenants made through the admin API, their keys
on the requests, one shared Chroma behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy

ADMIN = "admin-key-for-tests-0123456789"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def http(settings: Settings, tenancy: Tenancy) -> AsyncIterator[httpx.AsyncClient]:
    keyed = settings.model_copy(update={"admin_key": SecretStr(ADMIN)})
    async with LifespanManager(create_app(keyed, tenants=tenancy)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            yield client


async def tenant(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    created = await http.post("/admin/tenants", json={"name": name}, headers=auth(ADMIN))
    assert created.status_code == 201, created.text
    return auth(created.json()["api_key"])


async def messages(http: httpx.AsyncClient, key: dict[str, str], cid: str) -> list[str]:
    response = await http.get(f"/conversations/{cid}/messages", headers=key)
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()["messages"]]


async def test_two_tenants_keys_reach_only_their_own_conversations_and_memories(
    http: httpx.AsyncClient,
) -> None:
    alice, bob = await tenant(http, "alice"), await tenant(http, "bob")
    for key, words in ((alice, "alice keeps bees"), (bob, "bob races pigeons")):
        body = {"messages": [{"role": "user", "content": words}]}
        assert (await http.post("/conversations/home/messages", json=body, headers=key)).status_code == 201
    assert await messages(http, alice, "home") == ["alice keeps bees"]
    assert await messages(http, bob, "home") == ["bob races pigeons"]
    listed = (await http.get("/conversations", headers=bob)).json()
    assert [c["conversation_id"] for c in listed["conversations"]] == ["home"] and listed["total"] == 1

    memory: dict[str, Any] = {"type": "user_preference", "title": "Bees", "content": "Alice keeps bees"}
    created = await http.post("/memories", json=memory, headers=alice)
    assert created.status_code == 201, created.text
    alices = created.json()["memory"]["id"]
    assert (await http.get(f"/memories/{alices}", headers=bob)).status_code == 404
    assert (await http.delete(f"/memories/{alices}", headers=bob)).status_code == 404
    assert "bees" not in (await http.get("/memories/export", headers=bob)).text.lower()
    assert (await http.get(f"/memories/{alices}", headers=alice)).status_code == 200

    assert (await http.delete("/conversations/home", headers=bob)).status_code == 200
    assert await messages(http, alice, "home") == ["alice keeps bees"]


async def test_a_revoked_key_is_refused_at_once_and_its_data_stays(http: httpx.AsyncClient) -> None:
    created = await http.post("/admin/tenants", json={"name": "carol"}, headers=auth(ADMIN))
    carol, key_id = auth(created.json()["api_key"]), created.json()["key_id"]
    body = {"messages": [{"role": "user", "content": "carol's note"}]}
    assert (await http.post("/conversations/c1/messages", json=body, headers=carol)).status_code == 201
    revoked = await http.delete(f"/admin/tenants/carol/keys/{key_id}", headers=auth(ADMIN))
    assert revoked.status_code == 200, revoked.text
    refused = await http.get("/conversations/c1/messages", headers=carol)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    rotated = await http.post("/admin/tenants/carol/keys", json={}, headers=auth(ADMIN))
    assert rotated.status_code == 201, rotated.text
    assert await messages(http, auth(rotated.json()["api_key"]), "c1") == ["carol's note"]
