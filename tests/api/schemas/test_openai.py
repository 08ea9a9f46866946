"""Bodies of /v1: OpenAI's message shapes, chosen by role, with unknown fields kept as sent.

tests/api/routes/test_openai_messages.py drives the refusals through the route; here the models directly.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.api.schemas.openai import (
    REQUEST_EXAMPLES,
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessageIn,
    DeveloperMessage,
    FunctionMessage,
    ImagePart,
    OpenAIError,
    SystemMessage,
    ToolMessage,
    UserMessage,
    openai_error_responses,
)

MESSAGE: TypeAdapter[Any] = TypeAdapter(ChatMessageIn)
USER = {"role": "user", "content": "hi"}


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        ChatCompletionRequest.model_validate(body)
    return str(info.value)


@pytest.mark.parametrize("name", list(REQUEST_EXAMPLES))
def test_the_documented_examples_are_valid(name: str) -> None:
    ChatCompletionRequest.model_validate(REQUEST_EXAMPLES[name]["value"])


@pytest.mark.parametrize(
    ("message", "model"),
    [
        ({"role": "system", "content": "s"}, SystemMessage),
        ({"role": "developer", "content": [{"type": "text", "text": "d"}]}, DeveloperMessage),
        (USER, UserMessage),
        ({"role": "assistant", "content": "a"}, AssistantMessage),
        ({"role": "tool", "content": "r", "tool_call_id": "call_1"}, ToolMessage),
        ({"role": "function", "content": None, "name": "f"}, FunctionMessage),
    ],
)
def test_the_role_chooses_the_model(message: dict[str, Any], model: type) -> None:
    assert type(MESSAGE.validate_python(message)) is model


def test_unknown_fields_pass_through_as_sent() -> None:
    body = {
        "messages": [{**USER, "x_note": 1}],
        "n_probs": 3,
        "cache_prompt": True,
    }
    request = ChatCompletionRequest.model_validate(body)
    assert request.model_dump(exclude_unset=True) == body


def test_an_assistant_message_needs_content_tool_calls_or_a_function_call() -> None:
    with pytest.raises(ValidationError, match="needs `content` or `tool_calls`"):
        AssistantMessage.model_validate({"role": "assistant", "content": None})
    call = {"name": "get_time", "arguments": "{}"}
    assert AssistantMessage.model_validate({"role": "assistant", "function_call": call}).function_call
    refusal = {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}
    assert AssistantMessage.model_validate(refusal).content


def test_the_assistant_rule_is_in_the_schema() -> None:
    alternatives = AssistantMessage.model_json_schema()["anyOf"]
    assert [a["required"] for a in alternatives] == [["content"], ["tool_calls"], ["function_call"]]


def test_user_content_parts() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    message = UserMessage.model_validate({"role": "user", "content": [image, audio]})
    assert isinstance(message.content, list) and isinstance(message.content[0], ImagePart)
    for bad in [
        {"type": "image_url", "image_url": {"url": ""}},
        {"type": "image_url", "image_url": {"url": "u", "detail": "max"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "flac"}},
        {"type": "refusal", "refusal": "no"},  # an assistant's part, not a user's
    ]:
        with pytest.raises(ValidationError):
            UserMessage.model_validate({"role": "user", "content": [bad]})


def test_a_tool_result_names_its_call() -> None:
    with pytest.raises(ValidationError, match="tool_call_id"):
        ToolMessage.model_validate({"role": "tool", "content": "r", "tool_call_id": ""})
    with pytest.raises(ValidationError, match="tool_call_id"):
        ToolMessage.model_validate({"role": "tool", "content": "r"})


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"messages": []}, "at least 1 item"),
        ({"stream": "true"}, "valid boolean"),
        ({"max_tokens": 0}, "greater than or equal to 1"),
        ({"max_completion_tokens": "9"}, "must be a number"),
        ({"metadata": "c1"}, "metadata"),
    ],
)
def test_a_request_refuses(change: dict[str, Any], complaint: str) -> None:
    assert complaint in refused({"messages": [USER], **change})


def test_a_request_has_defaults() -> None:
    request = ChatCompletionRequest.model_validate({"messages": [USER]})
    assert request.stream is False
    assert (request.model, request.user, request.metadata, request.max_tokens) == (None, None, None, None)


def test_error_responses_document_openais_shape() -> None:
    assert openai_error_responses(422, 503) == {422: {"model": OpenAIError}, 503: {"model": OpenAIError}}
    error = {"error": {"message": "m", "type": "server_error", "code": "llm_unavailable"}}
    assert OpenAIError.model_validate(error).error.type == "server_error"
    with pytest.raises(ValidationError):
        OpenAIError.model_validate({"error": {"message": "m", "type": "oops", "code": "c"}})
