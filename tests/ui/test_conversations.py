"""Conversations and why it knows, in the page: turns, summaries, the prompt by part, forget."""

from __future__ import annotations

import pytest
from httpx import URL
from playwright.sync_api import Page, Route, expect

from tests.ui.browser import screenshot
from tests.ui.conftest import Served

pytestmark = pytest.mark.ui

CID = "ada-garden"
HISTORY = [
    ("user", "My sister Zephyrine lives in Reykjavik and keeps goats."),
    ("assistant", "Goats in Reykjavik sound lovely."),
    ("user", "I planted tomatoes and basil on the balcony."),
    ("assistant", "Tomatoes and basil grow well together."),
    ("user", "The bus to work leaves at seven."),
    ("assistant", "An early start, then."),
    ("user", "My bicycle is red and has three gears."),
    ("assistant", "A simple bike is easy to keep."),
    ("user", "I read a novel about whales last week."),
    ("assistant", "Whales make good stories."),
]


def seed(served: Served) -> None:
    messages = [{"role": r, "content": c} for r, c in HISTORY]
    assert served.api.post(f"/conversations/{CID}/messages", json={"messages": messages}).status_code == 201
    memory = {"type": "user_preference", "title": "Tea", "content": "Ada drinks green tea", "pinned": True}
    assert served.api.post("/memories", json=memory).status_code == 201
    # One real turn, so there is a last prompt to explain.
    said = served.api.post(
        "/chat", json={"conversation_id": CID, "message": "Where does Zephyrine live?", "stream": False}
    )
    assert said.status_code == 200, said.text


def test_a_conversation_its_turns_and_summaries(served: Served, page: Page) -> None:
    seed(served)
    page.goto(served.ui + "#/conversations")
    listed = served.api.get("/conversations", params={"limit": 20, "offset": 0})
    if listed.status_code == 200:
        rows = page.locator("table.conversations tbody tr")
        expect(rows).to_have_count(len(listed.json()["conversations"]))
        row = rows.filter(has_text=CID)
        expect(row).to_contain_text(
            str(next(c for c in listed.json()["conversations"] if c["conversation_id"] == CID)["turns"])
        )
        screenshot(page, "conversations")
        row.get_by_role("link", name=CID).click()
    else:  # the list is not served by this Mnemo: the page says so, with the API's message, and opens by id
        expect(page.locator(".notice")).to_contain_text(listed.json()["error"]["message"])
        page.get_by_role("textbox", name="Conversation id").fill(CID)
        page.get_by_role("button", name="Open").click()
    expect(page.locator(".conversation-id")).to_have_text(CID)
    stored = served.api.get(f"/conversations/{CID}/messages", params={"include_abandoned": "true"}).json()
    expect(page.locator(".turns h2")).to_have_text(f"Turns ({stored['total']})")
    expect(page.locator(".turns .message .text")).to_have_text([m["content"] for m in stored["messages"]])
    summaries = served.api.get(f"/conversations/{CID}/summaries").json()["summaries"]
    expect(page.locator(".summaries h2")).to_have_text(f"Summaries ({len(summaries)})")
    expect(page.locator(".summaries .card")).to_have_count(len(summaries))
    screenshot(page, "conversation")


