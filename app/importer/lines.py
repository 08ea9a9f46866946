"""The numbered lines of a byte stream, each held in memory only until it is complete."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from app.errors import InvalidInput

MAX_LINE_BYTES = 1 << 20  # a 200,000-character message in UTF-8 with its JSON fields fits


class LineTooLong(InvalidInput):
    """A line longer than the limit: refused before it is held in memory whole."""

    status_code = 413
    code = "line_too_long"

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(f"line {line} is longer than {limit:,} bytes")
        self.line = line


async def numbered_lines(
    chunks: AsyncIterable[bytes], limit: int = MAX_LINE_BYTES
) -> AsyncIterator[tuple[int, bytes]]:
    """(number from 1, line without its end) for each line, the last one even without a newline.

    Memory stays below `limit` plus one chunk: a line is refused as soon as it is seen to be longer.
    """
    buffer = bytearray()
    number = 0
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            number += 1
            if end - start > limit:
                raise LineTooLong(number, limit)
            yield number, bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
        del buffer[:start]
        if len(buffer) > limit:
            raise LineTooLong(number + 1, limit)
    if buffer:
        yield number + 1, bytes(buffer).rstrip(b"\r")
