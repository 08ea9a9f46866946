"""An import of any length: messages of many conversations appended a chunk at a time, in order.

Lines are read, validated and held until a chunk is full (CHUNK_MESSAGES messages or
CHUNK_BYTES of lines), then each conversation's messages of the chunk are appended in
the order they came, so memory is bounded by one chunk, not by the import. A bad line
stops the import: every line before it is stored first, none after it is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from app.conversations.history import NewMessage
from app.conversations.models import Turn
from app.errors import InvalidInput, MnemoError
from app.fields import describe_errors
from app.importer.lines import LineTooLong

CHUNK_MESSAGES = 1000
CHUNK_BYTES = 8 << 20

# A line as (conversation id, message); raises ValueError (pydantic's ValidationError too) if invalid.
Parse = Callable[[bytes], tuple[str, NewMessage]]


class Appender(Protocol):
    """Appends messages to a conversation under its lock (the Recorder)."""

    async def append(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[Turn]: ...


class BadLine(InvalidInput):
    """A line that is not a valid message."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line


@dataclass(frozen=True)
class Progress:
    """How far an import is: messages stored and conversations written to.

    The last event has `done` set, or `error` when something stopped the import; then `line`
    is the first line not imported when it is known (a bad line), and every line before it is stored.
    """

    imported: int
    conversations: int
    done: bool = False
    error: MnemoError | None = None
    line: int | None = None


class Chunk:
    """The messages read since the last append, by conversation in the order first seen."""

    def __init__(self) -> None:
        self.messages: dict[str, list[NewMessage]] = {}
        self.count = 0
        self.size = 0

    def add(self, conversation_id: str, message: NewMessage, size: int) -> None:
        self.messages.setdefault(conversation_id, []).append(message)
        self.count += 1
        self.size += size


class StreamImport:
    """Reads numbered lines and appends them a chunk at a time, yielding progress after each chunk."""

    def __init__(
        self,
        appender: Appender,
        parse: Parse,
        chunk_messages: int = CHUNK_MESSAGES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._appender = appender
        self._parse = parse
        self._chunk_messages = chunk_messages
        self._chunk_bytes = chunk_bytes
        self._imported = 0
        # Ids only, so this grows with the number of conversations, not with their turns.
        self._conversations: set[str] = set()

    async def run(self, lines: AsyncIterable[tuple[int, bytes]]) -> AsyncIterator[Progress]:
        """Progress after each chunk, then a last event that is done or says what stopped the import.

        Any other failure (the client leaving mid-body) ends the import where it is: the chunks
        appended so far stay, the one being read is dropped.
        """
        chunk = Chunk()
        try:
            async for number, line in lines:
                if not line.strip():
                    continue
                chunk.add(*self._message(number, line), len(line))
                if chunk.count >= self._chunk_messages or chunk.size >= self._chunk_bytes:
                    await self._append(chunk)
                    chunk = Chunk()
                    yield self._progress()
            await self._append(chunk)
        except MnemoError as exc:
            yield await self._stopped(chunk, exc)
            return
        yield Progress(self._imported, len(self._conversations), done=True)

    def _progress(self, error: MnemoError | None = None, line: int | None = None) -> Progress:
        return Progress(self._imported, len(self._conversations), error=error, line=line)

    def _message(self, number: int, line: bytes) -> tuple[str, NewMessage]:
        try:
            return self._parse(line)
        except ValidationError as exc:
            raise BadLine(number, describe_errors(exc.errors(), whole="message")) from exc
        except ValueError as exc:
            raise BadLine(number, str(exc)) from exc

    async def _stopped(self, chunk: Chunk, exc: MnemoError) -> Progress:
        """Store the lines read before a bad one; a failed append is the error itself."""
        line = exc.line if isinstance(exc, BadLine | LineTooLong) else None
        if line is not None:
            try:
                await self._append(chunk)
            except MnemoError as failed:
                exc, line = failed, None
        return self._progress(error=exc, line=line)

    async def _append(self, chunk: Chunk) -> None:
        """Each conversation's messages in one append; one that is in is never appended again."""
        for conversation_id in list(chunk.messages):
            messages = chunk.messages[conversation_id]
            await self._appender.append(conversation_id, messages)
            del chunk.messages[conversation_id]
            self._imported += len(messages)
            self._conversations.add(conversation_id)
