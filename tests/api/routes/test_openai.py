"""POST /v1/chat/completions and GET /v1/models on fakes: storage, layout, pass-through, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from app.turns.openai_sync import derive_conversation_id
from app.wiring import Services
from tests.fakes import FakeLLM

HEADERS = {"X-Conversation-Id": "oa1"}


def data_lines(body: str) -> list[str]:
    return [line[6:] for line in body.replace("\r\n", "\n").split("\n") if line.startswith("data: ")]


async def complete(
    client: httpx.AsyncClient,
    messages: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"model": "gemma", "messages": messages, **extra}
    return await client.post(
        "/v1/chat/completions", json=body, headers=HEADERS if headers is None else headers
    )


async def stored(
    client: httpx.AsyncClient, cid: str = "oa1", abandoned: bool = False
) -> list[tuple[str, str, bool]]:
    params = {"include_abandoned": "true"} if abandoned else {}
    page = (await client.get(f"/conversations/{cid}/messages", params=params)).json()
    return [(m["role"], m["content"], m["abandoned"]) for m in page["messages"]]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


async def test_a_completion_in_openai_shape_stores_the_message_and_the_reply(
    client: httpx.AsyncClient,
) -> None:
    response = await complete(client, [user("hi")])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}
    ]
    assert body["usage"]["prompt_tokens"] > 0
    assert response.headers["x-conversation-id"] == "oa1"
    assert response.headers["x-mnemo-memories"] == "0"
    assert await stored(client) == [("user", "hi", False), ("assistant", "Hello there!", False)]


async def test_the_next_request_stores_only_what_is_new(client: httpx.AsyncClient) -> None:
    await complete(client, [user("hi")])
    await complete(client, [user("hi"), bot("Hello there!"), user("how are you")])
    assert [c for _, c, _ in await stored(client)] == ["hi", "Hello there!", "how are you", "Hello there!"]


async def test_a_resend_or_regenerate_keeps_one_reply(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    history = [user("hi"), bot("Hello there!"), user("tell me a joke")]
    await complete(client, [user("hi")])
    await complete(client, history)
    llm.script.chunks = ["A", " better", " joke"]
    await complete(client, history)
    active = await stored(client)
    assert [c for _, c, _ in active] == ["hi", "Hello there!", "tell me a joke", "A better joke"]
    everything = await stored(client, abandoned=True)
    assert ("assistant", "Hello there!", True) in everything and len(everything) == 5


async def test_an_edit_abandons_the_old_branch_for_window_and_recall(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    start = [user("hello"), bot("Hello there!")]
    await complete(client, [user("hello")])
    await complete(client, [*start, user("my cat is called Tiberius")])
    await complete(client, [*start, user("my cat is called Tiberius"), bot("Hello there!"), user("nice")])
    # The user edits the second message: the old branch leaves the conversation.
    response = await complete(client, [*start, user("my dog is called Rex")])
    assert response.status_code == 200
    assert [c for _, c, _ in await stored(client)] == [
        "hello",
        "Hello there!",
        "my dog is called Rex",
        "Hello there!",
    ]
    abandoned = [c for _, c, gone in await stored(client, abandoned=True) if gone]
    assert abandoned == ["my cat is called Tiberius", "Hello there!", "nice", "Hello there!"]
    history = [*start, user("my dog is called Rex"), bot("Hello there!")]
    response = await complete(client, [*history, user("what is my cat called")])
    assert response.headers["x-mnemo-memories"] == "0"  # Tiberius is abandoned, never recalled
    assert "Tiberius" not in json.dumps(llm.streams[-1].messages)
    preview = await client.post("/conversations/oa1/context", json={"query": "what is my cat called"})
    assert "Tiberius" not in preview.text  # nor through /chat's window


async def test_memories_go_inside_the_newest_user_message_after_the_clients_own_history(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    await complete(client, [user("my sister lives in Reykjavik")])
    sent = [
        {"role": "system", "content": "You are terse."},
        user("where does my sister live"),
    ]
    response = await complete(client, sent)
    count = int(response.headers["x-mnemo-memories"])
    assert count >= 1
    messages = llm.streams[-1].messages
    assert messages[0] == {"role": "system", "content": "You are terse."}
    assert messages[-1]["role"] == "user"
    assert "Memories recalled" in messages[-1]["content"] and "Reykjavik" in messages[-1]["content"]
    assert messages[-1]["content"].endswith("where does my sister live")
    context = (await client.get("/conversations/oa1/context")).json()
    # the fact first; with contextual vectors the reply to it may come along
    assert context["memories"][0]["content"] == "my sister lives in Reykjavik"
    assert len(context["memories"]) == count
    assert context["messages"] == messages


async def test_a_history_larger_than_the_budget_gives_way_to_memories(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    history: list[dict[str, Any]] = [user("the secret code word is pineapple"), bot("Noted.")]
    for n in range(30):
        history += [user(f"filler question number {n} " + "blah " * 10), bot("blah " * 10)]
    await client.post("/conversations/oa1/messages", json={"messages": history})  # Mnemo already has it all
    llm.n_ctx = 400  # 400 - 64 reply tokens for the prompt: far less than the history
    response = await complete(client, [*history, user("what is the secret code word")])
    assert response.status_code == 200, response.text
    sent = llm.streams[-1].messages
    assert await llm.count_prompt(sent) <= 400 - 64
    assert sent[1]["role"] == "user" and len(sent) < len(history)
    assert "pineapple" in sent[-1]["content"]  # the dropped first turn came back as a memory
    assert int(response.headers["x-mnemo-memories"]) >= 1


async def test_every_sampling_field_passes_through_untouched(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    fields = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 33,
        "stop": ["\n\n"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "n_probs": 2,  # a llama.cpp extension
    }
    await complete(client, [user("hi")], **fields)
    params = llm.streams[-1].params
    assert {k: params[k] for k in fields} == fields
    assert params["model"] == "gemma" and "messages" not in params and "id_slot" in params


async def test_tool_calls_are_gathered_into_the_message(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    llm.script.chunks = []
    llm.script.tool_calls = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"tz": "UTC"}'}},
    ]
    body = (await complete(client, [user("what time is it")])).json()
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'}}
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert await stored(client) == [("user", "what time is it", False)]


async def test_streaming_relays_chunks_then_usage_when_asked_then_done(client: httpx.AsyncClient) -> None:
    response = await complete(client, [user("hi")], stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response.headers["x-conversation-id"] == "oa1" and response.headers["x-mnemo-memories"] == "0"
    lines = data_lines(response.text)
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello there!"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0
    assert all("usage" not in c for c in chunks[:-1])
    assert [c for _, c, _ in await stored(client)] == ["hi", "Hello there!"]

    plain = await complete(client, [user("hi")], stream=True)
    assert all("usage" not in json.loads(line) for line in data_lines(plain.text)[:-1])


async def test_the_conversation_comes_from_header_then_metadata_then_user_then_the_start(
    client: httpx.AsyncClient,
) -> None:
    async def used(headers: dict[str, str], **extra: Any) -> str:
        response = await complete(client, [{"role": "system", "content": "s"}, user("hi")], headers, **extra)
        assert response.status_code == 200, response.text
        return response.headers["x-conversation-id"]

    assert await used({"X-Conversation-Id": "h1"}, metadata={"conversation_id": "m1"}, user="u1") == "h1"
    assert await used({}, metadata={"conversation_id": "m1"}, user="u1") == "m1"
    assert await used({}, user="u1") == "u1"
    derived = await used({})
    assert derived == derive_conversation_id([{"role": "system", "content": "s"}, user("hi")])
    assert derived.startswith("oa-")
    assert len(await stored(client, derived)) == 2


@pytest.mark.parametrize(
    ("headers", "extra"),
    [
        ({"X-Conversation-Id": "bad id!"}, {}),
        ({}, {"user": "a/b"}),
        ({}, {"metadata": {"conversation_id": ""}}),
    ],
)
async def test_a_bad_conversation_id_is_a_422_in_openai_shape(
    client: httpx.AsyncClient, headers: dict[str, str], extra: dict[str, Any]
) -> None:
    response = await complete(client, [user("hi")], headers, **extra)
    if extra.get("metadata"):  # an empty id is no id: derived instead
        assert response.status_code == 200
        return
    assert response.status_code == 422
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["type"] == "invalid_request_error"


async def test_errors_take_openai_shape_under_v1_only(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    bad = await client.post("/v1/chat/completions", json={"messages": []})
    assert bad.status_code == 422 and set(bad.json()["error"]) == {"message", "type", "code"}
    wrong_role = await client.post(
        "/v1/chat/completions", json={"messages": [{"role": "robot", "content": "x"}]}
    )
    assert wrong_role.status_code == 422
    assert (await client.get("/v1/nothing")).json()["error"]["type"] == "invalid_request_error"
    llm.script.unavailable = True
    down = await complete(client, [user("hi")])
    assert down.status_code == 503
    assert down.json() == {
        "error": {
            "message": "llama.cpp is not reachable: fake",
            "type": "server_error",
            "code": "llm_unavailable",
        }
    }
    assert await stored(client) == []
    old = await client.post("/chat", json={"conversation_id": "c", "message": "hi"})
    assert set(old.json()["error"]) == {"code", "message"}


async def test_a_failure_mid_stream_ends_with_an_error_chunk_and_keeps_the_turn(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.script.fail_after = 1
    response = await complete(client, [user("hi")], stream=True)
    last = json.loads(data_lines(response.text)[-1])
    assert last["error"]["code"] == "llm_failed" and last["error"]["type"] == "server_error"
    assert await stored(client) == [("user", "hi", False), ("assistant", "Hello", False)]
    page = (await client.get("/conversations/oa1/messages")).json()
    assert page["messages"][1]["incomplete"] is True


async def test_models_proxies_llama_cpp(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["data"][0]["id"] == "fake"


async def test_the_openai_sdk_raises_its_usual_exceptions(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    sdk = openai.AsyncOpenAI(base_url="http://mnemo/v1", api_key="any", http_client=client, max_retries=0)
    reply = await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello there!"
    with pytest.raises(openai.UnprocessableEntityError):
        await sdk.chat.completions.create(model="m", messages=[])
    llm.script.unavailable = True
    with pytest.raises(openai.InternalServerError):
        await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
