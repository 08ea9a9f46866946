"""Two tenants on one Chroma and one set of SQLite files, writing the same conversation and memory ids.

The tenant comes from `request.state.tenant`, as the key middleware sets it; here a test
middleware takes it from a header. No read, search, preview, list, export, stats, cleanup or
delete of one tenant returns or touches the other's data, and another tenant's memory id is a
404 exactly like an id no one stored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from tests.fakes import FakeLLM

TENANT_HEADER = "x-test-tenant"
ADA, BOB = "ada", "bob"


class TenantFromHeader:
    """What the key middleware does, minus the keys: the request acts as the tenant the header names.

    Installed inside the app's own key middleware (`behind_the_keys`), which with keys off names the
    configured tenant; this one then names the header's, as a key would.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            tenant = dict(scope["headers"]).get(TENANT_HEADER.encode())
            if tenant is not None:
                scope["state"] = {**scope.get("state", {}), "tenant": tenant.decode()}
        await self.app(scope, receive, send)


def behind_the_keys(app: FastAPI) -> FastAPI:
    """The app with TenantFromHeader as its innermost middleware, after the key check."""
    app.user_middleware.append(Middleware(TenantFromHeader))
    return app


@pytest.fixture
async def http(settings: Settings, tenancy: Tenancy) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, tenants=tenancy)
    behind_the_keys(app)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo") as client:
            yield client


def As(tenant: str) -> dict[str, str]:
    return {TENANT_HEADER: tenant}


async def write(http: httpx.AsyncClient, tenant: str, word: str) -> dict[str, Any]:
    """The tenant's conversation `c1` and a memory, each holding the tenant's secret `word`."""
    talk = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{word} note {i} about {word}"}
        for i in range(8)
    ]
    imported = await http.post("/conversations/c1/messages", json={"messages": talk}, headers=As(tenant))
    assert imported.status_code == 201
    memory = {"type": "general", "title": f"{word} fact", "content": f"The secret word is {word}."}
    created = await http.post("/memories", json=memory, headers=As(tenant))
    assert created.status_code == 201, created.text
    return dict(created.json()["memory"])


async def both(http: httpx.AsyncClient, tenancy: Tenancy) -> tuple[dict[str, Any], dict[str, Any]]:
    ada, bob = await write(http, ADA, "aubergine"), await write(http, BOB, "bramble")
    for tenant in (ADA, BOB):
        await tenancy.services(tenant).drain()  # their summaries are written
    return ada, bob


QUERY = "the secret word noted about"  # words both tenants' texts share, and neither's secret


def leaks(response: httpx.Response, word: str) -> bool:
    return word in response.text


async def test_reads_searches_and_previews_see_only_the_tenants_own_data(
    http: httpx.AsyncClient, tenancy: Tenancy
) -> None:
    await both(http, tenancy)
    for tenant, mine, theirs in [(ADA, "aubergine", "bramble"), (BOB, "bramble", "aubergine")]:
        me = As(tenant)
        reads = [
            await http.get("/conversations/c1/messages", headers=me),
            await http.get("/conversations/c1/summaries", headers=me),
            await http.get("/conversations", headers=me),
            await http.post("/conversations/c1/context", json={"query": QUERY}, headers=me),
            await http.get("/memories", params={"q": QUERY}, headers=me),
            await http.get("/memories", headers=me),
            await http.get("/memories/export", headers=me),
            await http.get("/memories/stats", headers=me),
        ]
        for response in reads:
            assert response.status_code == 200, response.text
            assert not leaks(response, theirs), response.request.url
        messages = reads[0].json()
        assert messages["total"] == 8 and mine in messages["messages"][0]["content"]
        assert reads[1].json()["summaries"], "each tenant's own summaries were written"
        assert [c["turns"] for c in reads[2].json()["conversations"]] == [8]
        assert mine in reads[3].text  # its window, summaries and memories are its own
        assert [m["title"] for m in reads[4].json()["memories"]] == [f"{mine} fact"]
        assert reads[7].json()["total"] == 1


async def test_a_chat_sends_only_the_tenants_own_memories_and_keeps_its_last_context(
    http: httpx.AsyncClient, tenancy: Tenancy, llm: FakeLLM
) -> None:
    await both(http, tenancy)
    chat = {"conversation_id": "c1", "message": "what was the secret word noted about?", "stream": False}
    answered = await http.post("/chat", json=chat, headers=As(BOB))
    assert answered.status_code == 200, answered.text
    prompt = json.dumps(llm.streams[-1].messages)
    assert (
        "bramble note" in prompt
        and "aubergine note" not in prompt
        and "secret word is aubergine" not in prompt
    )
    assert (await http.get("/conversations/c1/context", headers=As(ADA))).status_code == 404
    last = await http.get("/conversations/c1/context", headers=As(BOB))
    assert last.status_code == 200 and not leaks(last, "aubergine")
    assert (await http.get("/conversations/c1/messages", headers=As(ADA))).json()["total"] == 8


