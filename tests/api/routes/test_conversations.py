import httpx
from asgi_lifespan import LifespanManager

from app.conversations.store import ChromaStore
from app.main import create_app
from app.settings import Settings
from app.storage.http_embedder import HttpEmbedder
from app.wiring import Services
from tests.fakes import FakeLLM


def messages(n: int, prefix: str = "m") -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{prefix} {i}"} for i in range(n)]


async def test_import_then_read_back_page_by_page(client: httpx.AsyncClient) -> None:
    response = await client.post("/conversations/c1/messages", json={"messages": messages(250)})
    assert response.status_code == 201
    body = response.json()
    assert body["ids"][:2] == ["c1/t0", "c1/t1"]
    assert body["turn_indices"] == list(range(250))

    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = (
            await client.get("/conversations/c1/messages", params={"offset": offset, "limit": 100})
        ).json()
        assert page["total"] == 250
        seen += [m["content"] for m in page["messages"]]
        offset = page["next_offset"]
    assert seen == [f"m {i}" for i in range(250)]


async def test_import_keeps_names_and_dates(client: httpx.AsyncClient) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "hi", "name": "Caroline", "created_at": "2023-05-08T13:56:00"},
        ]
    }
    await client.post("/conversations/c1/messages", json=body)
    [message] = (await client.get("/conversations/c1/messages")).json()["messages"]
    assert message["name"] == "Caroline"
    assert message["created_at"].startswith("2023-05-08T13:56:00")


async def test_import_appends_after_existing_turns(client: httpx.AsyncClient) -> None:
    await client.post("/chat", json={"conversation_id": "c1", "message": "hi"})
    response = await client.post("/conversations/c1/messages", json={"messages": messages(2)})
    assert response.json()["turn_indices"] == [2, 3]


async def test_import_rejects_bad_batches_whole(client: httpx.AsyncClient) -> None:
    too_many = await client.post("/conversations/c1/messages", json={"messages": messages(1001)})
    assert too_many.status_code == 422
    assert "at most 1000" in too_many.json()["error"]["message"]
    bad_role = await client.post(
        "/conversations/c1/messages", json={"messages": [*messages(3), {"role": "robot", "content": "x"}]}
    )
    assert bad_role.status_code == 422
    assert "messages.3.role" in bad_role.json()["error"]["message"]
    empty = await client.post("/conversations/c1/messages", json={"messages": []})
    assert empty.status_code == 422
    bad_id = await client.post("/conversations/a b/messages", json={"messages": messages(1)})
    assert bad_id.status_code == 422
    assert (await client.get("/conversations/c1/messages")).json()["total"] == 0


async def test_context_preview_shows_what_a_chat_would_send(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    history = [{"role": "user", "content": "my cat is called Miso"}, {"role": "assistant", "content": "cute"}]
    await client.post("/conversations/c1/messages", json={"messages": history + messages(8, "small talk")})
    await services.scheduler.drain()
    response = await client.post("/conversations/c1/context", json={"query": "what is my cat called"})
    assert response.status_code == 200
    body = response.json()
    assert body["memories"][0]["content"] == "my cat is called Miso"
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][-1]["content"].endswith("what is my cat called")
    assert "Miso" in body["messages"][-1]["content"]
    assert body["prompt_tokens"] == await llm.count_prompt(body["messages"])
    assert llm.streams == []  # no model call
    assert (await client.get("/conversations/c1/messages")).json()["total"] == 10  # nothing stored

    full = body["prompt_tokens"]
    capped = (
        await client.post("/conversations/c1/context", json={"query": "cat", "max_tokens": full - 10})
    ).json()
    assert capped["prompt_tokens"] <= full - 10
    assert capped["budget"] == full - 10
    too_small = await client.post("/conversations/c1/context", json={"query": "cat", "max_tokens": 5})
    assert too_small.status_code == 422
    assert too_small.json()["error"]["code"] == "message_too_large"


