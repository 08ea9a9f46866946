"""Message sequences OpenAI accepts get a reply through the openai package, whatever the served template.

Gemma 3's template refuses roles that do not alternate, a system message after the first and
tool results; Mnemo reshapes them for it. Asserts what Mnemo controls (a reply arrives, what
was stored), never the model's wording.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from bench.harness import MnemoProcess

FAST: dict[str, Any] = {"model": "gemma", "temperature": 0, "max_tokens": 8}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'}}
SEQUENCES: dict[str, list[dict[str, Any]]] = {
    "consecutive-users": [
        {"role": "user", "content": "My cat is called Tiberius."},
        {"role": "user", "content": "Hello? Are you there?"},
    ],
    "system-after-first": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "system", "content": "Now answer in French."},
        {"role": "developer", "content": "Use one word."},
        {"role": "user", "content": "Name another colour."},
    ],
    "tool-call-and-result": [
        {"role": "developer", "content": "You can call tools."},
        {"role": "user", "content": "What time is it in UTC?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
    ],
    "content-parts": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "hello."}]},
    ],
}


def text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "\n".join(part["text"] for part in content)


def stored(mnemo: MnemoProcess, cid: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{mnemo.url}/conversations/{cid}/messages", timeout=30)
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_a_sequence_openai_accepts_gets_a_reply(mnemo: MnemoProcess, name: str) -> None:
    cid = f"e2e-seq-{name}"
    sdk = openai.OpenAI(base_url=f"{mnemo.url}/v1", api_key="any", max_retries=0)
    reply = sdk.chat.completions.create(
        messages=SEQUENCES[name],  # type: ignore[arg-type]
        extra_headers={"X-Conversation-Id": cid},
        **FAST,
    )
    assert reply.choices[0].finish_reason is not None
    turns = stored(mnemo, cid)
    sent = [
        (m["role"], text(m)) for m in SEQUENCES[name] if m["role"] in ("user", "assistant") and m["content"]
    ]
    assert turns[: len(sent)] == sent  # stored as the client sent them, not as reshaped for the template


def test_a_message_openai_refuses_is_a_422_before_llama_cpp(mnemo: MnemoProcess) -> None:
    sdk = openai.OpenAI(base_url=f"{mnemo.url}/v1", api_key="any", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        sdk.chat.completions.create(messages=[{"role": "tool"}], **FAST)  # type: ignore[list-item,typeddict-item]
    assert "tool_call_id" in str(raised.value)
