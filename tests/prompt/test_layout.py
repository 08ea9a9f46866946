from datetime import UTC, datetime

from app.conversations.models import Recalled, Summary, Turn
from app.prompt.layout import MEMORY_HEADER, alternate, build_messages, memory_block

T0 = datetime(2026, 5, 8, 13, 56, tzinfo=UTC)


def turn(i: int, role: str, text: str, name: str | None = None) -> Turn:
    return Turn("c1", i, role, text, created_at=T0, name=name)  # type: ignore[arg-type]


def test_stable_prefix_then_window_then_memories_inside_the_new_message() -> None:
    summary = Summary("c1", 0, 0, 9, "Ann likes tea.", T0, T0)
    window = [turn(10, "user", "hi"), turn(11, "assistant", "hello")]
    memories = [Recalled(turn(3, "user", "My cat is Tom."), 0.81)]
    messages = build_messages("SYS", [summary], window, memories, "What is my cat called?")

    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"].startswith("SYS")
    assert "Ann likes tea." in messages[0]["content"]
    assert "turns 0-9" in messages[0]["content"]
    last = messages[-1]["content"]
    assert last.startswith(MEMORY_HEADER)
    assert last.endswith("What is my cat called?")
    assert "[2026-05-08 13:56 UTC | user | relevance 0.81] My cat is Tom." in last
    # The memories are only in the newest message, never in the system prompt or history.
    assert all("My cat is Tom" not in m["content"] for m in messages[:-1])


def test_prefix_is_identical_whatever_is_recalled() -> None:
    window = [turn(0, "user", "a"), turn(1, "assistant", "b")]
    one = build_messages("SYS", [], window, [Recalled(turn(0, "user", "x"), 0.5)], "q1")
    two = build_messages("SYS", [], window, [], "q2")
    assert one[:-1] == two[:-1]


def test_memories_are_listed_in_conversation_order_with_speaker_names() -> None:
    memories = [
        Recalled(turn(7, "user", "later", name="Caroline"), 0.9),
        Recalled(turn(2, "assistant", "earlier"), 0.4),
    ]
    block = memory_block(memories)
    assert block.index("earlier") < block.index("later")
    assert "| Caroline |" in block
    assert memory_block([]) == ""


def test_alternate_drops_leading_assistant_and_joins_repeated_roles() -> None:
    messages = [
        {"role": "assistant", "content": "orphan"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "reply"},
    ]
    assert alternate(messages) == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "reply"},
    ]


def test_a_window_ending_with_an_unanswered_user_turn_still_alternates() -> None:
    window = [turn(0, "user", "first"), turn(1, "assistant", "ok"), turn(2, "user", "lost reply")]
    messages = build_messages("SYS", [], window, [], "again")
    roles = [m["role"] for m in messages[1:]]
    assert roles == ["user", "assistant", "user"]
    assert messages[-1]["content"] == "lost reply\n\nagain"
