"""Per-tenant caps on stored turns and memories: a write past one is a 429 (a 413 when one request
holds more than the cap), refused before anything is written or the model is called; nothing
stored is lost, and other tenants are not held back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.conversations.history import NewMessage
from app.errors import StorageFull
from app.main import create_app
from app.settings import Settings
from app.wiring import TenantParts
from tests.api.test_isolation import As, behind_the_keys
from tests.fakes import FakeLLM


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings with caps small enough to reach."""
    return settings.model_copy(
        update={"max_stored_turns": 5, "max_stored_memories": 2, "extraction_enabled": False}
    )


@pytest.fixture
async def http(settings: Settings, tenant_parts: TenantParts) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, tenants=tenant_parts.tenancy())
    behind_the_keys(app)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo") as client:
            yield client


def said(n: int) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": f"message {i}"} for i in range(n)]}


async def total(http: httpx.AsyncClient, cid: str = "c1", tenant: str = "ada") -> int:
    return int((await http.get(f"/conversations/{cid}/messages", headers=As(tenant))).json()["total"])


async def test_turns_past_the_cap_are_refused_and_nothing_stored_is_lost(http: httpx.AsyncClient) -> None:
    assert (await http.post("/conversations/c1/messages", json=said(2), headers=As("ada"))).status_code == 201
    assert (await http.post("/conversations/c2/messages", json=said(2), headers=As("ada"))).status_code == 201
    full = await http.post("/conversations/c3/messages", json=said(2), headers=As("ada"))
    assert full.status_code == 429
    error = full.json()["error"]
    assert error["code"] == "storage_full"
    assert "4 turns are stored of the 5 allowed (MNEMO_MAX_STORED_TURNS)" in error["message"]
    too_big = await http.post("/conversations/c3/messages", json=said(6), headers=As("bob"))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "over_storage_cap"
    assert [await total(http, cid) for cid in ("c1", "c2", "c3")] == [2, 2, 0]
    assert await total(http, "c3", "bob") == 0
    assert (await http.post("/conversations/c1/messages", json=said(1), headers=As("ada"))).status_code == 201
    # Another tenant has its own room.
    assert (await http.post("/conversations/c1/messages", json=said(5), headers=As("bob"))).status_code == 201
    listed = (await http.get("/conversations", headers=As("ada"))).json()
    assert sum(c["turns"] for c in listed["conversations"]) == 5


async def test_a_chat_turn_past_the_cap_is_refused_before_the_model_is_called(
    http: httpx.AsyncClient, llm: FakeLLM
) -> None:
    await http.post("/conversations/c1/messages", json=said(4), headers=As("ada"))
    for stream in (False, True):
        chat = {"conversation_id": "c1", "message": "one more?", "stream": stream}
        refused = await http.post("/chat", json=chat, headers=As("ada"))
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "storage_full"
    completion = {"model": "fake", "messages": [{"role": "user", "content": "one more?"}]}
    refused = await http.post("/v1/chat/completions", json=completion, headers=As("ada"))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "storage_full"
    assert llm.streams == []
    assert await total(http) == 4
    await http.delete("/conversations/c1", headers=As("ada"))  # room again
    answered = await http.post("/chat", json={"conversation_id": "c1", "message": "hi", "stream": False})
    assert answered.status_code == 200 and len(llm.streams) == 1


async def test_memories_past_the_cap_are_refused(http: httpx.AsyncClient) -> None:
    for content in ("Ada keeps bees.", "Ada lives in Lyon."):
        memory = {"type": "general", "title": "fact", "content": content}
        assert (await http.post("/memories", json=memory, headers=As("ada"))).status_code == 201
    third = {"type": "general", "title": "fact", "content": "Ada plays the cello on Sundays."}
    full = await http.post("/memories", json=third, headers=As("ada"))
    assert full.status_code == 429
    assert "MNEMO_MAX_STORED_MEMORIES" in full.json()["error"]["message"]
    export = (await http.get("/memories/export", headers=As("ada"))).text
    # Overwriting what is stored takes no room; the same file for another tenant fits its cap too.
    again = await http.post(
        "/memories/import", params={"mode": "overwrite"}, content=export, headers=As("ada")
    )
    assert again.status_code == 200 and again.json()["overwritten"] == 2
    assert (await http.post("/memories/import", content=export, headers=As("bob"))).json()["imported"] == 2
    header, *records = [json.loads(line) for line in export.splitlines()]
    renamed = [{**r, "id": f"other-{r['id']}"} for r in records]
    bigger = "\n".join(json.dumps(line) for line in [header, *records, *renamed])  # four new for a cap of 2
    too_big = await http.post("/memories/import", content=bigger, headers=As("carol"))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "over_storage_cap"
    assert (await http.get("/memories/stats", headers=As("carol"))).json()["total"] == 0
    assert (await http.get("/memories/stats", headers=As("ada"))).json()["total"] == 2


async def test_a_chat_turn_holds_its_room_until_it_is_stored(tenant_parts: TenantParts) -> None:
    services = tenant_parts.tenancy().services("ada")
    two = [NewMessage("user", "a"), NewMessage("assistant", "b")]
    await services.recorder.append("c1", two)
    turn = services.turns.chat("c2", "hello", None, {})
    async with turn:  # its two turns are held: 2 stored + 2 held leave room for 1 more
        with pytest.raises(StorageFull):
            await services.recorder.append("c3", two)
        async for _ in turn.events():
            pass
        await turn.commit()
    assert await services.catalog.stored_turns() == 4
    await services.recorder.append("c3", two[:1])
    with pytest.raises(StorageFull):
        await services.recorder.append("c3", two[:1])
