"""Request and error bodies of /v1: OpenAI's chat message shapes, checked as OpenAI checks them.

Each role is its own model, chosen by `role`, so the OpenAPI schema states what each
message needs (a tool result its `content` and `tool_call_id`, an assistant message its
`content` or `tool_calls`) and a message OpenAI would refuse is a 422 in OpenAI's error
shape, not a request llama.cpp refuses later. Fields beyond these pass through as sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from app.fields import JsonInt

TEXT_PART: dict[str, Any] = {"type": "text", "text": "What is in this picture?"}
IMAGE_PART: dict[str, Any] = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}


class Open(BaseModel):
    """A body whose unknown fields are kept as sent (llama.cpp takes its own extensions)."""

    model_config = ConfigDict(extra="allow")


class TextPart(Open):
    type: Literal["text"]
    text: str


class RefusalPart(Open):
    type: Literal["refusal"]
    refusal: str


class ImageUrl(Open):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Open):
    type: Literal["image_url"]
    image_url: ImageUrl


class InputAudio(Open):
    data: str
    format: Literal["wav", "mp3"]


class AudioPart(Open):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FilePart(Open):
    type: Literal["file"]
    file: dict[str, Any]


UserPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]
TextParts = Annotated[list[TextPart], Field(min_length=1)]


class FunctionCall(Open):
    name: str = Field(min_length=1, max_length=256)
    arguments: str = Field(description="The arguments as a JSON string, as the model wrote them")


class ToolCall(Open):
    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = Field(description="Function calls only: the one kind llama.cpp runs")
    function: FunctionCall


class SystemMessage(Open):
    role: Literal["system"]
    content: str | TextParts
    name: str | None = None


class DeveloperMessage(Open):
    role: Literal["developer"]
    content: str | TextParts
    name: str | None = None


class UserMessage(Open):
    role: Literal["user"]
    content: str | Annotated[list[UserPart], Field(min_length=1)]
    name: str | None = None


class AssistantMessage(Open):
    """A reply: its text, the tool calls it made, or both (at least one of them)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "anyOf": [
                {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
                {"required": ["tool_calls"], "properties": {"tool_calls": {"type": "array"}}},
                {"required": ["function_call"], "properties": {"function_call": {"type": "object"}}},
            ]
        },
    )
    role: Literal["assistant"]
    content: str | Annotated[list[AssistantPart], Field(min_length=1)] | None = None
    tool_calls: Annotated[list[ToolCall], Field(min_length=1)] | None = None
    function_call: FunctionCall | None = Field(None, description="Deprecated: a single function call")
    name: str | None = None
    refusal: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> AssistantMessage:
        if self.content is None and self.tool_calls is None and self.function_call is None:
            raise ValueError("an assistant message needs `content` or `tool_calls`")
        return self


class ToolMessage(Open):
    """The result of one tool call, answering the assistant's call with that id."""

    role: Literal["tool"]
    content: str | TextParts
    tool_call_id: str = Field(min_length=1, max_length=256)


class FunctionMessage(Open):
    """Deprecated: the result of a `function_call`."""

    role: Literal["function"]
    content: str | None
    name: str = Field(min_length=1, max_length=256)


ChatMessageIn = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "simple": {
        "summary": "One question",
        "value": {"model": "qwen", "messages": [{"role": "user", "content": "Where does my sister live?"}]},
    },
    "history": {
        "summary": "A history with a system message and two user messages in a row",
        "value": {
            "model": "qwen",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "My sister lives in Reykjavik."},
                {"role": "assistant", "content": "Noted."},
                {"role": "user", "content": "Hello?"},
                {"role": "user", "content": [{"type": "text", "text": "Where does she live?"}]},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    },
    "tools": {
        "summary": "A tool call and its result",
        "value": {
            "model": "qwen",
            "messages": [
                {"role": "user", "content": "What time is it in UTC?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
            ],
        },
    },
}


class ChatCompletionRequest(Open):
    """OpenAI's chat completion request; unknown fields pass through to llama.cpp."""

    messages: list[ChatMessageIn] = Field(min_length=1, max_length=10_000)
    model: str | None = None
    stream: StrictBool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: JsonInt | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: JsonInt | None = Field(None, ge=1, le=1_000_000)
    user: str | None = Field(None, description="Names the conversation when no header does")
    metadata: dict[str, Any] | None = Field(None, description="`conversation_id` names the conversation")


class OpenAIErrorBody(BaseModel):
    message: str
    type: Literal["invalid_request_error", "server_error"]
    code: str


class OpenAIError(BaseModel):
    """OpenAI's error shape, so SDKs raise their usual exceptions."""

    error: OpenAIErrorBody


def openai_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a /v1 route can answer, in OpenAI's error shape."""
    return {code: {"model": OpenAIError} for code in codes}
