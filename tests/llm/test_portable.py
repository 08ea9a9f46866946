"""Portable messages: any OpenAI sequence in the form Gemma 3's strict template takes, every word kept."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.llm.portable import portable
from tests.fakes import gemma_refusal

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'}}


def msg(role: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, **extra}


def test_consecutive_messages_of_one_role_are_joined_and_developer_is_system() -> None:
    sent = [
        msg("developer", "Be brief."),
        msg("system", "Be kind."),
        msg("user", "hi"),
        msg("user", "hello?"),
    ]
    assert portable(sent) == [msg("system", "Be brief.\n\nBe kind."), msg("user", "hi\n\nhello?")]


def test_a_later_system_message_joins_the_next_user_message_marked() -> None:
    sent = [
        msg("user", "hi"),
        msg("assistant", "Hello."),
        msg("system", "Answer in French."),
        msg("user", "ok"),
    ]
    assert portable(sent)[-1] == msg("user", "System: Answer in French.\n\nok")
    assert gemma_refusal(portable(sent)) is None


def test_tool_calls_and_results_become_text_naming_the_call() -> None:
    sent = [
        msg("user", "what time is it"),
        msg("assistant", None, tool_calls=[CALL]),
        msg("tool", "12:00", tool_call_id="call_1"),
    ]
    assert gemma_refusal(sent) is not None
    assert portable(sent) == [
        msg("user", "what time is it"),
        msg("assistant", '[called tool get_time({"tz": "UTC"}), call id call_1]'),
        msg("user", "Result of tool call call_1: 12:00"),
    ]


def test_text_parts_become_a_string_and_other_parts_stay() -> None:
    text = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    image = [{"type": "image_url", "image_url": {"url": "data:x"}}]
    assert portable([msg("user", text)]) == [msg("user", "one\ntwo")]
    assert portable([msg("user", image), msg("user", "and this")])[0]["content"] == [
        *image,
        {"type": "text", "text": "and this"},
    ]


def test_a_reply_before_the_first_user_message_is_dropped_unless_it_is_all() -> None:
    assert portable([msg("assistant", "How can I help?"), msg("user", "hi")]) == [msg("user", "hi")]
    assert portable([msg("assistant", "alone")]) == [msg("assistant", "alone")]


ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"])
WORD = st.from_regex(r"[a-z]{3,8}", fullmatch=True)


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    role = draw(ROLES)
    text = draw(WORD)
    content: Any = draw(st.sampled_from([text, [{"type": "text", "text": text}]]))
    if role == "assistant" and draw(st.booleans()):
        return msg(role, None, tool_calls=[{**CALL, "id": text}])
    extra = {"tool_call_id": "c"} if role == "tool" else {"name": "f"} if role == "function" else {}
    return msg(role, content, **extra)


def word_of(message: dict[str, Any]) -> str:
    content = message["content"]
    if content is None:
        return str(message["tool_calls"][0]["id"])
    return str(content if isinstance(content, str) else content[0]["text"])


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(message(), min_size=1, max_size=8))
def test_any_sequence_openai_accepts_becomes_one_gemma_takes_keeping_every_word(
    messages: list[dict[str, Any]],
) -> None:
    result = portable(messages)
    if any(m["role"] == "user" for m in result):  # replies alone cannot be helped
        assert gemma_refusal(result) is None
    kept = str(result)
    asked = False  # a reply before anything was asked may be dropped
    for m in messages:
        asked = asked or m["role"] in ("user", "tool", "function")
        if m["role"] != "assistant" or asked:
            assert word_of(m) in kept
