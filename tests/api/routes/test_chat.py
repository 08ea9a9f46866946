import httpx

from app.wiring import Services
from tests.fakes import FakeLLM
from tests.sse import parse_sse


async def test_chat_streams_memory_then_tokens_then_done(client: httpx.AsyncClient) -> None:
    response = await client.post("/chat", json={"conversation_id": "c1", "message": "hi"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names == ["memory", "token", "token", "token", "done"]
    assert events[0][1] == {"memories": [], "long_term_memories": []}
    assert "".join(d["delta"] for n, d in events if n == "token") == "Hello there!"
    done = events[-1][1]
    assert done["turn_index"] == 0
    assert set(done["usage"]) == {"prompt_tokens", "completion_tokens", "cached_tokens", "evaluated_tokens"}
    assert done["usage"]["prompt_tokens"] > 0


async def test_memory_event_lists_recalled_turns(client: httpx.AsyncClient, services: Services) -> None:
    turns = [
        {"role": "user", "content": "my favourite colour is teal"},
        {"role": "assistant", "content": "ok"},
    ]
    turns += [{"role": "user" if i % 2 == 0 else "assistant", "content": f"chat {i}"} for i in range(8)]
    assert (await client.post("/conversations/c1/messages", json={"messages": turns})).status_code == 201
    await services.scheduler.drain()
    response = await client.post(
        "/chat", json={"conversation_id": "c1", "message": "what is my favourite colour"}
    )
    memories = parse_sse(response.text)[0][1]["memories"]
    assert memories[0]["content"] == "my favourite colour is teal"
    assert memories[0]["id"] == "c1/t0"
    assert 0 < memories[0]["score"] <= 1
    assert "created_at" in memories[0]
    last = (await client.get("/conversations/c1/context")).json()  # the prompt that was sent
    assert last["memories"][0]["content"] == "my favourite colour is teal"
    assert last["messages"][-1]["content"].endswith("what is my favourite colour")


async def test_chat_without_streaming_answers_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/chat", json={"conversation_id": "c1", "message": "hi", "stream": False})
    assert response.status_code == 200
    body = response.json()
    assert body["reply"] == "Hello there!"
    assert body["turn_index"] == 0
    assert body["memories"] == []
    history = (await client.get("/conversations/c1/messages")).json()["messages"]
    assert [m["content"] for m in history] == ["hi", "Hello there!"]


async def test_sampling_fields_reach_the_model(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    await client.post(
        "/chat", json={"conversation_id": "c1", "message": "hi", "max_tokens": 7, "temperature": 0.1}
    )
    params = llm.streams[0].params
    assert params["max_tokens"] == 7
    assert params["temperature"] == 0.1


async def test_failure_mid_stream_ends_with_an_error_event_and_keeps_the_user_turn(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.script.fail_after = 1
    response = await client.post("/chat", json={"conversation_id": "c1", "message": "go"})
    events = parse_sse(response.text)
    assert [n for n, _ in events] == ["memory", "token", "error"]
    assert events[-1][1]["error"]["code"] == "llm_failed"
    history = (await client.get("/conversations/c1/messages")).json()["messages"]
    assert [(m["role"], m["content"], m["incomplete"]) for m in history] == [
        ("user", "go", False),
        ("assistant", "Hello", True),
    ]


async def test_model_down_is_503_before_streaming_and_nothing_is_stored(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.script.unavailable = True
    response = await client.post("/chat", json={"conversation_id": "c1", "message": "hi"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "llm_unavailable"
    llm.script.unavailable = False
    assert (await client.get("/conversations/c1/messages")).json()["messages"] == []


async def test_model_rejecting_the_request_is_502(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    llm.script.reject = True
    response = await client.post("/chat", json={"conversation_id": "c1", "message": "hi", "stream": False})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "llm_failed"


async def test_bad_input_is_422_with_a_clear_message(client: httpx.AsyncClient) -> None:
    cases = [
        ({"conversation_id": "c1", "message": "   "}, "message: must not be blank"),
        ({"conversation_id": "c1"}, "message: Field required"),
        ({"message": "hi"}, "conversation_id: Field required"),
        ({"conversation_id": "bad id!", "message": "hi"}, "conversation_id must be 1-128 characters"),
        ({"conversation_id": "x" * 129, "message": "hi"}, "conversation_id must be 1-128 characters"),
        ({"conversation_id": "c1", "message": "hi", "max_tokens": 0}, "max_tokens"),
        ({"conversation_id": "c1", "message": "hi", "temperature": 9}, "temperature"),
        ({"conversation_id": "c1", "message": "hi", "mesage": "typo"}, "mesage"),
        ({"conversation_id": 5, "message": "hi"}, "conversation_id"),
    ]
    for body, expected in cases:
        response = await client.post("/chat", json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert expected in error["message"], (body, error)


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/chat",
        content=b'{"conversation_id": "c1", "message": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"


async def test_a_message_too_large_for_the_context_is_422(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    llm.n_ctx = 500
    response = await client.post("/chat", json={"conversation_id": "c1", "message": "word " * 1000})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "message_too_large"
    assert (await client.get("/conversations/c1/messages")).json()["total"] == 0


async def test_unknown_route_has_the_same_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
