"""LlamaClient against httpx's MockTransport: what it sends, what it parses, how it maps failures."""

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.errors import LLMFailed, LLMRefused, LLMUnavailable, LLMUnsupported, MnemoError
from app.llm.llama import LlamaClient, usage_from
from app.llm.protocols import Delta, Finished, ServerInfo, StreamEvent
from app.llm.usage import Usage

Handler = Callable[[httpx.Request], httpx.Response]
MESSAGES = [{"role": "user", "content": "Hi"}]


def llama(handler: Handler) -> LlamaClient:
    transport = httpx.MockTransport(handler)
    return LlamaClient(httpx.AsyncClient(transport=transport, base_url="http://llama"), "gemma")


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


FINAL: dict[str, Any] = {
    "object": "chat.completion.chunk",
    "choices": [],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    "timings": {"cache_n": 6, "prompt_n": 4},
}


def sse(*events: dict[str, Any] | str) -> bytes:
    return b"".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events)


def streamed(body: bytes | httpx.AsyncByteStream) -> httpx.Response:
    headers = {"content-type": "text/event-stream"}
    if isinstance(body, bytes):
        return httpx.Response(200, headers=headers, content=body)
    return httpx.Response(200, headers=headers, stream=body)


def error(status: int, message: str = "bad things") -> Handler:
    return lambda request: httpx.Response(status, json={"error": {"code": status, "message": message}})


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class BrokenOff(httpx.AsyncByteStream):
    """Sends some bytes, then the connection drops."""

    def __init__(self, first: bytes) -> None:
        self._first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._first
        raise httpx.ReadError("connection reset")


async def events_of(client: LlamaClient) -> list[StreamEvent]:
    stream = client.stream_chat(MESSAGES, {})
    await stream.open()
    try:
        return [event async for event in stream.events()]
    finally:
        await stream.aclose()


async def test_a_stream_relays_each_chunk_then_finishes_with_the_final_usage() -> None:
    body = sse(
        chunk({"role": "assistant"}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        FINAL,
    )
    events = await events_of(llama(lambda request: streamed(body)))
    assert [e.text for e in events if isinstance(e, Delta)] == ["", "Hel", "lo", ""]
    assert [e.chunk for e in events if isinstance(e, Delta)][1] == chunk({"content": "Hel"})
    assert events[-1] == Finished(Usage(10, 2, cached_tokens=6, evaluated_tokens=4), "stop", FINAL)


async def test_a_stream_sends_the_request_llama_cpp_expects() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return streamed(sse(FINAL))

    params = {"temperature": 0.2, "stream": False, "messages": []}
    stream = llama(handler).stream_chat(MESSAGES, params)
    await stream.open()
    await stream.aclose()
    assert sent[0].method == "POST" and sent[0].url.path == "/v1/chat/completions"
    assert json.loads(sent[0].content) == {
        "model": "gemma",
        "temperature": 0.2,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "cache_prompt": True,
    }


async def test_tool_call_chunks_are_relayed_with_no_text() -> None:
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
    body = sse(chunk({"tool_calls": [call]}), chunk({}, "tool_calls"), FINAL)
    events = await events_of(llama(lambda request: streamed(body)))
    assert events[0] == Delta("", chunk({"tool_calls": [call]}))
    assert isinstance(events[-1], Finished) and events[-1].finish_reason == "tool_calls"


async def test_a_stream_ending_without_usage_finishes_with_none() -> None:
    body = sse(chunk({"content": "Hi"}), chunk({}, "length"), "[DONE]", chunk({"content": "never"}))
    events = await events_of(llama(lambda request: streamed(body)))
    assert [e.text for e in events if isinstance(e, Delta)] == ["Hi", ""]
    assert events[-1] == Finished(Usage(), "length")


async def test_events_open_the_stream_when_not_yet_open() -> None:
    stream = llama(lambda request: streamed(sse(chunk({"content": "Hi"}), FINAL))).stream_chat(MESSAGES, {})
    events = [event async for event in stream.events()]
    await stream.aclose()
    assert isinstance(events[0], Delta) and events[0].text == "Hi"


def test_usage_takes_cached_and_evaluated_tokens_from_timings() -> None:
    final = {**FINAL, "usage": {**FINAL["usage"], "prompt_tokens_details": {"cached_tokens": 3}}}
    assert usage_from(final) == Usage(
        prompt_tokens=10, completion_tokens=2, cached_tokens=6, evaluated_tokens=4
    )


def test_usage_without_timings_falls_back_to_the_cached_token_details() -> None:
    final = {
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 7}}
    }
    assert usage_from(final) == Usage(
        prompt_tokens=10, completion_tokens=3, cached_tokens=7, evaluated_tokens=3
    )
    assert usage_from({}) == Usage()


