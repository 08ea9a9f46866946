"""The streamed NDJSON import: its lines, its chunks, the route and the command, on fakes."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.schemas.conversations import parse_import_line
from app.conversations.history import NewMessage
from app.conversations.models import Turn
from app.errors import StoreUnavailable
from app.importer.__main__ import Sender
from app.importer.lines import LineTooLong, numbered_lines
from app.importer.stream import StreamImport

NDJSON = {"content-type": "application/x-ndjson"}


def line(cid: str, n: int, **fields: Any) -> str:
    message = {"conversation_id": cid, "role": "user" if n % 2 == 0 else "assistant", "content": f"{cid} {n}"}
    return json.dumps(message | fields) + "\n"


def interleaved(count: int, conversations: Sequence[str] = ("a", "b")) -> list[str]:
    """Line i goes to conversations[i % len]: its n-th message there is `<cid> <n>`."""
    k = len(conversations)
    return [line(conversations[i % k], i // k) for i in range(count)]


async def contents(client: httpx.AsyncClient, cid: str) -> list[str]:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = (
            await client.get(f"/conversations/{cid}/messages", params={"offset": offset, "limit": 1000})
        ).json()
        seen += [m["content"] for m in page["messages"]]
        offset = page["next_offset"]
    return seen


def progress(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(text) for text in response.text.splitlines()]


async def test_interleaved_conversations_import_in_order_with_progress_per_chunk(
    client: httpx.AsyncClient,
) -> None:
    body = "".join(interleaved(2500)) + "\n"  # a blank line is skipped
    response = await client.post("/conversations/import", content=body, headers=NDJSON)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert progress(response) == [
        {"imported": 1000, "conversations": 2},
        {"imported": 2000, "conversations": 2},
        {"imported": 2500, "conversations": 2, "done": True},
    ]
    assert await contents(client, "a") == [f"a {n}" for n in range(1250)]
    assert await contents(client, "b") == [f"b {n}" for n in range(1250)]


async def test_a_bad_line_in_the_first_chunk_is_its_status_and_the_lines_before_it_are_stored(
    client: httpx.AsyncClient,
) -> None:
    lines = interleaved(10)
    lines[6] = json.dumps({"conversation_id": "a", "role": "robot", "content": "x"}) + "\n"
    response = await client.post("/conversations/import", content="".join(lines), headers=NDJSON)
    assert response.status_code == 422
    body = response.json()
    assert body["imported"] == 6 and body["error"]["line"] == 7
    assert body["error"]["message"].startswith("line 7: role:")
    assert await contents(client, "a") == ["a 0", "a 1", "a 2"]
    assert await contents(client, "b") == ["b 0", "b 1", "b 2"]


async def test_a_bad_line_later_ends_the_stream_naming_it(client: httpx.AsyncClient) -> None:
    lines = interleaved(1500)
    lines[1200] = '{"conversation_id": "a b", "role": "user", "content": "x"}\n'
    response = await client.post("/conversations/import", content="".join(lines), headers=NDJSON)
    assert response.status_code == 200
    first, last = progress(response)
    assert first == {"imported": 1000, "conversations": 2}
    assert last["imported"] == 1200 and "done" not in last
    assert last["error"]["line"] == 1201 and "conversation_id" in last["error"]["message"]
    assert len(await contents(client, "a")) + len(await contents(client, "b")) == 1200


async def test_a_line_over_the_limit_is_a_413_and_not_json_a_422(client: httpx.AsyncClient) -> None:
    huge = line("a", 0, content="x" * (1 << 20))
    response = await client.post("/conversations/import", content=line("a", 0) + huge, headers=NDJSON)
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "line_too_long",
        "message": "line 2 is longer than 1,048,576 bytes",
        "line": 2,
    }
    assert response.json()["imported"] == 1
    broken = await client.post("/conversations/import", content="{not json\n", headers=NDJSON)
    assert broken.status_code == 422 and broken.json()["error"]["message"].startswith(
        "line 1: message: Invalid JSON"
    )


async def test_only_ndjson_is_taken(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/conversations/import", content=line("a", 0), headers={"content-type": "application/json"}
    )
    assert response.status_code == 415
    assert "application/x-ndjson" in response.json()["error"]["message"]
    assert await contents(client, "a") == []


class Recording:
    """An appender that records each append and how many lines had been read when it came."""

    def __init__(self, fail_on: int = 0) -> None:
        self.appends: list[tuple[str, int, int]] = []
        self.read = 0
        self._fail_on = fail_on

    async def append(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[Turn]:
        if len(self.appends) + 1 == self._fail_on:
            raise StoreUnavailable("chroma is down")
        self.appends.append((conversation_id, len(messages), self.read))
        return []

    async def lines(self, count: int) -> AsyncIterator[tuple[int, bytes]]:
        for number, text in enumerate(interleaved(count, ("a", "b", "c")), start=1):
            self.read = number
            yield number, text.rstrip("\n").encode()


async def test_lines_are_appended_a_chunk_at_a_time_before_the_rest_is_read() -> None:
    recording = Recording()
    events = [
        p
        async for p in StreamImport(recording, parse_import_line, chunk_messages=100).run(
            recording.lines(1050)
        )
    ]
    # Each chunk of 100 lines is appended, per conversation in the order first seen, right
    # after its last line is read: never more than a chunk is held.
    assert recording.appends[:3] == [("a", 34, 100), ("b", 33, 100), ("c", 33, 100)]
    appended = 0
    for _, count, read in recording.appends:
        assert read - appended <= 100
        appended += count
    assert sum(count for _, count, _ in recording.appends) == 1050
    assert [e.imported for e in events] == [100 * n for n in range(1, 11)] + [1050]
    assert events[-1].done


async def test_a_chunk_is_also_cut_at_a_byte_size() -> None:
    recording = Recording()
    importer = StreamImport(recording, parse_import_line, chunk_messages=1000, chunk_bytes=2000)
    events = [p async for p in importer.run(recording.lines(300))]
    sizes = [len(text) - 1 for text in interleaved(300, ("a", "b", "c"))]  # without the newline
    done = 0
    for event in events[:-1]:  # each chunk is cut by the line that takes it to 2,000 bytes
        chunk = sizes[done : event.imported]
        assert sum(chunk) >= 2000 > sum(chunk[:-1])
        done = event.imported
    assert events[-1].imported == 300 and len(events) > 5


async def test_a_failed_append_stops_the_import_counting_only_what_is_stored() -> None:
    recording = Recording(fail_on=2)
    events = [
        p
        async for p in StreamImport(recording, parse_import_line, chunk_messages=30).run(recording.lines(90))
    ]
    [last] = events
    assert isinstance(last.error, StoreUnavailable) and last.line is None
    assert (last.imported, last.conversations) == (10, 1)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_lines_are_split_across_chunks_and_a_long_one_is_refused_before_it_is_whole() -> None:
    found = [x async for x in numbered_lines(chunks(b"ab", b"c\r\nd", b"\n\n", b"last"), limit=10)]
    assert found == [(1, b"abc"), (2, b"d"), (3, b""), (4, b"last")]
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield b"ok\n"
        while True:
            pulled.append(1)
            yield b"x" * 8

    with pytest.raises(LineTooLong) as raised:
        async for _ in numbered_lines(endless(), limit=20):
            pass
    assert raised.value.line == 2 and len(pulled) == 3


def archive(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "archive.ndjson"
    path.write_text("".join(lines))
    return path


async def test_the_command_streams_a_file_in_slices_and_prints_progress(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    out = io.StringIO()
    sender = Sender(client, out, request_lines=2000)
    assert await sender.send(archive(tmp_path, interleaved(3500, ("a", "b", "c")))) == 0
    assert out.getvalue().splitlines() == [
        "imported 1,000 messages",
        "imported 2,000 messages",
        "imported 3,000 messages",
        "imported 3,500 messages",
        "done: imported 3,500 messages",
    ]
    assert await contents(client, "c") == [f"c {n}" for n in range(1166)]


async def test_the_command_goes_on_from_a_fixed_line(client: httpx.AsyncClient, tmp_path: Path) -> None:
    lines = interleaved(1500)
    good = lines[1100]
    lines[1100] = '{"conversation_id": "a", "role": "user"}\n'
    out = io.StringIO()
    assert await Sender(client, out, request_lines=1050).send(archive(tmp_path, lines)) == 1
    assert out.getvalue().splitlines()[-1] == (
        "stopped at line 1,101 of the file: content: Field required (invalid_input); "
        "imported 1,100 messages (the lines before it); fix it and go on with --from-line 1101"
    )
    lines[1100] = good
    out = io.StringIO()
    assert await Sender(client, out).send(archive(tmp_path, lines), first_line=1101) == 0
    assert out.getvalue().splitlines()[-1] == "done: imported 400 messages"
    assert await contents(client, "a") == [f"a {n}" for n in range(750)]
