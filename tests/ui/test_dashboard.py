"""The dashboard: counts by type and tag, storage, activity and the prompt cache, as the API reports them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import screenshot
from tests.ui.conftest import Served

pytestmark = pytest.mark.ui


def test_the_dashboard_draws_what_the_stats_say(served: Served, page: Page) -> None:
    for n, (kind, tags) in enumerate(
        [("user_preference", ["ui"]), ("solution", ["db", "ops"]), ("solution", ["db"]), ("general", [])]
    ):
        body = {
            "type": kind,
            "title": f"Memory {n}",
            "content": f"Distinct fact {n} about subject{n}",
            "tags": tags,
        }
        assert served.api.post("/memories", json=body).status_code == 201
    served.llm.script.chunks = ["Hi", "!"]
    for message in ("Hello there", "How are you?"):
        assert (
            served.api.post(
                "/chat", json={"conversation_id": "dash", "message": message, "stream": False}
            ).status_code
            == 200
        )
    page.goto(served.ui + "#/chat/dash")
    page.get_by_role("textbox", name="Message").fill("One more from the page")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("article.turn.done .usage")).to_contain_text("cached")

    page.goto(served.ui + "#/dashboard")
    stats = served.api.get("/memories/stats").json()
    current = page.locator(".stat").filter(has_text="current")
    expect(current.locator(".value")).to_have_text(str(stats["current"]))
    by_type = page.locator("section.panel-card").filter(has=page.get_by_role("heading", name="By type"))
    for kind, count in stats["by_type"].items():
        expect(by_type.locator("svg text.label", has_text=kind)).to_have_count(1)
        expect(by_type.locator("svg rect.bar title", has_text=f"{kind}: {count}")).to_have_count(1)
    by_tag = page.locator("section.panel-card").filter(has=page.get_by_role("heading", name="By tag"))
    expect(by_tag.locator("svg text.label")).to_have_text([f"#{t}" for t in stats["tags"]])
    cache = page.locator("section.panel-card").filter(has=page.get_by_role("heading", name="Prompt cache"))
    expect(cache).to_contain_text("over 3 turns since start-up")
    expect(cache.locator("svg.columns rect.bar")).to_have_count(1)
    screenshot(page, "dashboard")
