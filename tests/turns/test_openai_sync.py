"""Lining a client's resent history up with the stored turns."""

from __future__ import annotations

from datetime import UTC, datetime

from app.conversations.models import Recalled, Turn
from app.fields import check_conversation_id
from app.llm.portable import text_of
from app.prompt.layout import memory_block
from app.turns.openai_sync import (
    ClientMessage,
    conversation_messages,
    derive_conversation_id,
    plan_sync,
)


def stored(*texts: str, start: int = 0) -> list[Turn]:
    roles = ["user", "assistant"]
    return [
        Turn(conversation_id="c", turn_index=start + n, role=roles[n % 2], content=t)  # type: ignore[arg-type]
        for n, t in enumerate(texts)
    ]


def client(*texts: str) -> list[ClientMessage]:
    return [ClientMessage("user" if n % 2 == 0 else "assistant", t) for n, t in enumerate(texts)]


def test_a_new_conversation_stores_everything() -> None:
    sync = plan_sync([], client("hi"))
    assert sync.new == client("hi") and sync.abandon == [] and sync.matched == 0


def test_only_the_new_user_message_is_new() -> None:
    sync = plan_sync(stored("u1", "a1"), client("u1", " a1 ", "u2"))
    assert sync.new == [ClientMessage("user", "u2")]
    assert sync.abandon == [] and sync.matched == 2


def test_a_resend_or_regenerate_abandons_only_the_last_reply() -> None:
    sync = plan_sync(stored("u1", "a1", "u2", "a2"), client("u1", "a1", "u2"))
    assert sync.new == [] and sync.abandon == [3]


def test_an_edited_earlier_message_abandons_everything_from_the_edit() -> None:
    sync = plan_sync(stored("u1", "a1", "u2", "a2", "u3", "a3"), client("u1", "a1", "u2 edited"))
    assert sync.abandon == [2, 3, 4, 5]
    assert sync.new == [ClientMessage("user", "u2 edited")]


def test_an_edited_first_message_is_a_fresh_start_that_abandons_nothing() -> None:
    # With nothing in common there is nothing to line up: the history is a new one.
    sync = plan_sync(stored("u1", "a1"), client("other"))
    assert sync.abandon == [] and sync.new == client("other")


def test_a_client_that_trims_its_oldest_messages_still_lines_up() -> None:
    sync = plan_sync(stored("u1", "a1", "u2", "a2", "u3", "a3"), client("u2", "a2", "u3", "a3", "u4"))
    assert sync.abandon == [] and sync.new == [ClientMessage("user", "u4")]


def test_roles_must_match_too() -> None:
    sync = plan_sync(stored("same", "same"), [ClientMessage("user", "same"), ClientMessage("user", "same")])
    assert sync.matched == 1 and sync.abandon == [1]


def test_conversation_messages_keep_user_and_assistant_text_only() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
        {"role": "tool", "content": "42", "tool_call_id": "x"},
        {"role": "assistant", "content": "It is 42."},
    ]
    assert conversation_messages(messages) == [
        ClientMessage("user", "look"),
        ClientMessage("assistant", "It is 42."),
    ]
    assert text_of(None) == "" and text_of(7) == "7"


def test_a_derived_id_is_stable_valid_and_depends_on_the_start_only() -> None:
    one = derive_conversation_id([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}])
    later = derive_conversation_id(
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "hi "},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "more"},
        ]
    )
    other = derive_conversation_id([{"role": "user", "content": "hi"}])
    assert one == later != other
    assert check_conversation_id(one) == one


def test_a_memory_block_echoed_in_the_first_message_does_not_change_the_derived_id() -> None:
    block = memory_block(
        [Recalled(Turn("c", 0, "user", "x", created_at=datetime(2026, 5, 8, tzinfo=UTC)), 0.5)]
    )
    plain = derive_conversation_id([{"role": "user", "content": "hi"}])
    assert derive_conversation_id([{"role": "user", "content": block + "hi"}]) == plain