@pytest.mark.parametrize(
    ("status", "failure", "message"),
    [
        (400, LLMRefused, "llama.cpp rejected the request (400): bad things"),
        (500, LLMFailed, "llama.cpp rejected the request (500): bad things"),
        (404, LLMFailed, "llama.cpp rejected the request (404): bad things"),
        (503, LLMUnavailable, "llama.cpp is not ready: bad things"),
    ],
)
async def test_a_stream_refused_fails_at_open(status: int, failure: type[MnemoError], message: str) -> None:
    answered: list[httpx.Response] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answered.append(error(status)(request))
        return answered[-1]

    stream = llama(handler).stream_chat(MESSAGES, {})
    with pytest.raises(MnemoError) as raised:
        await stream.open()
    assert type(raised.value) is failure
    assert raised.value.message == message
    assert answered[0].is_closed  # the connection goes back to the pool


async def test_an_unreachable_server_fails_the_stream_at_open() -> None:
    with pytest.raises(LLMUnavailable, match=r"llama\.cpp is not reachable: ConnectError"):
        await llama(unreachable).stream_chat(MESSAGES, {}).open()


async def test_a_connection_dropped_mid_reply_fails_after_what_arrived() -> None:
    stream = llama(lambda request: streamed(BrokenOff(sse(chunk({"content": "Hel"}))))).stream_chat(
        MESSAGES, {}
    )
    await stream.open()
    received: list[StreamEvent] = []
    with pytest.raises(LLMFailed, match=r"llama\.cpp broke off the reply: ReadError") as raised:
        async for event in stream.events():
            received.append(event)
    await stream.aclose()
    assert type(raised.value) is LLMFailed
    assert [e.text for e in received if isinstance(e, Delta)] == ["Hel"]


async def test_a_stream_that_ends_without_done_fails_after_what_arrived() -> None:
    stream = llama(lambda request: streamed(sse(chunk({"content": "Hel"})))).stream_chat(MESSAGES, {})
    await stream.open()
    received: list[StreamEvent] = []
    with pytest.raises(LLMFailed, match=r"ended without \[DONE\]"):
        async for event in stream.events():
            received.append(event)
    await stream.aclose()
    assert [e.text for e in received if isinstance(e, Delta)] == ["Hel"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"error": {"message": "slot lost"}}, "llama.cpp failed mid-way: {'message': 'slot lost'}"),
        ("{not json", "llama.cpp sent a malformed chunk: "),
    ],
)
async def test_a_bad_chunk_mid_reply_fails(bad: dict[str, Any] | str, message: str) -> None:
    body = sse(chunk({"content": "Hel"}), bad, FINAL)
    with pytest.raises(LLMFailed) as raised:
        await events_of(llama(lambda request: streamed(body)))
    assert type(raised.value) is LLMFailed
    assert raised.value.message.startswith(message)


async def test_complete_returns_the_first_choice_without_streaming() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200, json={"choices": [{"message": {"role": "assistant", "content": "A summary."}}]}
        )

    assert await llama(handler).complete(MESSAGES, {"max_tokens": 50}) == "A summary."
    assert sent == [{"model": "gemma", "max_tokens": 50, "messages": MESSAGES, "stream": False}]


async def test_complete_without_choices_fails() -> None:
    client = llama(lambda request: httpx.Response(200, json={"choices": []}))
    with pytest.raises(LLMFailed, match=r"llama\.cpp returned no choices"):
        await client.complete(MESSAGES, {})


