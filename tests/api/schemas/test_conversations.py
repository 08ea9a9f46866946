"""Bodies of /chat and /conversations: what they accept, what they refuse, how records become JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from app.api.schemas.conversations import (
    MAX_MESSAGE_CHARS,
    ChatRequest,
    ContextRequest,
    ContextResponse,
    ErrorResponse,
    ImportRequest,
    MessageIn,
    MessageOut,
    RecalledOut,
    SummaryOut,
    UsageOut,
    error_responses,
)
from app.conversations.models import Recalled, Summary, Turn
from app.llm.usage import Usage
from app.prompt.builder import PromptContext

T0 = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)


def refused(model: type[BaseModel], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return str(info.value)


@pytest.mark.parametrize("model", [ChatRequest, ImportRequest, ContextRequest])
def test_the_documented_examples_are_valid(model: type[BaseModel]) -> None:
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


def test_a_chat_request_has_defaults() -> None:
    request = ChatRequest.model_validate({"conversation_id": "ada:1_x.y-z", "message": "hi"})
    assert request.stream is True
    assert (request.max_tokens, request.temperature, request.project) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"conversation_id": "a/b"}, "conversation_id must be 1-128 characters"),
        ({"conversation_id": "x" * 129}, "conversation_id must be 1-128 characters"),
        ({"conversation_id": ""}, "conversation_id must be"),
        ({"message": "  \n "}, "must not be blank"),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "at most 200000 characters"),
        ({"stream": "yes"}, "valid boolean"),
        ({"max_tokens": 0}, "greater than or equal to 1"),
        ({"max_tokens": "5"}, "must be a number"),
        ({"max_tokens": True}, "must be a number"),
        ({"temperature": 2.5}, "less than or equal to 2"),
        ({"project": "my project"}, "project must be"),
        ({"extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_a_chat_request_refuses(change: dict[str, Any], complaint: str) -> None:
    assert complaint in refused(ChatRequest, {"conversation_id": "c1", "message": "hi", **change})


def test_an_integral_float_is_a_json_integer() -> None:
    assert (
        ChatRequest.model_validate({"conversation_id": "c", "message": "m", "max_tokens": 7.0}).max_tokens
        == 7
    )


def test_the_conversation_id_rule_is_in_the_schema() -> None:
    schema = ChatRequest.model_json_schema()["properties"]["conversation_id"]
    assert schema["pattern"] == "^[A-Za-z0-9._:-]{1,128}$"
    assert ChatRequest.model_json_schema()["properties"]["message"]["pattern"] == r"\S"


def test_an_imported_time_without_zone_is_utc() -> None:
    message = MessageIn.model_validate({"role": "user", "content": "hi", "created_at": "2025-05-01T09:30:00"})
    assert message.created_at == T0
    offset = MessageIn.model_validate(
        {"role": "user", "content": "hi", "created_at": "2025-05-01T11:30:00+02:00"}
    )
    assert offset.created_at == T0


@pytest.mark.parametrize("when", [1700000000, "1700000000", "0.0"])
def test_an_imported_time_is_a_date_time_string(when: Any) -> None:
    assert "ISO 8601" in refused(MessageIn, {"role": "user", "content": "hi", "created_at": when})


def test_an_import_holds_one_to_a_thousand_messages_of_known_roles() -> None:
    one = {"role": "user", "content": "hi"}
    assert "at least 1 item" in refused(ImportRequest, {"messages": []})
    assert "at most 1000 items" in refused(ImportRequest, {"messages": [one] * 1001})
    assert "role" in refused(ImportRequest, {"messages": [{"role": "tool", "content": "hi"}]})
    assert len(ImportRequest.model_validate({"messages": [one] * 1000}).messages) == 1000


def test_records_become_their_json() -> None:
    turn = Turn("ada", 4, "assistant", "hello", created_at=T0, name="bot", incomplete=True)
    recalled = RecalledOut.of(Recalled(turn, 0.8, neighbour_of=5))
    assert recalled.model_dump() == {
        "id": "ada/t4",
        "content": "hello",
        "score": 0.8,
        "created_at": T0,
        "role": "assistant",
        "name": "bot",
        "turn_index": 4,
        "neighbour_of": 5,
    }
    message = MessageOut.of(turn)
    assert (message.id, message.incomplete, message.abandoned) == ("ada/t4", True, False)
    summary = SummaryOut.of(Summary("ada", 1, 0, 9, "they met", covers_from=T0, covers_to=T0, created_at=T0))
    assert (summary.id, summary.level, summary.turn_to, summary.content) == ("ada/s1:0-9", 1, 9, "they met")
    usage = UsageOut.of(Usage(prompt_tokens=10, completion_tokens=3, cached_tokens=6, evaluated_tokens=4))
    assert usage.model_dump() == {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "cached_tokens": 6,
        "evaluated_tokens": 4,
    }


def test_the_context_response_counts_the_window() -> None:
    turns = [Turn("ada", i, "user", f"m{i}", created_at=T0) for i in range(3)]
    ctx = PromptContext(
        conversation_id="ada",
        messages=[{"role": "user", "content": "m2"}],
        memories=[Recalled(turns[0], 0.5)],
        summaries=[],
        window=turns[1:],
        prompt_tokens=40,
        budget=100,
        next_index=3,
    )
    out = ContextResponse.of(ctx)
    assert out.window_turns == 2
    assert [m.id for m in out.memories] == ["ada/t0"]
    assert (out.prompt_tokens, out.budget, out.long_term_memories) == (40, 100, [])


def test_error_responses_document_the_one_error_shape() -> None:
    assert error_responses(404, 422) == {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
    assert ErrorResponse.model_validate({"error": {"code": "x", "message": "y"}}).error.code == "x"