def test_why_it_knows_shows_the_last_prompt_and_a_preview_by_part(served: Served, page: Page) -> None:
    seed(served)
    page.goto(served.ui + f"#/why/{CID}")
    last = served.api.get(f"/conversations/{CID}/context").json()
    expect(page.locator(".context-result h2")).to_have_text("The last prompt sent")
    expect(page.locator(".prompt-tokens")).to_have_text(str(last["prompt_tokens"]))
    # The exact prompt: the page's text of each message is the API's, split into parts by origin.
    shown = page.locator(".prompt-message pre")
    expect(shown).to_have_count(len(last["messages"]))
    assert shown.all_text_contents() == [m["content"] for m in last["messages"]]
    expect(page.locator(".prompt-message pre .part-longterm")).to_contain_text("Ada drinks green tea")
    expect(page.locator(".prompt-message pre .part-system").first).to_be_visible()
    expect(page.locator(".origins .longterm .card")).to_have_count(len(last["long_term_memories"]))

    # A preview of any question: what would be sent, recalled turns with their scores.
    page.get_by_role("textbox", name="Question").fill("What does my sister Zephyrine keep in Reykjavik?")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".context-result h2")).to_contain_text("Preview for")
    preview = served.api.post(
        f"/conversations/{CID}/context", json={"query": "What does my sister Zephyrine keep in Reykjavik?"}
    ).json()
    expect(page.locator(".prompt-tokens")).to_have_text(str(preview["prompt_tokens"]))
    expect(page.locator(".origins .recalled .card")).to_have_count(len(preview["memories"]))
    assert preview["memories"], "the preview should recall the turn about Zephyrine"
    best = max(preview["memories"], key=lambda m: m["score"])
    expect(page.locator(".origins .recalled .card").first).to_contain_text(f"score {best['score']:.3f}")
    expect(page.locator(".prompt-message pre .part-recalled")).to_contain_text("Zephyrine lives in Reykjavik")
    expect(page.locator(".prompt-message pre .part-question")).to_have_text(
        "What does my sister Zephyrine keep in Reykjavik?"
    )
    expect(page.locator("figure.budget svg rect.seg")).not_to_have_count(0)
    screenshot(page, "why-it-knows")


def test_forget_asks_first_then_the_api_has_nothing(served: Served, page: Page) -> None:
    seed(served)
    page.goto(served.ui + f"#/conversations/{CID}")
    page.get_by_role("button", name="Forget…").click()
    page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
    assert served.api.get(f"/conversations/{CID}/messages").json()["total"] == len(HISTORY) + 2
    page.get_by_role("button", name="Forget…").click()
    page.locator("dialog[open]").get_by_role("button", name="Forget").click()
    expect(page.locator(".toast").filter(has_text="Forgot")).to_be_visible()
    assert served.api.get(f"/conversations/{CID}/messages").json()["total"] == 0


def test_the_list_pages_through_conversations_as_the_contract_says(served: Served, page: Page) -> None:
    # GET /conversations as its contract states it, answered in the browser: the list's paging and columns.
    everyone = [
        {
            "conversation_id": f"c{n:02d}",
            "turns": 2 * n,
            "summaries": n // 4,
            "first_activity": "2026-01-01T10:00:00Z",
            "last_activity": f"2026-02-{n + 1:02d}T10:00:00Z",
        }
        for n in range(25)
    ]
    asked: list[str] = []

    def answer(route: Route) -> None:
        url = URL(route.request.url)
        asked.append(str(url.query, "ascii"))
        limit, offset = int(url.params["limit"]), int(url.params["offset"])
        shown = everyone[offset : offset + limit]
        route.fulfill(json={"conversations": shown, "total": 25, "limit": limit, "offset": offset})

    page.route("**/conversations?*", answer)
    page.goto(served.ui + "#/conversations")
    rows = page.locator("table.conversations tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("c00")
    expect(page.locator(".pager")).to_contain_text("1–20 of 25 conversations")
    page.get_by_role("button", name="Next →").click()
    expect(rows).to_have_count(5)
    expect(rows.last.locator("td").nth(1)).to_have_text("48")
    assert asked == ["limit=20&offset=0", "limit=20&offset=20"]
    rows.last.get_by_role("link", name="c24").click()
    expect(page.locator(".conversation-id")).to_have_text("c24")


def test_why_it_knows_without_an_id_offers_the_listed_conversations(served: Served, page: Page) -> None:
    listed = {
        "conversations": [
            {
                "conversation_id": "ada",
                "turns": 4,
                "summaries": 0,
                "first_activity": "2026-01-01T10:00:00Z",
                "last_activity": "2026-01-02T10:00:00Z",
            }
        ],
        "total": 1,
        "limit": 10,
        "offset": 0,
    }
    page.route("**/conversations?*", lambda route: route.fulfill(json=listed))
    page.goto(served.ui + "#/why")
    page.locator("ul.recent").get_by_role("link", name="ada").click()
    expect(page).to_have_url(served.ui + "#/why/ada")
    expect(page.locator(".context-result .error")).to_contain_text("No prompt was sent")
