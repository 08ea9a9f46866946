"""An OpenAI client's messages as the prompt sees them."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.prompt.client import client_text, last_user_text, split_client, user_start


def test_the_leading_system_message_is_the_clients_else_mnemos() -> None:
    user, reply = {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}
    newest = {"role": "user", "content": "more"}
    system = {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]}
    assert split_client([system, user, reply, newest], "Mnemo") == ("Be brief.", [user, reply], newest)
    assert split_client([user, reply, newest], "Mnemo") == ("Mnemo", [user, reply], newest)
    assert split_client([user], "Mnemo") == ("Mnemo", [], user)


def test_system_messages_only_get_an_empty_user_turn_and_no_messages_are_refused() -> None:
    only = [{"role": "system", "content": "s"}]
    assert split_client(only, "Mnemo") == ("s", [], {"role": "user", "content": ""})
    with pytest.raises(InvalidInput, match="at least one message"):
        split_client([], "Mnemo")


def test_the_query_is_the_newest_user_text() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "tool", "content": "42"},
    ]
    assert last_user_text(messages) == "second"
    assert last_user_text([{"role": "assistant", "content": "x"}]) == ""


def test_a_message_costs_its_text_and_its_tool_calls() -> None:
    calls = [{"id": "a", "function": {"name": "f"}}]
    assert client_text({"role": "assistant", "content": None, "tool_calls": calls}) == (
        '[{"id": "a", "function": {"name": "f"}}]'
    )
    assert client_text({"role": "user", "content": "hi"}) == "hi"


def test_a_cut_moves_forward_to_a_user_message() -> None:
    window = [
        {"role": "user"},
        {"role": "assistant"},
        {"role": "tool"},
        {"role": "user"},
        {"role": "assistant"},
    ]
    assert user_start(window, 0) == 0
    assert user_start(window, 1) == 3
    assert user_start(window, 3) == 3
    assert user_start(window, 4) == 5  # no user message left: the whole history goes
