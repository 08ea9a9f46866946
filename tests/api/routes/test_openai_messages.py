"""/v1 message shapes: what OpenAI refuses is a 422 before llama.cpp; what it accepts gets a reply."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.routes.test_openai import complete, stored
from tests.fakes import FakeLLM, gemma_refusal

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'}}
USER = {"role": "user", "content": "what time is it"}


def text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "\n".join(p["text"] for p in content)


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"role": "tool"}, "content"),  # llama.cpp: "All non-assistant messages must contain 'content'"
        ({"role": "tool", "content": "12:00"}, "tool_call_id"),
        ({"role": "assistant"}, "an assistant message needs `content` or `tool_calls`"),
        ({"role": "assistant", "content": None, "tool_calls": []}, "tool_calls"),
        ({"role": "user", "content": None}, "content"),
        ({"role": "user", "content": []}, "content"),
        ({"role": "user", "content": [{"type": "video", "url": "x"}]}, "video"),
        ({"role": "system"}, "content"),
        ({"role": "function", "content": "1"}, "name"),
        ({"role": "robot", "content": "x"}, "robot"),
        ({"role": "assistant", "tool_calls": [{**CALL, "type": "custom"}]}, "function"),
        ({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {}}]}, "arguments"),
    ],
)
async def test_a_message_openai_refuses_is_a_422_in_openai_shape_and_nothing_is_stored(
    client: httpx.AsyncClient, llm: FakeLLM, message: dict[str, Any], named: str
) -> None:
    response = await complete(client, [USER, message])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_input"
    assert error["message"].startswith("messages.1") and named in error["message"]
    assert llm.streams == [] and await stored(client) == []


TOOL_TURN = [USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}]
SEQUENCES: dict[str, list[dict[str, Any]]] = {
    "two user messages in a row": [USER, {"role": "user", "content": "hello?"}],
    "a system message after the first": [
        {"role": "system", "content": "Be brief."},
        USER,
        {"role": "assistant", "content": "Noon."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "and now"},
    ],
    "a system then a developer message": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Be kind."},
        USER,
    ],
    "a tool call and its result": [
        *TOOL_TURN,
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
    ],
    "content parts": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "what time"}, {"type": "text", "text": "is it"}],
        },
    ],
    "a greeting before the user": [{"role": "assistant", "content": "How can I help?"}, USER],
}


@pytest.mark.parametrize("messages", list(SEQUENCES.values()), ids=list(SEQUENCES))
async def test_a_sequence_openai_accepts_is_reshaped_for_a_strict_template(
    client: httpx.AsyncClient, llm: FakeLLM, messages: list[dict[str, Any]]
) -> None:
    llm.template = gemma_refusal
    response = await complete(client, messages)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello there!"
    sent = llm.streams[-1].messages
    assert gemma_refusal(sent) is None
    # Stored as the client sent it, whatever form the template needed.
    turns = await stored(client)
    asked = next(m for m in reversed(messages) if m["role"] == "user")
    assert turns[-2:] == [("user", text(asked), False), ("assistant", "Hello there!", False)]
    assert not any("System:" in c or "called tool" in c for _, c, _ in turns)


async def test_a_template_that_takes_the_sequence_gets_it_untouched(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    messages = SEQUENCES["a tool call and its result"]
    response = await complete(client, messages)
    assert response.status_code == 200, response.text
    assert llm.streams[-1].messages[1:] == messages  # after the system message Mnemo adds
    assert llm.refused == []


async def test_what_llama_cpp_still_refuses_is_the_clients_422_and_stores_nothing(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.template = lambda messages: "image input is not supported"
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    response = await complete(client, [{"role": "user", "content": [image]}])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "image input is not supported" in error["message"]
    assert len(llm.refused) == 2 and llm.streams == []  # as sent, then reshaped
    assert await stored(client) == []


async def test_a_completion_llama_cpp_refuses_is_a_422_on_v1_and_a_502_on_chat(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.script.refuse = "Unsupported param: tools"  # the client's own fields, relayed
    response = await complete(client, [USER], tools=[{"type": "function"}])
    assert response.status_code == 422, response.text
    assert "Unsupported param: tools" in response.json()["error"]["message"]
    assert await stored(client) == []
    chat = await client.post("/chat", json={"conversation_id": "c", "message": "hi", "stream": False})
    assert chat.status_code == 502  # Mnemo wrote that request: llama.cpp failing on it is not bad input


async def test_system_messages_alone_get_a_reply_with_the_system_prompt_in_place(
    client: httpx.AsyncClient, llm: FakeLLM
) -> None:
    llm.template = gemma_refusal
    response = await complete(client, [{"role": "system", "content": "Greet the user."}])
    assert response.status_code == 200, response.text
    assert llm.streams[-1].messages == [
        {"role": "system", "content": "Greet the user."},
        {"role": "user", "content": ""},  # where templates put the system prompt
    ]
    assert await stored(client) == [("assistant", "Hello there!", False)]


@pytest.mark.parametrize("value", ["64", True, 6.5])
async def test_a_number_is_a_json_number(client: httpx.AsyncClient, value: Any) -> None:
    response = await complete(client, [USER], max_tokens=value)
    assert response.status_code == 422 and "max_tokens" in response.json()["error"]["message"]
    assert (await complete(client, [USER], max_tokens=64.0)).status_code == 200  # JSON's 64.0 is 64
