"""Memories in the page: add, edit (with history), search, pin, delete and undo; the API agrees each time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import screenshot
from tests.ui.conftest import Served

pytestmark = pytest.mark.ui


def memories(served: Served, **params: str) -> list[dict[str, object]]:
    response = served.api.get("/memories", params=params)
    assert response.status_code == 200, response.text
    page: list[dict[str, object]] = response.json()["memories"]
    return page


def add(page: Page, kind: str, title: str, content: str, tags: str = "", pinned: bool = False) -> None:
    page.get_by_role("button", name="Add memory").click()
    dialog = page.locator("dialog[open]")
    dialog.locator("select[name=type]").select_option(kind)
    dialog.locator("input[name=title]").fill(title)
    dialog.locator("textarea[name=content]").fill(content)
    dialog.locator("input[name=tags]").fill(tags)
    if pinned:
        dialog.locator("input[name=pinned]").check()
    dialog.get_by_role("button", name="Add").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator(".toast").filter(has_text=title)).to_be_visible()


def card(page: Page, title: str):  # type: ignore[no-untyped-def]
    return page.locator("li.memory").filter(has=page.locator(".title", has_text=title))


def test_add_edit_search_pin_delete_and_undo(served: Served, page: Page) -> None:
    page.goto(served.ui)
    expect(page.get_by_role("heading", name="Memories")).to_be_visible()
    add(page, "user_preference", "Theme", "User prefers a dark theme in every editor", "ui, editor")
    add(page, "project_knowledge", "Database", "The billing service keeps invoices in PostgreSQL 16", "db")
    add(page, "general", "Bees", "Ada keeps three beehives on her roof in Lyon")

    # Add: the page lists what the API stored, newest first.
    stored = memories(served)
    assert [m["title"] for m in stored] == ["Bees", "Database", "Theme"]
    expect(page.locator("li.memory .title")).to_have_text(["Bees", "Database", "Theme"])
    theme = next(m for m in stored if m["title"] == "Theme")
    assert (
        theme["type"] == "user_preference" and theme["tags"] == ["ui", "editor"] and theme["source"] == "user"
    )
    screenshot(page, "memories")

    # Edit: a correction in place, the history shown beside the form.
    card(page, "Theme").get_by_role("button", name="Edit").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator(".history")).to_contain_text("History")
    dialog.locator("textarea[name=content]").fill("User prefers a light theme since March")
    dialog.get_by_role("button", name="Save").click()
    expect(card(page, "Theme").locator(".content")).to_have_text("User prefers a light theme since March")
    edited = served.api.get(f"/memories/{theme['id']}").json()
    assert edited["content"] == "User prefers a light theme since March" and edited["id"] == theme["id"]

    # Search: the page shows the API's ranking for the same query.
    page.get_by_role("searchbox", name="Search").fill("invoices PostgreSQL")
    page.get_by_role("button", name="Search", exact=True).click()
    found = memories(served, q="invoices PostgreSQL")
    expect(page.locator("li.memory .title")).to_have_text([str(m["title"]) for m in found])
    assert found[0]["title"] == "Database"
    expect(page.locator("li.memory").first.locator(".score")).to_contain_text("score")

    # Pin, then the filter of pinned ones agrees with the API.
    card(page, "Database").get_by_role("button", name="Pin").click()
    expect(card(page, "Database").get_by_role("button", name="Unpin")).to_be_visible()
    assert served.api.get(f"/memories/{found[0]['id']}").json()["pinned"] is True

    # Delete, then undo: the same memory (id and all) is back.
    page.get_by_role("searchbox", name="Search").fill("")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("li.memory")).to_have_count(3)
    card(page, "Bees").get_by_role("button", name="Delete").click()
    expect(card(page, "Bees")).to_have_count(0)
    bees = next(m for m in stored if m["title"] == "Bees")
    assert served.api.get(f"/memories/{bees['id']}").status_code == 404
    page.locator(".toast").filter(has_text="Deleted").get_by_role("button", name="Undo").click()
    expect(card(page, "Bees")).to_have_count(1)
    back = served.api.get(f"/memories/{bees['id']}").json()
    assert {k: back[k] for k in ("id", "title", "content", "type", "created_at")} == {
        k: bees[k] for k in ("id", "title", "content", "type", "created_at")
    }


def test_filters_paging_and_the_apis_own_errors(served: Served, page: Page) -> None:
    for n in range(23):
        kind = "solution" if n % 2 else "general"
        body = {
            "type": kind,
            "title": f"Note {n:02d}",
            "content": f"Unrelated note number {n} about topic{n}",
        }
        assert served.api.post("/memories", json=body).status_code == 201
    page.goto(served.ui)
    # Paging: 20 a page, the rest on the next.
    expect(page.locator("li.memory")).to_have_count(20)
    expect(page.locator(".pager")).to_contain_text("1–20 of 23")
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("li.memory")).to_have_count(3)
    shown = page.locator("li.memory .title").all_text_contents()
    assert shown == [m["title"] for m in memories(served, offset="20")]

    # Filter by type: the page and the API list the same memories.
    page.locator("details.filters summary").click()
    page.locator("input[name=type][value=solution]").check()
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator(".pager")).to_contain_text("of 11")
    shown = page.locator("li.memory .title").all_text_contents()
    assert shown == [m["title"] for m in memories(served, type="solution")]

    # A project the API refuses: its own message, shown as it said it.
    page.locator("input[name=project]").fill("not a project!")
    page.get_by_role("button", name="Search", exact=True).click()
    said = served.api.get("/memories", params={"project": "not a project!"}).json()["error"]["message"]
    expect(page.locator(".status .error")).to_contain_text(said)


def test_cleanup_shows_its_dry_run_before_it_changes_anything(served: Served, page: Page) -> None:
    for n in range(4):
        body = {"type": "general", "title": f"Old {n}", "content": f"Fact {n} about item{n} here"}
        assert served.api.post("/memories", json=body).status_code == 201
    page.goto(served.ui)
    page.locator("details.cleanup summary").click()
    page.locator("input[name=max_memories]").fill("2")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("details.cleanup .result")).to_contain_text("Dry run: nothing changed yet")
    # The dry run changed nothing.
    assert len(memories(served)) == 4
    apply = page.locator("details.cleanup").get_by_role("button", name=re.compile("^Apply"))
    expect(apply).to_contain_text("archive 2")
    apply.click()
    page.locator("dialog[open]").get_by_role("button", name="Apply").click()
    expect(page.locator("details.cleanup .result")).to_contain_text("Done: archive 2")
    assert len(memories(served)) == 2
    expect(page.locator("li.memory")).to_have_count(2)


def test_export_then_import_through_the_page(served: Served, page: Page, tmp_path: Path) -> None:
    for n in range(3):
        body = {"type": "general", "title": f"Fact {n}", "content": f"Fact number {n} about thing{n}"}
        assert served.api.post("/memories", json=body).status_code == 201
    page.goto(served.ui)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSONL").click()
    exported = tmp_path / "export.jsonl"
    download.value.save_as(exported)
    # The same file as the API's export, but for the header's time of export.
    assert exported.read_text().splitlines()[1:] == served.api.get("/memories/export").text.splitlines()[1:]

    # Delete everything, then import the file back through the page: the same memories, ids and all.
    before = {m["id"]: m["content"] for m in memories(served)}
    for memory_id in before:
        assert served.api.delete(f"/memories/{memory_id}").status_code == 200
    page.reload()
    expect(page.locator("li.empty")).to_be_visible()
    page.locator("details.import summary").click()
    page.locator("details.import input[type=file]").set_input_files(exported)
    page.locator("details.import").get_by_role("button", name="Import").click()
    expect(page.locator("details.import .result")).to_contain_text("Imported 3")
    assert {m["id"]: m["content"] for m in memories(served)} == before
    expect(page.locator("li.memory")).to_have_count(3)


def test_edit_shows_the_supersession_history_the_api_keeps(served: Served, page: Page) -> None:
    old = {"type": "user_preference", "title": "Theme", "content": "User prefers a dark theme"}
    first = served.api.post("/memories", json=old).json()["memory"]
    new = {**old, "content": "User switched to a light theme", "supersedes": first["id"]}
    second = served.api.post("/memories", json=new)
    assert second.json()["outcome"] == "superseded"
    page.goto(served.ui)
    expect(page.locator("li.memory")).to_have_count(1)  # the closed version is not current
    card(page, "Theme").get_by_role("button", name="Edit").click()
    history = served.api.get(f"/memories/{second.json()['memory']['id']}/history").json()["versions"]
    versions = page.locator("dialog[open] .versions li")
    expect(versions).to_have_count(len(history))
    expect(versions.locator("p")).to_have_text([v["content"] for v in history])
    expect(versions.first.locator(".badge")).to_have_text("closed")
    expect(versions.last.locator(".badge")).to_have_text("current")
    screenshot(page, "memory-history")
