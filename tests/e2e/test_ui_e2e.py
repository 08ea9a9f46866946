"""The web page against the real llama.cpp server and MiniLM: a chat message sent through the page."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from bench.harness import MnemoProcess
from tests.ui.browser import DESKTOP, chromium

CID = "e2e-ui"
TEA = {"type": "user_preference", "title": "Tea", "content": "Ada drinks green tea"}
MESSAGE = "My sister Zephyrine lives in Reykjavik. Answer with one short sentence."


def test_a_message_sent_through_the_page_streams_a_reply_stored_as_shown(mnemo: MnemoProcess) -> None:
    with httpx.Client(base_url=mnemo.url, timeout=60) as api, chromium() as browser:
        tea = api.post("/memories", json={**TEA, "pinned": True})
        assert tea.status_code == 201, tea.text
        page = browser.new_context(viewport=DESKTOP).new_page()  # type: ignore[arg-type]
        page.goto(f"{mnemo.url}/ui/#/chat/{CID}")
        page.get_by_role("textbox", name="Message").fill(MESSAGE)
        page.get_by_role("button", name="Send").click()
        turn = page.locator("article.turn.done")
        expect(turn.locator(".usage")).to_contain_text("evaluated", timeout=180_000)
        reply = turn.locator(".reply").inner_text()
        assert reply.strip()

        # What the page streamed is what Mnemo stored; what it listed beside it is what the prompt held.
        stored = api.get(f"/conversations/{CID}/messages").json()["messages"]
        assert [m["role"] for m in stored] == ["user", "assistant"]
        assert stored[0]["content"] == MESSAGE
        assert stored[1]["content"].strip() == reply.strip()
        context = api.get(f"/conversations/{CID}/context").json()
        ids = [m["id"] for m in context["long_term_memories"]]
        assert tea.json()["memory"]["id"] in ids
        cards = turn.locator("aside.injected .card.longterm")
        shown = cards.evaluate_all("els => els.map(e => e.dataset.id)")
        assert shown == ids
        # llama.cpp's own counts, as the page shows them.
        usage = turn.locator(".usage").inner_text()
        assert f"prompt {context['prompt_tokens']}/" in usage
