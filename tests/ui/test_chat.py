"""Chat in the page: the streamed reply, the memories injected beside it and its tokens; the API agrees."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.browser import screenshot
from tests.ui.conftest import Served

pytestmark = pytest.mark.ui

CID = "ui-chat"


def test_a_message_streams_its_reply_with_the_memories_injected(served: Served, page: Page) -> None:
    memory = {"type": "user_preference", "title": "Tea", "content": "Ada drinks green tea", "pinned": True}
    tea = served.api.post("/memories", json=memory).json()["memory"]
    history = [
        {"role": "user", "content": "My sister Zephyrine lives in Reykjavik."},
        {"role": "assistant", "content": "Noted."},
        *[
            {"role": r, "content": f"Filler message {n} about weather"}
            for n in range(8)
            for r in ("user", "assistant")
        ],
    ]
    assert served.api.post(f"/conversations/{CID}/messages", json={"messages": history}).status_code == 201
    served.llm.script.chunks = ["Zephyrine ", "lives in ", "Reykjavik."]

    page.goto(served.ui + f"#/chat/{CID}")
    expect(page.locator("details.earlier summary")).to_contain_text(f"{len(history)} stored turns")
    page.get_by_role("textbox", name="Message").fill("Where does my sister Zephyrine live?")
    page.get_by_role("button", name="Send").click()
    turn = page.locator("article.turn.done")
    expect(turn.locator(".reply")).to_have_text("Zephyrine lives in Reykjavik.")
    expect(turn.locator(".usage")).to_contain_text("cached")

    # The API stored what the page showed, and its last prompt injected what the page listed beside it.
    stored = served.api.get(f"/conversations/{CID}/messages", params={"offset": len(history)}).json()[
        "messages"
    ]
    assert [m["content"] for m in stored] == [
        "Where does my sister Zephyrine live?",
        "Zephyrine lives in Reykjavik.",
    ]
    context = served.api.get(f"/conversations/{CID}/context").json()
    side = turn.locator("aside.injected")
    expect(side.locator(".card.longterm")).to_have_count(len(context["long_term_memories"]))
    expect(side.locator(f'.card.longterm[data-id="{tea["id"]}"]')).to_contain_text("Ada drinks green tea")
    expect(side.locator(".card.recalled")).to_have_count(len(context["memories"]))
    assert context["memories"], "the turn about Zephyrine should be recalled"
    recalled = {str(m["turn_index"]) for m in context["memories"]}
    assert set(side.locator(".card.recalled").evaluate_all("els => els.map(e => e.dataset.turn)")) == recalled
    prompt_tokens = context["prompt_tokens"]
    expect(turn.locator(".usage")).to_contain_text(f"prompt {prompt_tokens}/")
    screenshot(page, "chat")


def test_an_error_before_the_stream_is_the_apis_message(served: Served, page: Page) -> None:
    served.llm.up = False
    served.llm.script.unavailable = True
    page.goto(served.ui + f"#/chat/{CID}")
    page.get_by_role("textbox", name="Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()
    said = served.api.post("/chat", json={"conversation_id": CID, "message": "Hello?"})
    assert said.status_code == 503
    expect(page.locator("article.turn.done .error")).to_contain_text(said.json()["error"]["message"])


def test_a_reply_broken_off_mid_stream_shows_the_error_and_is_marked_incomplete(
    served: Served, page: Page
) -> None:
    served.llm.script.chunks = ["Half ", "a reply", " never sent"]
    served.llm.script.fail_after = 2
    page.goto(served.ui + f"#/chat/{CID}")
    page.get_by_role("textbox", name="Message").fill("Tell me a story")
    page.get_by_role("button", name="Send").click()
    turn = page.locator("article.turn.done")
    expect(turn.locator(".reply")).to_have_text("Half a reply")
    expect(turn.locator(".error")).to_contain_text("llama.cpp broke off the reply")

    # The API kept the partial reply, marked incomplete; the conversation's view marks it too.
    stored = served.api.get(f"/conversations/{CID}/messages").json()["messages"]
    pairs = [(m["content"], m["incomplete"]) for m in stored]
    assert pairs == [("Tell me a story", False), ("Half a reply", True)]
    page.goto(served.ui + f"#/conversations/{CID}")
    expect(page.locator(".turns .message.incomplete .text")).to_have_text(["Half a reply"])
    expect(page.locator(".turns .message.incomplete .badge")).to_have_text("incomplete")