async def test_a_prompt_is_counted_through_its_template_with_special_tokens() -> None:
    sent: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent[request.url.path] = json.loads(request.content)
        if request.url.path == "/apply-template":
            return httpx.Response(200, json={"prompt": "<bos>user: Hi"})
        return httpx.Response(200, json={"tokens": [2, 7, 9, {"id": 11, "piece": "Hi"}]})

    assert await llama(handler).count_prompt(MESSAGES) == 4
    assert sent["/apply-template"] == {"messages": MESSAGES}
    assert sent["/tokenize"] == {"content": "<bos>user: Hi", "add_special": True, "parse_special": True}


async def test_a_text_is_counted_without_special_tokens() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"tokens": [7, 9]})

    assert await llama(handler).count_text("Hi there") == 2
    assert sent == [{"content": "Hi there", "add_special": False, "parse_special": True}]


@pytest.mark.parametrize(
    ("status", "failure", "message"),
    [
        (400, LLMRefused, "llama.cpp /tokenize failed (400): bad things"),
        (500, LLMFailed, "llama.cpp /tokenize failed (500): bad things"),
        (503, LLMUnavailable, "llama.cpp is not ready: bad things"),
        (404, LLMUnsupported, "the model server has no /tokenize endpoint"),
        (405, LLMUnsupported, "the model server has no /tokenize endpoint"),
        (501, LLMUnsupported, "the model server has no /tokenize endpoint"),
    ],
)
async def test_an_error_status_maps_to_its_error(
    status: int, failure: type[MnemoError], message: str
) -> None:
    with pytest.raises(MnemoError) as raised:
        await llama(error(status)).count_text("Hi")
    assert type(raised.value) is failure
    assert raised.value.message == message


async def test_an_error_without_json_is_quoted_as_text() -> None:
    client = llama(lambda request: httpx.Response(400, text="template says no"))
    with pytest.raises(LLMRefused, match=r"^llama\.cpp /apply-template failed \(400\): template says no$"):
        await client.count_prompt(MESSAGES)


async def test_an_unreachable_server_is_unavailable() -> None:
    client = llama(unreachable)
    calls = [
        lambda: client.count_text("Hi"),
        lambda: client.complete(MESSAGES, {}),
        client.info,
        client.models,
    ]
    for call in calls:
        with pytest.raises(LLMUnavailable, match=r"llama\.cpp is not reachable: ConnectError"):
            await call()


async def test_info_is_read_from_props_once() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"default_generation_settings": {"n_ctx": 8192}, "total_slots": 4})

    client = llama(handler)
    assert await client.info() == ServerInfo(n_ctx=8192, total_slots=4)
    assert await client.info() == ServerInfo(n_ctx=8192, total_slots=4)
    assert paths == ["/props"]


async def test_info_falls_back_to_the_top_level_context_and_one_slot() -> None:
    client = llama(lambda request: httpx.Response(200, json={"n_ctx": 2048}))
    assert await client.info() == ServerInfo(n_ctx=2048, total_slots=1)


async def test_a_server_without_props_has_unknown_context_and_one_slot() -> None:
    assert await llama(error(404)).info() == ServerInfo(n_ctx=0, total_slots=1)


@pytest.mark.parametrize("path", ["/props", "/v1/models"])
async def test_a_failing_probe_is_unavailable(path: str) -> None:
    client = llama(error(500))
    with pytest.raises(LLMUnavailable, match=rf"^llama\.cpp {path} failed \(500\)$"):
        await (client.info() if path == "/props" else client.models())


async def test_models_are_relayed_as_served() -> None:
    listing = {"object": "list", "data": [{"id": "gemma", "object": "model"}]}
    assert await llama(lambda request: httpx.Response(200, json=listing)).models() == listing


@pytest.mark.parametrize(
    ("handler", "healthy"), [(error(200), True), (error(503), False), (unreachable, False)]
)
async def test_healthy_only_on_200(handler: Handler, healthy: bool) -> None:
    assert await llama(handler).healthy() is healthy
