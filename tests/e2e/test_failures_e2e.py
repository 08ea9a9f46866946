"""What happens when llama.cpp is down, or dies in the middle of a reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.llm.server import LlamaServer
from bench.harness import MnemoProcess, free_port, start_llama
from tests.sse import parse_sse


@pytest.fixture
def mnemo_without_llm(tmp_path: Path) -> Iterator[MnemoProcess]:
    process = MnemoProcess(tmp_path, f"http://127.0.0.1:{free_port()}")
    process.start()
    yield process
    process.stop()


async def test_llama_down_is_503_and_stores_nothing(mnemo_without_llm: MnemoProcess) -> None:
    async with httpx.AsyncClient(base_url=mnemo_without_llm.url, timeout=30) as client:
        response = await client.post("/chat", json={"conversation_id": "down", "message": "hello?"})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "llm_unavailable"
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["llm"] == "unavailable"
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/conversations/down/messages")).json()["total"] == 0


async def test_llama_dying_mid_stream_ends_with_an_error_event(model_path: Path, tmp_path: Path) -> None:
    llama: LlamaServer = start_llama(model_path, tmp_path, ctx=4096, slots=1)
    mnemo = MnemoProcess(tmp_path, llama.url, MNEMO_EXTRACTION_ENABLED="false")
    mnemo.start()
    try:
        body = {
            "conversation_id": "dies",
            "message": "Count slowly from one to five hundred.",
            "max_tokens": 1000,
        }
        async with httpx.AsyncClient(base_url=mnemo.url, timeout=60) as client:
            text = ""
            async with client.stream("POST", "/chat", json=body) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    text += line + "\n"
                    if text.count("event: token") == 5 and llama.process and llama.process.poll() is None:
                        llama.kill()
            events = parse_sse(text)
            assert events[0][0] == "memory"
            assert events[-1][0] == "error"
            assert events[-1][1]["error"]["code"] == "llm_failed"
            stored = (await client.get("/conversations/dies/messages")).json()["messages"]
            assert [(m["role"], m["incomplete"]) for m in stored] == [("user", False), ("assistant", True)]
            assert stored[0]["content"] == body["message"]
    finally:
        mnemo.stop()
        llama.stop()
