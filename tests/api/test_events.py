"""The SSE event schemas: standalone JSON schemas in OpenAPI, and true to the events /chat sends."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from app.api.events import CHAT_EVENT, DoneEvent, MemoryEvent, TokenEvent, event, inline
from app.api.schemas.conversations import ErrorResponse
from tests.fakes import FakeLLM
from tests.sse import parse_sse

PAYLOADS: dict[str, type[BaseModel]] = {
    "memory": MemoryEvent,
    "token": TokenEvent,
    "done": DoneEvent,
    "error": ErrorResponse,
}


def refs(schema: Any) -> list[str]:
    """Every `$ref` anywhere in a schema."""
    if isinstance(schema, dict):
        found = [schema["$ref"]] if "$ref" in schema else []
        return found + [r for v in schema.values() for r in refs(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in refs(v)]
    return []


def test_inline_writes_definitions_in_place() -> None:
    schema = {
        "$defs": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
            "B": {"type": "integer"},
        },
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "many": {"type": "array", "items": [{"$ref": "#/$defs/B"}]},
        },
    }
    assert inline(schema) == {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "integer"}}},
            "many": {"type": "array", "items": [{"type": "integer"}]},
        },
    }


def test_inline_leaves_other_references_and_values_alone() -> None:
    schema = {"properties": {"x": {"$ref": "#/components/schemas/X"}, "n": {"const": 3}}}
    assert inline(schema) == schema


def test_an_event_names_itself_and_carries_its_payload_as_json() -> None:
    schema = event("done", DoneEvent)
    assert schema["required"] == ["event", "data"]
    assert schema["properties"]["event"] == {"const": "done"}
    data = schema["properties"]["data"]
    assert (data["type"], data["contentMediaType"]) == ("string", "application/json")
    content = data["contentSchema"]
    assert set(content["properties"]) == set(DoneEvent.model_fields)
    assert "$defs" not in content and refs(content) == []
    assert set(content["properties"]["usage"]["properties"]) >= {"prompt_tokens", "cached_tokens"}


def test_the_chat_stream_schema_lists_its_four_events_standalone() -> None:
    names = [one["properties"]["event"]["const"] for one in CHAT_EVENT["oneOf"]]
    assert names == ["memory", "token", "done", "error"]
    assert refs(CHAT_EVENT) == []


async def test_the_events_chat_sends_match_their_schemas(client: httpx.AsyncClient, llm: FakeLLM) -> None:
    sent = parse_sse((await client.post("/chat", json={"conversation_id": "c1", "message": "hi"})).text)
    llm.script.fail_after = 1
    sent += parse_sse((await client.post("/chat", json={"conversation_id": "c1", "message": "go"})).text)
    assert {name for name, _ in sent} == set(PAYLOADS)
    for name, data in sent:
        model = PAYLOADS[name]
        assert set(data) == set(model.model_fields), name  # no field undocumented, none missing
        model.model_validate(data)


async def test_openapi_documents_the_streams(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    chat = paths["/chat"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert [one["properties"]["event"]["const"] for one in chat["oneOf"]] == list(PAYLOADS)
    assert refs(chat) == []  # stands alone: no reference into components or $defs
    completions = paths["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert completions["text/event-stream"]["schema"]["properties"]["event"] == {"const": "message"}
