"""The official openai package against Mnemo in front of the real llama.cpp server.

Asserts what Mnemo controls (what is stored, what is injected, headers, framing, the
JSON grammar llama.cpp enforces), never the small model's wording.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai

from app.turns.openai_sync import derive_conversation_id
from bench.harness import MnemoProcess

FACT = "My sister Zephyrine lives in Reykjavik and keeps three goats named Ash, Birch and Cedar."
QUESTION = "Where does my sister Zephyrine live?"
FAST: dict[str, Any] = {"model": "gemma", "temperature": 0, "max_tokens": 16}


def stored(mnemo: MnemoProcess, cid: str, abandoned: bool = False) -> list[dict[str, Any]]:
    params = {"include_abandoned": "true"} if abandoned else {}
    response = httpx.get(f"{mnemo.url}/conversations/{cid}/messages", params=params, timeout=30)
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def test_sync_client_a_fact_from_turn_one_reaches_a_later_prompt(mnemo: MnemoProcess) -> None:
    cid = "e2e-oa-recall"
    sdk = openai.OpenAI(base_url=f"{mnemo.url}/v1", api_key="any", default_headers={"X-Conversation-Id": cid})
    history: list[Any] = []
    for text in [FACT, "Name a famous painting.", "How many minutes are in a day?"]:
        history.append({"role": "user", "content": text})
        reply = sdk.chat.completions.create(messages=history, **FAST)
        history.append({"role": "assistant", "content": reply.choices[0].message.content or ""})
    assert len(stored(mnemo, cid)) == 6  # each message once, though the history was resent
    # A client that keeps only its recent messages: the fact is no longer in what it sends.
    recent = [*history[-2:], {"role": "user", "content": QUESTION}]
    raw = sdk.chat.completions.with_raw_response.create(messages=recent, **FAST)
    assert raw.headers["x-conversation-id"] == cid
    assert int(raw.headers["x-mnemo-memories"]) >= 1
    assert raw.parse().choices[0].message.content is not None
    context = httpx.get(f"{mnemo.url}/conversations/{cid}/context", timeout=30).json()
    assert FACT in [m["content"] for m in context["memories"]]
    assert FACT in context["messages"][-1]["content"]  # inside the newest user message
    assert context["messages"][-1]["content"].endswith(QUESTION)


async def test_async_streaming_resend_and_regenerate_store_nothing_twice(mnemo: MnemoProcess) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{mnemo.url}/v1", api_key="any")
    first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]

    async def ask(messages: list[Any]) -> str:
        stream = await sdk.chat.completions.create(
            messages=messages, stream=True, stream_options={"include_usage": True}, **FAST
        )
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    reply = await ask(first)
    cid = derive_conversation_id(first)  # the client names no conversation
    history = [*first, {"role": "assistant", "content": reply}, {"role": "user", "content": "Say goodbye."}]
    await ask(history)
    await ask(history)  # the same history again: a regenerate
    active = stored(mnemo, cid)
    assert [m["role"] for m in active] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in active[:3]] == ["Say hello.", reply, "Say goodbye."]
    everything = stored(mnemo, cid, abandoned=True)
    assert len(everything) == 5 and sum(m["abandoned"] for m in everything) == 1


def test_a_json_schema_response_format_comes_back_as_valid_json(mnemo: MnemoProcess) -> None:
    sdk = openai.OpenAI(base_url=f"{mnemo.url}/v1", api_key="any")
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["colour"],
        "additionalProperties": False,
    }
    reply = sdk.chat.completions.create(
        model="gemma",
        messages=[{"role": "user", "content": "Pick a colour. Answer in JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "pick", "schema": schema}},
        temperature=0,
        max_tokens=48,
        user="e2e-oa-json",
    )
    parsed = json.loads(reply.choices[0].message.content or "")
    assert parsed["colour"] in ("red", "green", "blue")
    assert [m["role"] for m in stored(mnemo, "e2e-oa-json")] == ["user", "assistant"]


def test_models_and_errors_through_the_sdk(mnemo: MnemoProcess) -> None:
    sdk = openai.OpenAI(base_url=f"{mnemo.url}/v1", api_key="any", max_retries=0)
    assert len(sdk.models.list().data) >= 1
    try:
        sdk.chat.completions.create(model="gemma", messages=[])
    except openai.UnprocessableEntityError as exc:
        assert exc.status_code == 422
    else:
        raise AssertionError("an empty message list must be refused")