async def test_another_tenants_memory_id_is_a_404_like_a_missing_one(
    http: httpx.AsyncClient, tenancy: Tenancy
) -> None:
    ada, _ = await both(http, tenancy)
    missing = await http.get("/memories/mem_no_one_stored_this", headers=As(BOB))
    for method, path, body in [
        ("GET", f"/memories/{ada['id']}", None),
        ("PATCH", f"/memories/{ada['id']}", {"content": "bob was here"}),
        ("DELETE", f"/memories/{ada['id']}", None),
        ("GET", f"/memories/{ada['id']}/history", None),
    ]:
        response = await http.request(method, path, json=body, headers=As(BOB))
        assert response.status_code == 404 == missing.status_code
        assert response.json()["error"]["code"] == missing.json()["error"]["code"]
        assert response.json()["error"]["message"] == missing.json()["error"]["message"].replace(
            "mem_no_one_stored_this", ada["id"]
        )
    kept = await http.get(f"/memories/{ada['id']}", headers=As(ADA))
    assert kept.status_code == 200 and kept.json()["content"] == "The secret word is aubergine."


async def test_the_same_memory_ids_and_deletes_stay_within_a_tenant(
    http: httpx.AsyncClient, tenancy: Tenancy
) -> None:
    ada, _ = await both(http, tenancy)
    export = (await http.get("/memories/export", headers=As(ADA))).text
    theirs = export.replace("aubergine", "bramble")  # bob's own memory under ada's id
    imported = await http.post(
        "/memories/import", params={"mode": "overwrite"}, content=theirs, headers=As(BOB)
    )
    assert imported.status_code == 200 and imported.json()["errors"] == []
    assert (await http.get(f"/memories/{ada['id']}", headers=As(BOB))).json()["content"] == (
        "The secret word is bramble."
    )
    assert (await http.get(f"/memories/{ada['id']}", headers=As(ADA))).json()["content"] == (
        "The secret word is aubergine."
    )
    assert (await http.delete(f"/memories/{ada['id']}", headers=As(BOB))).status_code == 200
    assert (await http.get(f"/memories/{ada['id']}", headers=As(ADA))).status_code == 200
    cleanup = {"dry_run": False, "action": "delete", "max_memories": 0}
    cleaned = await http.post("/memories/cleanup", json=cleanup, headers=As(BOB))
    assert cleaned.status_code == 200, cleaned.text
    assert (await http.get("/memories/stats", headers=As(ADA))).json()["total"] == 1

    assert (await http.delete("/conversations/c1", headers=As(BOB))).json()["deleted"] >= 8
    assert (await http.get("/conversations/c1/messages", headers=As(BOB))).json()["total"] == 0
    assert (await http.get("/conversations/c1/messages", headers=As(ADA))).json()["total"] == 8
    assert (await http.get("/conversations/c1/summaries", headers=As(ADA))).json()["summaries"]
    assert (await http.get("/conversations", headers=As(BOB))).json()["total"] == 0
    assert (await http.get("/conversations", headers=As(ADA))).json()["total"] == 1
    context = await http.post("/conversations/c1/context", json={"query": QUERY}, headers=As(ADA))
    assert "aubergine" in context.text


async def test_without_a_tenant_on_the_request_it_is_the_configured_ones(
    http: httpx.AsyncClient, tenancy: Tenancy, settings: Settings
) -> None:
    await write(http, settings.tenant, "aubergine")
    plain = await http.get("/conversations/c1/messages")
    assert plain.json()["total"] == 8
    assert tenancy.services() is tenancy.default and tenancy.default.tenant == settings.tenant


IDS = st.one_of(
    st.sampled_from(
        ["c1", "..", "../c1", "..%2Fc1", "%2e%2e%2fc1", "c1%00", "C1", "c1 ", "", "bob/c1", "ada:c1"]
    ),
    st.text(max_size=40),
    st.text(alphabet="abc./:_-%", min_size=120, max_size=300),
)
MEMORY_PATHS = ["/memories/{}", "/memories/{}/history"]
CONVERSATION_PATHS = [
    "/conversations/{}/messages",
    "/conversations/{}/summaries",
    "/conversations/{}/context",
]


async def test_fuzzed_ids_find_no_leak_and_no_server_error(http: httpx.AsyncClient, tenancy: Tenancy) -> None:
    ada, _ = await both(http, tenancy)
    ids = [ada["id"], f"{ada['id']}/..", f"{ADA}/{ada['id']}", f"..%2F{ada['id']}"]

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        raw=st.one_of(IDS, st.sampled_from(ids)),
        which=st.integers(0, 4),
        tenant=st.sampled_from([BOB, "eve"]),
    )
    def probe(raw: str, which: int, tenant: str) -> None:
        calls.append((raw, which, tenant))

    calls: list[tuple[str, int, str]] = []
    probe()
    for raw, which, tenant in calls:
        quoted = quote(raw, safe="%/.:")  # as a client would send it; pre-encoded tricks stay as they are
        if which < 2:
            path = MEMORY_PATHS[which].format(quoted)
            responses = [await http.get(path, headers=As(tenant))]
            if which == 0:
                responses.append(await http.delete(path, headers=As(tenant)))
        else:
            path = CONVERSATION_PATHS[which - 2].format(quoted)
            if path.endswith("/context"):
                responses = [
                    await http.get(path, headers=As(tenant)),
                    await http.post(path, json={"query": QUERY}, headers=As(tenant)),
                ]
            else:
                responses = [await http.get(path, headers=As(tenant))]
            responses.append(await http.delete(f"/conversations/{quoted}", headers=As(tenant)))
        for response in responses:
            assert response.status_code < 500, (raw, response.status_code, response.text)
            assert "aubergine" not in response.text, (raw, response.request.url)
    assert (await http.get(f"/memories/{ada['id']}", headers=As(ADA))).status_code == 200
    assert (await http.get("/conversations/c1/messages", headers=As(ADA))).json()["total"] == 8
