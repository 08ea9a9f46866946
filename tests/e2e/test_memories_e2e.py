"""Long-term memories against the real llama.cpp server, MiniLM and Chroma on disk.

Asserts what Mnemo controls: that something was extracted (source `extracted`) from an explicit
preference and that it is injected into a new conversation's system message; not the wording.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from app.llm.server import LlamaServer
from bench.harness import MnemoProcess

PREFERENCE = "Please remember this: I prefer dark mode in all my editors."
QUESTION = "Do I prefer dark mode in my editors?"


async def extracted(client: httpx.AsyncClient, wait: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        stats = (await client.get("/memories/stats")).json()["extraction"]
        if stats["runs"] and stats["runs"] == stats["succeeded"] + stats["failed"]:
            break
        await asyncio.sleep(0.5)
    page = (await client.get("/memories", params={"source": "extracted"})).json()
    memories: list[dict[str, Any]] = page["memories"]
    return memories


@pytest.fixture(scope="module")
def memo(llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    process = MnemoProcess(tmp_path_factory.mktemp("mnemo-memories"), llama.url)
    process.start()
    yield process
    process.stop()


async def test_a_stated_preference_is_extracted_and_injected_into_a_new_conversation(
    memo: MnemoProcess,
) -> None:
    async with httpx.AsyncClient(base_url=memo.url, timeout=120) as client:
        body = {"conversation_id": "e2e-pref", "message": PREFERENCE, "temperature": 0, "max_tokens": 24}
        assert (await client.post("/chat", json={**body, "stream": False})).status_code == 200
        found = await extracted(client)
        stats = (await client.get("/memories/stats")).json()["extraction"]
        assert found, stats
        assert all(m["source"] == "extracted" and m["current"] for m in found)

        context = (await client.post("/conversations/e2e-new/context", json={"query": QUESTION})).json()
        injected = {m["id"] for m in context["long_term_memories"]}
        assert injected & {m["id"] for m in found}, (found, context["long_term_memories"])
        system = context["messages"][0]["content"]
        chosen = next(m for m in found if m["id"] in injected)
        assert f"[{chosen['type']}, extracted] {chosen['title']}: {chosen['content']}" in system


async def test_supersession_and_export_import_on_the_real_embedder(memo: MnemoProcess) -> None:
    async with httpx.AsyncClient(base_url=memo.url, timeout=60) as client:
        dark = {
            "type": "user_preference",
            "title": "Theme",
            "content": "User prefers dark theme",
            "project": "e2e",
        }
        old = (await client.post("/memories", json=dark)).json()["memory"]
        stored = (await client.post("/memories", json={**dark, "content": "User prefers light theme"})).json()
        assert stored["outcome"] == "superseded" and stored["closed"]["id"] == old["id"]
        history = (await client.get(f"/memories/{old['id']}/history")).json()["versions"]
        assert [v["content"] for v in history] == ["User prefers dark theme", "User prefers light theme"]

        params = {"project": "e2e", "include_superseded": True}
        before = (await client.get("/memories", params=params)).json()["memories"]
        exported = (await client.get("/memories/export")).text
        for memory in before:
            await client.delete(f"/memories/{memory['id']}")
        assert (await client.get("/memories", params=params)).json()["total"] == 0
        report = (await client.post("/memories/import", params={"mode": "skip"}, content=exported)).json()
        assert report["errors"] == [] and report["reembedded"] == 0 and report["imported"] == 2
        assert (await client.get("/memories", params=params)).json()["memories"] == before


async def test_mcp_over_streamable_http_at_slash_mcp(memo: MnemoProcess) -> None:
    async with Client(f"{memo.url}/mcp") as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        assert names == {"memory-store", "memory-search", "memory-retrieve", "memory-update", "memory-delete"}
        stored = await mcp.call_tool(
            "memory-store", {"type": "solution", "title": "CORS", "content": "Fix CORS with a dev proxy"}
        )
        assert not stored.is_error and stored.structured_content
        memory_id = stored.structured_content["memory"]["id"]
        found = await mcp.call_tool("memory-search", {"text": "CORS proxy", "limit": 5})
        assert found.structured_content and found.structured_content["memories"][0]["id"] == memory_id
        deleted = await mcp.call_tool("memory-delete", {"id": memory_id})
        assert not deleted.is_error


def test_stdio_server_starts(tmp_path: Path) -> None:
    """`python -m app.mcp` speaks MCP over stdio (no llama.cpp needed)."""
    import sys

    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "app.mcp"],
        env={"MNEMO_DATA_DIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        cwd=str(Path(__file__).resolve().parents[2]),
    )

    async def run() -> set[str]:
        async with Client(params) as mcp:
            await mcp.call_tool("memory-store", {"type": "general", "title": "x", "content": "stdio works"})
            found = await mcp.call_tool("memory-search", {"text": "stdio"})
            assert found.structured_content and found.structured_content["total"] == 1
            return {t.name for t in (await mcp.list_tools()).tools}

    assert len(asyncio.run(run())) == 5
