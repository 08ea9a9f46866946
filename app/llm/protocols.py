"""The seams between Mnemo and the model server: narrow protocols and the events a reply streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.llm.usage import Usage

ChatMessage = Mapping[str, Any]


@dataclass(frozen=True)
class Delta:
    """A piece of the reply as it arrives, with llama.cpp's chunk for relays that want all of it."""

    text: str
    chunk: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Finished:
    """The end of a completion, with llama.cpp's own token accounting."""

    usage: Usage
    finish_reason: str | None = None
    chunk: Mapping[str, Any] | None = None  # the final chunk, with `usage`


StreamEvent = Delta | Finished


@dataclass(frozen=True)
class ServerInfo:
    """What /props tells about the served model."""

    n_ctx: int
    total_slots: int


class Stream(Protocol):
    """An opened completion: `open()` fails early (before anything is relayed), then iterate."""

    async def open(self) -> None: ...
    def events(self) -> AsyncIterator[StreamEvent]: ...
    async def aclose(self) -> None: ...


class ChatModel(Protocol):
    """Streams a reply to a conversation: every turn's hot path."""

    def stream_chat(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> Stream: ...


class Completer(Protocol):
    """A whole reply at once: summaries and memory extraction."""

    async def complete(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> str: ...


class Tokenizer(Protocol):
    """Token counts by the served model's own template and vocabulary."""

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int: ...
    async def count_text(self, text: str) -> int: ...


class ServerProbe(Protocol):
    """What the server serves and whether it answers."""

    async def info(self) -> ServerInfo: ...
    async def healthy(self) -> bool: ...
    async def models(self) -> Mapping[str, Any]: ...


class LLM(ChatModel, Completer, Tokenizer, ServerProbe, Protocol):
    """The whole model server, as wiring builds it once and hands each part its seam."""