async def test_delete_forgets_everything(client: httpx.AsyncClient, services: Services) -> None:
    await client.post("/conversations/c1/messages", json={"messages": messages(10)})
    await client.post("/conversations/c2/messages", json={"messages": messages(2)})
    await services.scheduler.drain()
    assert (await client.get("/conversations/c1/summaries")).json()["summaries"]
    response = await client.delete("/conversations/c1")
    assert response.status_code == 200
    assert response.json()["deleted"] >= 10
    assert (await client.get("/conversations/c1/messages")).json()["total"] == 0
    assert (await client.get("/conversations/c1/summaries")).json()["summaries"] == []
    context = (await client.post("/conversations/c1/context", json={"query": "m 1"})).json()
    assert context["memories"] == []
    assert (await client.get("/conversations/c2/messages")).json()["total"] == 2
    again = await client.delete("/conversations/c1")
    assert again.json()["deleted"] == 0
    # a new chat starts at turn 0 again
    await client.post("/chat", json={"conversation_id": "c1", "message": "hi"})
    assert (await client.get("/conversations/c1/messages")).json()["messages"][0]["turn_index"] == 0


async def test_health_and_ready(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["llm"] == "ok" and body["store"] == "ok"
    assert body["context_tokens"] == llm.n_ctx
    assert body["token_counts"] == "exact"
    assert body["summaries_in_progress"] == 0 and body["summary_failures"] == 0
    llm.up = False
    down = await client.get("/ready")
    assert down.status_code == 503
    assert down.json()["llm"] == "unavailable"


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in [
        "/chat",
        "/conversations/{conversation_id}/messages",
        "/conversations/{conversation_id}/context",
        "/conversations/{conversation_id}",
        "/health",
        "/ready",
    ]:
        assert path in paths


async def test_an_import_time_must_be_a_date_time_string(client: httpx.AsyncClient) -> None:
    message = {"role": "user", "content": "hi", "created_at": 1700000000}  # not read as a Unix time
    response = await client.post("/conversations/c1/messages", json={"messages": [message]})
    assert response.status_code == 422
    assert "created_at: must be an ISO 8601 date-time string" in response.json()["error"]["message"]


async def test_an_embedding_server_that_is_down_is_reported_and_nothing_is_stored(
    settings: Settings, llm: FakeLLM, store: ChromaStore
) -> None:
    def refusing(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = httpx.AsyncClient(base_url="http://embedder.test", transport=httpx.MockTransport(refusing))
    app = create_app(
        settings, Services.assemble(settings, llm, store, HttpEmbedder(down, "nomic-embed-text"))
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo") as client:
            response = await client.post("/conversations/c1/messages", json={"messages": messages(2)})
            assert response.status_code == 503
            error = response.json()["error"]
            assert error["code"] == "embedder_unavailable"
            assert error["message"].startswith(
                "the embedding server at http://embedder.test is not reachable"
            )
            assert (await client.get("/conversations/c1/messages")).json()["messages"] == []


async def test_list_conversations_most_recent_first_in_pages(client: httpx.AsyncClient) -> None:
    empty = (await client.get("/conversations")).json()
    assert empty == {"conversations": [], "total": 0, "limit": 50, "offset": 0}
    for day, cid in enumerate(["first", "second", "third"]):
        dated = [{**m, "created_at": f"2024-05-0{day + 1}T10:00:00Z"} for m in messages(2)]
        await client.post(f"/conversations/{cid}/messages", json={"messages": dated})
    body = (await client.get("/conversations", params={"limit": 2})).json()
    assert body["total"] == 3 and body["limit"] == 2 and body["offset"] == 0
    assert [c["conversation_id"] for c in body["conversations"]] == ["third", "second"]
    assert body["conversations"][0] == {
        "conversation_id": "third",
        "turns": 2,
        "summaries": 0,
        "first_activity": "2024-05-03T10:00:00Z",
        "last_activity": "2024-05-03T10:00:00Z",
    }
    rest = (await client.get("/conversations", params={"limit": 2, "offset": 2})).json()
    assert [c["conversation_id"] for c in rest["conversations"]] == ["first"]
    await client.post("/chat", json={"conversation_id": "first", "message": "back again", "stream": False})
    listed = (await client.get("/conversations")).json()["conversations"]
    assert listed[0]["conversation_id"] == "first" and listed[0]["turns"] == 4
    await client.delete("/conversations/second")
    assert [c["conversation_id"] for c in (await client.get("/conversations")).json()["conversations"]] == [
        "first",
        "third",
    ]


async def test_list_conversations_refuses_bad_pages(client: httpx.AsyncClient) -> None:
    for params in [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}]:
        response = await client.get("/conversations", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "invalid_input"
