"""Mnemo against the real llama.cpp server, the real MiniLM embedder and Chroma on disk.

These assert what Mnemo controls: what is stored, what is injected into the prompt, the SSE
framing and the token accounting llama.cpp reports; never the small model's wording.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from bench.harness import MnemoProcess
from tests.sse import parse_sse

FACT = "My sister Zephyrine lives in Reykjavik and keeps three goats named Ash, Birch and Cedar."
FILLER = [
    "Tell me one fun fact about octopuses.",
    "What is a good name for a red bicycle?",
    "Give me a short tip for growing tomatoes.",
    "How many minutes are in a day?",
    "Suggest a title for a jazz playlist.",
    "What colour do you get by mixing blue and yellow?",
    "Name a famous painting.",
    "Write a haiku about rain.",
]
QUESTION = "Where does my sister Zephyrine live, and what are her goats called?"


async def chat(
    client: httpx.AsyncClient, cid: str, message: str, max_tokens: int = 40
) -> list[tuple[str, Any]]:
    response = await client.post(
        "/chat",
        json={"conversation_id": cid, "message": message, "max_tokens": max_tokens, "temperature": 0},
    )
    assert response.status_code == 200, response.text
    return parse_sse(response.text)


async def test_a_fact_from_turn_one_is_recalled_at_turn_ten_and_after_a_restart(mnemo: MnemoProcess) -> None:
    cid = "e2e-recall"
    stats: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=mnemo.url, timeout=120) as client:
        for n, message in enumerate([FACT, *FILLER]):
            events = await chat(client, cid, message)
            names = [name for name, _ in events]
            # SSE framing: memories first, the reply token by token, then done.
            assert names[0] == "memory" and names[-1] == "done", names
            assert set(names[1:-1]) == {"token"} and len(names) > 3
            done = events[-1][1]
            assert done["turn_index"] == 2 * n
            usage, prompt = done["usage"], done["prompt"]
            # Mnemo's exact count is what llama.cpp evaluated, and within budget.
            assert usage["prompt_tokens"] == prompt["tokens"] <= prompt["budget"]
            assert usage["cached_tokens"] + usage["evaluated_tokens"] == usage["prompt_tokens"]
            assert 0 < usage["completion_tokens"] <= 40
            stats.append(usage)

        preview = await client.post(f"/conversations/{cid}/context", json={"query": QUESTION})
        assert preview.status_code == 200
        assert FACT in [m["content"] for m in preview.json()["memories"]]
        assert FACT in preview.json()["messages"][-1]["content"]

        events = await chat(client, cid, QUESTION)
        memories = events[0][1]["memories"]
        assert memories[0]["content"] == FACT
        assert memories[0]["id"] == f"{cid}/t0"
        assert memories[0]["score"] >= 0.3

        page = (await client.get(f"/conversations/{cid}/messages", params={"limit": 100})).json()
        assert page["total"] == 20
        assert [m["role"] for m in page["messages"]] == ["user", "assistant"] * 10
        assert [m["content"] for m in page["messages"][::2]] == [FACT, *FILLER, QUESTION]
        assert not any(m["incomplete"] for m in page["messages"])

    # The stable prefix lets llama.cpp reuse most of each prompt from its cache.
    later = stats[2:]
    cached = sum(u["cached_tokens"] for u in later) / sum(u["prompt_tokens"] for u in later)
    assert cached > 0.5, stats

    mnemo.stop()
    mnemo.start()
    async with httpx.AsyncClient(base_url=mnemo.url, timeout=120) as client:
        preview = (await client.post(f"/conversations/{cid}/context", json={"query": QUESTION})).json()
        assert preview["memories"][0]["content"] == FACT
        assert (await client.get(f"/conversations/{cid}/messages")).json()["total"] == 20


async def test_bad_input_is_refused_and_nothing_is_stored(mnemo: MnemoProcess) -> None:
    cid = "e2e-bad"
    async with httpx.AsyncClient(base_url=mnemo.url, timeout=60) as client:
        assert (await client.post("/chat", json={"conversation_id": cid, "message": " "})).status_code == 422
        assert (
            await client.post("/chat", json={"conversation_id": "a/b", "message": "x"})
        ).status_code == 422
        broken = await client.post("/chat", content=b"{", headers={"content-type": "application/json"})
        assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_json"
        huge = await client.post("/chat", json={"conversation_id": cid, "message": "lorem ipsum " * 5000})
        assert huge.status_code == 422
        assert huge.json()["error"]["code"] == "message_too_large"
        assert (await client.get(f"/conversations/{cid}/messages")).json()["total"] == 0


async def test_non_streaming_chat_answers_json(mnemo: MnemoProcess) -> None:
    async with httpx.AsyncClient(base_url=mnemo.url, timeout=60) as client:
        response = await client.post(
            "/chat",
            json={"conversation_id": "e2e-json", "message": "Say hello.", "stream": False, "max_tokens": 16},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["reply"]
        assert body["usage"]["prompt_tokens"] == body["prompt"]["tokens"]
        stored = (await client.get("/conversations/e2e-json/messages")).json()["messages"]
        assert [m["content"] for m in stored] == ["Say hello.", body["reply"]]


async def test_a_client_that_disconnects_keeps_its_turn(mnemo: MnemoProcess) -> None:
    cid = "e2e-disconnect"
    async with httpx.AsyncClient(base_url=mnemo.url, timeout=60) as client:
        body = {
            "conversation_id": cid,
            "message": "Write a long story about a lighthouse.",
            "max_tokens": 400,
        }
        async with client.stream("POST", "/chat", json=body) as response:
            tokens = 0
            async for line in response.aiter_lines():
                tokens += line.startswith("event: token")
                if tokens == 3:
                    break
        for _ in range(100):
            stored = (await client.get(f"/conversations/{cid}/messages")).json()["messages"]
            if len(stored) == 2:
                break
            await asyncio.sleep(0.1)
        assert [(m["role"], m["incomplete"]) for m in stored] == [("user", False), ("assistant", True)]
        assert stored[0]["content"] == body["message"]
        assert stored[1]["content"]


async def test_import_read_and_forget_a_thousand_messages(mnemo: MnemoProcess) -> None:
    cid = "e2e-import"
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message {i} about topic {i % 37}."}
        for i in range(1000)
    ]
    async with httpx.AsyncClient(base_url=mnemo.url, timeout=300) as client:
        created = await client.post(f"/conversations/{cid}/messages", json={"messages": messages})
        assert created.status_code == 201
        assert len(created.json()["ids"]) == 1000
        page = (
            await client.get(f"/conversations/{cid}/messages", params={"offset": 990, "limit": 50})
        ).json()
        assert [m["content"] for m in page["messages"]] == [m["content"] for m in messages[990:]]
        assert page["next_offset"] is None
        preview = (
            await client.post(f"/conversations/{cid}/context", json={"query": "Message 17 about topic 17"})
        ).json()
        assert "Message 17 about topic 17." in [m["content"] for m in preview["memories"]]
        deleted = await client.delete(f"/conversations/{cid}")
        assert deleted.json()["deleted"] >= 1000
        assert (await client.get(f"/conversations/{cid}/messages")).json()["total"] == 0
        preview = (await client.post(f"/conversations/{cid}/context", json={"query": "Message 17"})).json()
        assert preview["memories"] == []
