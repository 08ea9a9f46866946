"""Long chats through llama.cpp with SmolLM2-135M (the default model would take too long here):
300 turns in a 2,048-token context never overflow, and 50 turns of extraction never cut a reply off."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from bench.harness import MnemoProcess, start_llama
from bench.notes import message

TURNS = 300
REPLY_TOKENS = 24


@pytest.mark.timeout(1800)  # a few minutes on an idle 2-core machine; generous for a busy one
async def test_three_hundred_turns_in_a_small_context(small_model_path: Path, tmp_path: Path) -> None:
    llama = start_llama(small_model_path, tmp_path, ctx=4096, slots=2)  # 2,048 tokens per slot
    mnemo = MnemoProcess(
        tmp_path,
        llama.url,
        MNEMO_REPLY_TOKENS=str(REPLY_TOKENS),
        MNEMO_SUMMARY_EVERY="8",
        MNEMO_WINDOW_MAX_TURNS="20",  # 4 kept + 2 x 8 between folds: the window never slides
        MNEMO_SUMMARY_TOKENS="64",
        MNEMO_EXTRACTION_ENABLED="false",
        # This test is about the window and the summaries. With recall filling its share of the
        # budget (top_k 40), each of the 300 look-alike notes brings ~1,000 tokens of recalled
        # notes that llama.cpp evaluates afresh every turn (~5 s a turn here, past the timeout).
        MNEMO_TOP_K="5",
    )
    mnemo.start()
    rng = random.Random(300)
    cid = "long"
    try:
        async with httpx.AsyncClient(base_url=mnemo.url, timeout=300) as client:
            budgets = set()
            for n in range(TURNS):
                response = await client.post(
                    "/chat",
                    json={
                        "conversation_id": cid,
                        "message": message(rng, n),
                        "stream": False,
                        "temperature": 0,
                    },
                )
                assert response.status_code == 200, (n, response.text)
                body = response.json()
                assert body["turn_index"] == 2 * n
                # llama.cpp's own count of what it evaluated is Mnemo's exact count, within budget
                assert body["usage"]["prompt_tokens"] == body["prompt"]["tokens"], (n, body)
                assert body["prompt"]["tokens"] <= body["prompt"]["budget"]
                budgets.add(body["prompt"]["budget"])
            assert budgets == {2048 - REPLY_TOKENS}

            for _ in range(600):  # let the summaries still queued finish
                if (await client.get("/ready")).json()["summaries_in_progress"] == 0:
                    break
                await asyncio.sleep(0.5)
            summaries = (await client.get(f"/conversations/{cid}/summaries")).json()["summaries"]
            assert {s["level"] for s in summaries} >= {0, 1}, summaries
            for s in summaries:
                assert s["turn_from"] <= s["turn_to"] and s["covers_from"] <= s["covers_to"]

            stored: list[dict[str, object]] = []
            offset: int | None = 0
            while offset is not None:
                page = (
                    await client.get(
                        f"/conversations/{cid}/messages", params={"offset": offset, "limit": 1000}
                    )
                ).json()
                stored += page["messages"]
                offset = page["next_offset"]
            assert len(stored) == 2 * TURNS
            assert [m["turn_index"] for m in stored] == list(range(2 * TURNS))
            rng = random.Random(300)
            assert [m["content"] for m in stored[::2]] == [message(rng, n) for n in range(TURNS)]

            # The whole history is far larger than the context: only the layout made this work.
            total = sum(len(str(m["content"])) for m in stored) // 4
            assert total > 5 * 2048

            # The last prompt holds summaries and only the turns after them.
            context = (
                await client.post(
                    f"/conversations/{cid}/context", json={"query": "What did the teapot cost?"}
                )
            ).json()
            assert context["summaries"]
            assert context["prompt_tokens"] <= context["budget"]
    finally:
        mnemo.stop()
        llama.stop()


FACTS = [
    "I keep {n} beehives on my roof in Lyon and I harvest honey every August.",
    "Please remember that my sister Marie lives in Quebec and visits on day {n}.",
    "My project Atlas {n} uses PostgreSQL 16 and FastAPI, and I deploy it on Fridays.",
    "I prefer dark mode in all my editors and write every note in Markdown ({n}).",
    "Tell me a fun fact about octopuses, number {n}.",
]


@pytest.mark.timeout(1200)
async def test_fifty_turns_of_extraction_never_cut_a_reply_off(
    small_model_path: Path, tmp_path: Path
) -> None:
    llama = start_llama(small_model_path, tmp_path, ctx=4096, slots=2)
    # Every turn's extraction must run here: 50 turns arrive faster than extraction follows, and past
    # MNEMO_EXTRACTION_MAX_QUEUED (32 by default, tested on its own) a turn's job would be dropped.
    mnemo = MnemoProcess(
        tmp_path,
        llama.url,
        MNEMO_REPLY_TOKENS="16",
        MNEMO_EXTRACTION_ENABLED="true",
        MNEMO_EXTRACTION_MAX_QUEUED="64",
    )
    mnemo.start()
    try:
        async with httpx.AsyncClient(base_url=mnemo.url, timeout=300) as client:
            for n in range(50):
                text = FACTS[n % len(FACTS)].format(n=n)
                body = {"conversation_id": "facts", "message": text, "stream": False, "temperature": 0}
                assert (await client.post("/chat", json=body)).status_code == 200
            for _ in range(1200):  # extraction runs after each turn, one job at a time
                stats = (await client.get("/memories/stats")).json()["extraction"]
                if stats["runs"] == 50 and stats["succeeded"] + stats["failed"] == 50:
                    break
                await asyncio.sleep(0.5)
            assert stats["runs"] == 50, stats
            # Held to its grammar, a reply is always whole, valid JSON of valid proposals.
            assert not {"truncated", "invalid_json", "invalid"} & set(stats["failures"]), stats
            assert stats["succeeded"] + stats["failed"] == 50 and stats["proposed"] > 0, stats
            assert len(stats["recent"]) == 20 and all(job["kind"] == "extraction" for job in stats["recent"])
    finally:
        mnemo.stop()
        llama.stop()
