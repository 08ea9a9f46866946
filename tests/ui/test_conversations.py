"""Conversations and why it knows, in the page: turns, summaries, the prompt by part, forget."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

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
    listed = served.api.get("/conversations", params={"limit": 20, "offset": 0}).json()["conversations"]
    rows = page.locator("table.conversations tbody tr")
    expect(rows.locator("td:first-child")).to_have_text([c["conversation_id"] for c in listed])
    ours = next(c for c in listed if c["conversation_id"] == CID)
    row = rows.filter(has_text=CID)
    expect(row.locator("td").nth(1)).to_have_text(str(ours["turns"]))
    expect(row.locator("td").nth(2)).to_have_text(str(ours["summaries"]))
    screenshot(page, "conversations")
    row.get_by_role("link", name=CID).click()
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


def ids(page: dict[str, list[dict[str, str]]]) -> list[str]:
    return [c["conversation_id"] for c in page["conversations"]]


def test_the_list_pages_through_conversations_as_the_api_does(served: Served, page: Page) -> None:
    lines = [json.dumps({"conversation_id": f"c{n:02d}", "role": "user", "content": "hi"}) for n in range(25)]
    ndjson = {"content-type": "application/x-ndjson"}
    imported = served.api.post("/conversations/import", content="\n".join(lines) + "\n", headers=ndjson)
    assert imported.status_code == 200, imported.text
    page.goto(served.ui + "#/conversations")
    names = page.locator("table.conversations tbody tr td:first-child")
    first = served.api.get("/conversations", params={"limit": 20, "offset": 0}).json()
    expect(names).to_have_text(ids(first))
    expect(page.locator(".pager")).to_contain_text(f"1–20 of {first['total']} conversations")
    page.get_by_role("button", name="Next →").click()
    second = served.api.get("/conversations", params={"limit": 20, "offset": 20}).json()
    expect(names).to_have_text(ids(second))


def test_a_mnemo_that_lists_no_conversations_says_so_and_opens_one_by_id(served: Served, page: Page) -> None:
    # An older Mnemo has no GET /conversations: its 404, in the API's shape, answered in the browser.
    gone = {"error": {"code": "not_found", "message": "Not Found"}}
    page.route("**/conversations?*", lambda route: route.fulfill(status=404, json=gone))
    page.goto(served.ui + "#/conversations")
    expect(page.locator(".notice")).to_contain_text("cannot list its conversations (Not Found)")
    page.get_by_role("textbox", name="Conversation id").fill("ada")
    page.get_by_role("button", name="Open").click()
    expect(page.locator(".conversation-id")).to_have_text("ada")
    expect(page.locator(".turns h2")).to_have_text("Turns (0)")


def test_why_it_knows_without_an_id_offers_the_listed_conversations(served: Served, page: Page) -> None:
    seed(served)
    page.goto(served.ui + "#/why")
    page.locator("ul.recent").get_by_role("link", name=CID).click()
    expect(page).to_have_url(served.ui + f"#/why/{CID}")
    last = served.api.get(f"/conversations/{CID}/context").json()
    expect(page.locator(".prompt-tokens")).to_have_text(str(last["prompt_tokens"]))
