"""The last prompt sent in each conversation."""

from __future__ import annotations

from app.prompt.builder import PromptContext
from app.prompt.sent import SentPrompts


def prompt(conversation_id: str, tokens: int = 1) -> PromptContext:
    return PromptContext(conversation_id, [], [], [], [], prompt_tokens=tokens, budget=10, next_index=0)


def test_nothing_is_known_before_a_prompt_is_sent() -> None:
    assert SentPrompts().last("c1") is None


def test_the_newest_prompt_of_each_conversation_is_kept() -> None:
    sent = SentPrompts()
    first, second, other = prompt("c1", 1), prompt("c1", 2), prompt("c2")
    sent.remember(first)
    sent.remember(other)
    sent.remember(second)
    assert sent.last("c1") is second
    assert sent.last("c2") is other


def test_the_least_recently_active_conversation_is_forgotten_first() -> None:
    sent = SentPrompts(conversations=2)
    sent.remember(prompt("a"))
    sent.remember(prompt("b"))
    assert sent.last("a") is not None  # reading a conversation keeps it
    sent.remember(prompt("c"))
    assert sent.last("b") is None
    assert sent.last("a") is not None and sent.last("c") is not None


def test_a_thousand_conversations_are_kept_by_default() -> None:
    sent = SentPrompts()
    for n in range(1001):
        sent.remember(prompt(f"c{n}"))
    assert sent.last("c0") is None
    assert sent.last("c1") is not None and sent.last("c1000") is not None
