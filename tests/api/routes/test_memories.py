"""/memories through the app, on Chroma on disk, the FTS5 index and the hashing embedder."""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.wiring import Services
from tests.fakes import FakeLLM

DARK = {
    "type": "user_preference",
    "title": "Editor theme",
    "content": "The user prefers a dark theme in the editor",
    "tags": ["ui", "editor"],
}
# Hash embedder: cosine 0.84 with DARK (same subject, new value: supersedes, < 0.9 duplicate).
LIGHT = {**DARK, "content": "The user prefers light mode in the editor"}
EVERYTHING = {"include_superseded": True, "include_global": True}
RUST = {
    "type": "project_knowledge",
    "title": "Atlas language",
    "content": "Atlas is written in Rust with tokio",
    "tags": ["atlas"],
    "project": "atlas",
}


async def create(client: httpx.AsyncClient, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await client.post("/memories", json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_create_get_update_delete(client: httpx.AsyncClient) -> None:
    stored = await create(client, DARK)
    assert stored["outcome"] == "created"
    memory = stored["memory"]
    assert memory["id"].startswith("mem_")
    assert memory["source"] == "user" and memory["current"] and memory["use_count"] == 0
    assert memory["tags"] == ["ui", "editor"] and memory["project"] is None

    got = (await client.get(f"/memories/{memory['id']}")).json()
    assert got == memory

    patched = await client.patch(f"/memories/{memory['id']}", json={"title": "Theme", "pinned": True})
    assert patched.status_code == 200
    assert patched.json()["title"] == "Theme" and patched.json()["pinned"] is True
    assert patched.json()["updated_at"] > memory["updated_at"]

    assert (await client.delete(f"/memories/{memory['id']}")).json() == {"id": memory["id"], "deleted": True}
    assert (await client.get(f"/memories/{memory['id']}")).status_code == 404
    assert (await client.delete(f"/memories/{memory['id']}")).status_code == 404


async def test_bad_input_is_422_and_unknown_ids_404(client: httpx.AsyncClient) -> None:
    bad = [
        ({**DARK, "type": "opinion"}, "type"),
        ({**DARK, "content": ""}, "content"),
        ({**DARK, "content": "   "}, "content: must not be blank"),
        ({**DARK, "title": ""}, "title"),
        ({**DARK, "tags": ["a|b"]}, "tags"),
        ({**DARK, "project": "no spaces"}, "project"),
        ({**DARK, "colour": "red"}, "colour"),
        ({"title": "x", "content": "y"}, "type: Field required"),
    ]
    for body, expected in bad:
        response = await client.post("/memories", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_input"
        assert expected in response.json()["error"]["message"], (body, response.json())
    for method, path in [
        ("GET", "/memories/nope"),
        ("DELETE", "/memories/nope"),
        ("GET", "/memories/nope/history"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert (await client.patch("/memories/nope", json={"title": "x"})).status_code == 404
    stored = (await create(client, DARK))["memory"]
    assert (await client.patch(f"/memories/{stored['id']}", json={})).status_code == 422
    assert (await client.patch(f"/memories/{stored['id']}", json={"type": "bogus"})).status_code == 422
    assert (await client.patch(f"/memories/{stored['id']}", json={"content": ""})).status_code == 422
    assert (await client.get("/memories", params={"type": "bogus"})).status_code == 422
    assert (await client.get("/memories", params={"limit": 0})).status_code == 422
    assert (await client.get("/memories", params={"project": "a b"})).status_code == 422
    assert (await client.post("/memories", json={**DARK, "supersedes": "nope"})).status_code == 404


async def test_a_near_fact_supersedes_and_history_keeps_both(client: httpx.AsyncClient) -> None:
    old = (await create(client, DARK))["memory"]
    stored = await create(client, LIGHT)
    assert stored["outcome"] == "superseded"
    new = stored["memory"]
    assert new["supersedes"] == old["id"]
    assert stored["closed"]["id"] == old["id"] and stored["closed"]["superseded_by"] == new["id"]
    assert stored["closed"]["valid_to"] is not None

    closed = (await client.get(f"/memories/{old['id']}")).json()
    assert closed["current"] is False and closed["superseded_by"] == new["id"]
    for memory_id in (old["id"], new["id"]):
        history = (await client.get(f"/memories/{memory_id}/history")).json()
        assert [v["id"] for v in history["versions"]] == [old["id"], new["id"]]
    listed = (await client.get("/memories")).json()
    assert [m["id"] for m in listed["memories"]] == [new["id"]]
    everything = (await client.get("/memories", params={"include_superseded": True})).json()
    assert {m["id"] for m in everything["memories"]} == {old["id"], new["id"]}


async def test_an_explicit_supersedes_closes_an_unrelated_memory(client: httpx.AsyncClient) -> None:
    old = (await create(client, RUST))["memory"]
    body = {**RUST, "content": "Atlas moved to Go in 2025", "supersedes": old["id"]}
    stored = await create(client, body)
    assert stored["outcome"] == "superseded" and stored["closed"]["id"] == old["id"]
    again = await client.post("/memories", json={**body, "content": "Atlas is in Zig now"})
    assert again.status_code == 422  # only the current version can be superseded


async def test_a_duplicate_is_merged_not_added(client: httpx.AsyncClient) -> None:
    first = (await create(client, DARK))["memory"]
    same = await create(client, {**DARK, "content": "the user prefers a DARK theme  in the editor"}, 200)
    assert same["outcome"] == "merged" and same["memory"]["id"] == first["id"]
    assert same["memory"]["use_count"] == 1
    assert (await client.get("/memories")).json()["total"] == 1
    # Another type or scope is another fact.
    await create(client, {**DARK, "type": "general"})
    await create(client, {**DARK, "project": "atlas"})
    assert (await client.get("/memories")).json()["total"] == 3
    assert (await client.get("/memories", params={"project": "atlas"})).json()["total"] == 1


async def test_search_filters_scores_and_pages(client: httpx.AsyncClient) -> None:
    await create(client, DARK)
    await create(client, RUST)
    await create(client, {"type": "solution", "title": "CORS", "content": "Fix CORS errors with a proxy"})
    await create(client, {"type": "general", "title": "Lunch", "content": "Team lunch is on Fridays"})

    ranked = (await client.get("/memories", params={"q": "dark theme editor", "include_global": True})).json()
    assert ranked["memories"][0]["title"] == "Editor theme"
    scores = [m["score"] for m in ranked["memories"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1

    keyword = (await client.get("/memories", params={"q": "CORS", "mode": "keyword"})).json()
    assert [m["title"] for m in keyword["memories"]] == ["CORS"]
    assert keyword["memories"][0]["keyword"] == 1.0

    semantic = (await client.get("/memories", params={"q": "team lunch fridays", "mode": "semantic"})).json()
    assert semantic["memories"][0]["title"] == "Lunch"

    by_type = (await client.get("/memories", params=[("type", "solution"), ("type", "general")])).json()
    assert {m["title"] for m in by_type["memories"]} == {"CORS", "Lunch"}
    by_tag = (await client.get("/memories", params={"tag": "ui"})).json()
    assert [m["title"] for m in by_tag["memories"]] == ["Editor theme"]
    project = (await client.get("/memories", params={"project": "atlas", "include_global": True})).json()
    assert project["total"] == 4
    only = (await client.get("/memories", params={"project": "atlas"})).json()
    assert [m["title"] for m in only["memories"]] == ["Atlas language"]

    future = (await client.get("/memories", params={"created_after": "2999-01-01T00:00:00Z"})).json()
    assert future["total"] == 0
    past = (await client.get("/memories", params={"created_before": "2999-01-01T00:00:00"})).json()
    assert past["total"] == 4

    page1 = (await client.get("/memories", params={"limit": 3})).json()
    page2 = (await client.get("/memories", params={"limit": 3, "offset": page1["next_offset"]})).json()
    assert page1["total"] == 4 and page1["next_offset"] == 3 and page2["next_offset"] is None
    assert len({m["id"] for m in page1["memories"] + page2["memories"]}) == 4


async def test_stats_count_types_tags_and_storage(client: httpx.AsyncClient) -> None:
    await create(client, DARK)
    await create(client, LIGHT)
    await create(client, RUST)
    stats = (await client.get("/memories/stats")).json()
    assert stats["total"] == 3 and stats["current"] == 2 and stats["superseded"] == 1
    assert stats["by_type"]["user_preference"] == 1 and stats["by_type"]["project_knowledge"] == 1
    assert stats["by_type"]["solution"] == 0
    assert stats["tags"] == {"ui": 1, "editor": 1, "atlas": 1}
    assert stats["by_project"] == {"": 1, "atlas": 1}
    assert stats["storage"]["vector_bytes"] == 3 * 384 * 4
    assert stats["storage"]["text_bytes"] > 0 and stats["storage"]["keyword_index_bytes"] > 0
    assert stats["extraction"]["enabled"] is True and stats["extraction"]["runs"] == 0


async def test_export_delete_all_import_restores_the_same_memories(client: httpx.AsyncClient) -> None:
    await create(client, DARK)
    await create(client, LIGHT)
    await create(client, RUST)
    before = (
        await client.get("/memories", params={"include_superseded": True, "include_global": True})
    ).json()
    exported = await client.get("/memories/export")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = exported.text.splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "mnemo-memories" and header["embedding_model"] == "hash-384"
    assert header["count"] == 3 and len(lines) == 4
    assert all(len(json.loads(line)["embedding"]) == 384 for line in lines[1:])

    for memory in before["memories"]:
        assert (await client.delete(f"/memories/{memory['id']}")).status_code == 200
    assert (await client.get("/memories", params={"include_superseded": True})).json()["total"] == 0

    imported = (await client.post("/memories/import", content=exported.text)).json()
    assert imported == {"imported": 3, "overwritten": 0, "skipped": 0, "reembedded": 0, "errors": []}
    after = (
        await client.get("/memories", params={"include_superseded": True, "include_global": True})
    ).json()
    assert after["memories"] == before["memories"]
    keyword = (await client.get("/memories", params={"q": "tokio", "mode": "keyword"})).json()
    assert keyword["total"] == 1  # the keyword index came back too

    again = (await client.post("/memories/import", content=exported.text)).json()
    assert again["skipped"] == 3 and again["imported"] == 0
    over = (await client.post("/memories/import", params={"mode": "overwrite"}, content=exported.text)).json()
    assert over["overwritten"] == 3


async def test_import_reports_bad_lines_by_number_and_imports_the_rest(client: httpx.AsyncClient) -> None:
    await create(client, DARK)
    lines = (await client.get("/memories/export")).text.splitlines()
    good = json.loads(lines[1])
    other = {**good, "id": "mem_other", "content": "The user reads sci-fi", "embedding": None}
    foreign = json.dumps({**json.loads(lines[0]), "embedding_model": "some-other-model"})
    body = "\n".join(
        [
            foreign,
            json.dumps({**good, "id": "mem_fresh"}),
            "{not json",
            json.dumps({**good, "id": "mem_bad", "type": "opinion"}),
            json.dumps({**good, "id": "mem_empty", "content": ""}),
            json.dumps(other),
        ]
    )
    report = (await client.post("/memories/import", content=body)).json()
    assert [e["line"] for e in report["errors"]] == [3, 4, 5]
    assert "type" in report["errors"][1]["message"] and "content" in report["errors"][2]["message"]
    assert report["imported"] == 2 and report["reembedded"] == 2  # another model: vectors are redone
    assert (await client.get("/memories/mem_other")).json()["content"] == "The user reads sci-fi"
    assert (await client.post("/memories/import", content="")).status_code == 422
    assert (await client.post("/memories/import", params={"mode": "merge"}, content=body)).status_code == 422


async def test_cleanup_dry_run_then_archive_consolidate_and_delete(client: httpx.AsyncClient) -> None:
    dark = (await create(client, DARK))["memory"]
    pinned = (await create(client, {**RUST, "pinned": True}))["memory"]
    lunch = {"type": "general", "title": "Lunch", "content": "Lunch is on Fridays"}
    lunch_id = (await create(client, lunch))["memory"]["id"]
    # A duplicate that slipped in (e.g. imported): consolidation merges it into the older one.
    dup = json.loads((await client.get("/memories/export")).text.splitlines()[3])
    assert dup["id"] == lunch_id
    dup.update(id="mem_dup", created_at="2999-01-01T00:00:00Z", use_count=4)
    assert (await client.post("/memories/import", content=json.dumps(dup))).json()["imported"] == 1

    policy = {"consolidate_duplicates": True, "max_memories": 2}
    dry = (await client.post("/memories/cleanup", json=policy)).json()
    assert dry == {
        "dry_run": True,
        "archived": [dark["id"]],  # least recently used; the pinned one is never a candidate
        "deleted": [],
        "merged": [{"kept": lunch_id, "removed": "mem_dup"}],
    }
    assert (await client.get("/memories")).json()["total"] == 4  # a dry run changes nothing

    done = (await client.post("/memories/cleanup", json={**policy, "dry_run": False})).json()
    assert {**done, "dry_run": True} == dry
    assert (await client.get("/memories/mem_dup")).status_code == 404
    assert (await client.get(f"/memories/{lunch_id}")).json()["use_count"] == 4
    assert (await client.get(f"/memories/{dark['id']}")).json()["archived"] is True
    assert [m["id"] for m in (await client.get("/memories")).json()["memories"]] == [lunch_id, pinned["id"]]

    old = (await client.post("/memories/cleanup", json={"older_than_days": 0, "dry_run": False})).json()
    assert old["archived"] == [lunch_id]
    deleted = (
        await client.post("/memories/cleanup", json={"unused_days": 0, "action": "delete", "dry_run": False})
    ).json()
    assert sorted(deleted["deleted"]) == sorted([dark["id"], lunch_id])
    assert (await client.get("/memories/stats")).json()["total"] == 1
    assert (await client.post("/memories/cleanup", json={"older_than_days": -1})).status_code == 422
    assert (await client.post("/memories/cleanup", json={"action": "burn"})).status_code == 422


async def test_pinned_and_relevant_memories_go_into_the_system_message(
    client: httpx.AsyncClient, llm: FakeLLM, services: Services
) -> None:
    pinned = (await create(client, {**RUST, "pinned": True, "project": None}))["memory"]
    await create(client, DARK)
    await create(client, {"type": "general", "title": "Lunch", "content": "Lunch is on Fridays"})
    await create(client, {**DARK, "project": "other", "content": "Other project prefers blue"})

    body = {"query": "the user prefers which theme in the editor"}
    context = (await client.post("/conversations/c1/context", json=body)).json()
    system = context["messages"][0]["content"]
    assert "[project_knowledge, saved by user] Atlas language: Atlas is written in Rust with tokio" in system
    assert (
        "[user_preference, saved by user] Editor theme: The user prefers a dark theme in the editor" in system
    )
    assert "Lunch" not in system and "blue" not in system  # not relevant, other project
    assert context["long_term_memories"][0]["id"] == pinned["id"]
    assert system.index("Atlas language") < system.index("Editor theme")  # by creation, not score

    # Used memories are counted after a real turn (not after a preview).
    response = await client.post(
        "/chat", json={"conversation_id": "c1", "message": body["query"], "stream": False}
    )
    assert response.status_code == 200
    assert [m["title"] for m in response.json()["long_term_memories"]] == ["Atlas language", "Editor theme"]
    assert "Editor theme" in llm.streams[0].messages[0]["content"]
    assert services.long_term is not None
    await services.long_term.drain()
    assert (await client.get(f"/memories/{pinned['id']}")).json()["use_count"] == 1


async def test_project_memories_only_in_conversations_that_name_the_project(
    client: httpx.AsyncClient,
) -> None:
    await create(client, RUST)
    query = {"query": "what language is Atlas written in"}
    plain = (await client.post("/conversations/c1/context", json=query)).json()
    assert plain["long_term_memories"] == []
    scoped = (await client.post("/conversations/c1/context", json={**query, "project": "atlas"})).json()
    assert [m["title"] for m in scoped["long_term_memories"]] == ["Atlas language"]


async def test_long_term_memories_are_dropped_before_window_turns(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    await create(client, {**DARK, "pinned": True, "content": "dark " * 60})
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " * 5} for i in range(4)]
    await client.post("/conversations/c1/messages", json={"messages": turns})
    roomy = (await client.post("/conversations/c1/context", json={"query": "hi"})).json()
    assert len(roomy["long_term_memories"]) == 1 and roomy["window_turns"] == 4
    tight = roomy["prompt_tokens"] - 10
    squeezed = (
        await client.post("/conversations/c1/context", json={"query": "hi", "max_tokens": tight})
    ).json()
    assert squeezed["long_term_memories"] == [] and squeezed["window_turns"] == 4
    assert squeezed["prompt_tokens"] <= tight


async def test_openai_clients_get_long_term_memories_too(
    client: httpx.AsyncClient, services: Services, llm: FakeLLM
) -> None:
    await create(client, DARK)
    sent = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "the user prefers which theme in the editor"},
    ]
    response = await client.post("/v1/chat/completions", json={"model": "m", "messages": sent})
    assert response.status_code == 200
    system = llm.streams[-1].messages[0]["content"]
    assert system.startswith("You are terse.")  # the client's own system message stays first
    assert (
        "[user_preference, saved by user] Editor theme: The user prefers a dark theme in the editor" in system
    )
    assert services.long_term is not None
    await services.long_term.drain()  # the used memory is counted after the turn
    [memory] = (await client.get("/memories")).json()["memories"]
    assert memory["use_count"] == 1


async def test_a_time_filter_is_a_date_time_not_a_number(client: httpx.AsyncClient) -> None:
    for value, status in [("0.0", 422), ("1700000000", 422), ("2025-01-01T00:00:00Z", 200)]:
        assert (await client.get("/memories", params={"created_after": value})).status_code == status
