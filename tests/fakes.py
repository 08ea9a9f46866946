"""Deterministic stand-ins for the embedder and llama.cpp, for unit and API tests."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.errors import LLMFailed, LLMRefused, LLMUnavailable
from app.llm.protocols import ChatMessage, Delta, Finished, ServerInfo, StreamEvent
from app.llm.usage import Usage
from app.storage.embedder import Kind

WORD = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Bag of words hashed into a unit vector: texts sharing words are similar."""

    def __init__(self, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.calls: list[list[str]] = []
        self.kinds: list[str] = []

    def vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dimensions
        for word in WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "big") % self.dimensions] += 1.0
        norm = math.sqrt(sum(x * x for x in vec)) or 1.0
        return [x / norm for x in vec]

    async def embed(self, texts: list[str], kind: Kind) -> list[list[float]]:
        self.calls.append(list(texts))
        self.kinds.append(kind)
        return [self.vector(t) for t in texts]


def count_words(text: str) -> int:
    return len(text.split())


class FakeTokenizer:
    """A Tokenizer that counts one token per word, plus 4 per message of template and 1 for the prompt."""

    async def count_text(self, text: str) -> int:
        return count_words(text)

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int:
        return sum(count_words(str(m.get("content") or "")) + 4 for m in messages) + 1


class QueuedCompleter:
    """A Completer answering from a queue, oldest first, then `default`; an Exception queued is raised."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.replies: list[str | Exception] = []
        self.requests: list[tuple[list[ChatMessage], dict[str, Any]]] = []

    def enqueue(self, *replies: str | Exception) -> None:
        self.replies.extend(replies)

    async def complete(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> str:
        self.requests.append((list(messages), dict(params)))
        reply = self.replies.pop(0) if self.replies else self.default
        if isinstance(reply, Exception):
            raise reply
        return reply


def gemma_refusal(messages: Sequence[ChatMessage]) -> str | None:
    """Why llama.cpp with Gemma 3's template would refuse these messages, if it would."""
    if any(m.get("role") != "assistant" and m.get("content") is None for m in messages):
        return "All non-assistant messages must contain 'content'"
    turns = list(messages[1:] if messages and messages[0].get("role") == "system" else messages)
    for n, message in enumerate(turns):
        if (message.get("role") == "user") != (n % 2 == 0):
            return "Conversation roles must alternate user/assistant/user/assistant/..."
    return None


@dataclass
class Script:
    """What the fake model answers: chunks, then usage; optionally a failure after `fail_after`."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " there", "!"])
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # deltas sent after the text
    fail_after: int | None = None
    unavailable: bool = False
    reject: bool = False
    refuse: str | None = None  # llama.cpp's 400 for a request it finds invalid


def chunk_of(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """A chunk as llama.cpp streams it."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


class FakeStream:
    def __init__(self, llm: FakeLLM, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> None:
        self._llm = llm
        self.messages = list(messages)
        self.params = dict(params)
        self.closed = False

    async def open(self) -> None:
        script = self._llm.script
        if script.unavailable:
            raise LLMUnavailable("llama.cpp is not reachable: fake")
        self._llm.check_template(self.messages, "/v1/chat/completions")
        if script.reject:
            raise LLMFailed("llama.cpp rejected the request (500): fake")
        if script.refuse:
            raise LLMRefused(f"llama.cpp rejected the request (400): {script.refuse}")

    async def events(self) -> AsyncIterator[StreamEvent]:
        script = self._llm.script
        for n, chunk in enumerate(script.chunks):
            if script.fail_after is not None and n == script.fail_after:
                raise LLMFailed("llama.cpp broke off the reply: fake")
            yield Delta(chunk, chunk_of({"content": chunk}))
        for call in script.tool_calls:
            yield Delta("", chunk_of({"tool_calls": [call]}))
        reason = "tool_calls" if script.tool_calls else "stop"
        yield Delta("", chunk_of({}, reason))
        prompt = await self._llm.count_prompt(self.messages)
        usage = {"prompt_tokens": prompt, "completion_tokens": len(script.chunks)}
        finished = {**chunk_of({}, reason), "choices": [], "usage": usage}
        yield Finished(Usage(prompt, len(script.chunks), prompt // 2, prompt - prompt // 2), reason, finished)

    async def aclose(self) -> None:
        self.closed = True


class FakeLLM:
    """A model server counting like FakeTokenizer; grammar-bound (extraction) requests go to `extraction`."""

    def __init__(self, n_ctx: int = 4096, slots: int = 2) -> None:
        self.script = Script()
        self.n_ctx = n_ctx
        self.slots = slots
        self.streams: list[FakeStream] = []
        self.completions: list[list[ChatMessage]] = []
        self.summary_text = "They talked about things."
        self.fail_summaries = False
        self.up = True
        self.extraction = QueuedCompleter('{"memories": []}')
        self.tokenizer = FakeTokenizer()
        # What the chat template refuses (None: everything goes, like Qwen's ChatML).
        self.template: Callable[[Sequence[ChatMessage]], str | None] | None = None
        self.refused: list[list[ChatMessage]] = []

    def check_template(self, messages: Sequence[ChatMessage], path: str = "/apply-template") -> None:
        reason = self.template(messages) if self.template else None
        if reason is not None:
            self.refused.append(list(messages))
            raise LLMRefused(f"llama.cpp {path} failed (400): {reason}")

    async def count_text(self, text: str) -> int:
        self._check()
        return await self.tokenizer.count_text(text)

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int:
        self._check()
        self.check_template(messages)
        return await self.tokenizer.count_prompt(messages)

    async def info(self) -> ServerInfo:
        self._check()
        return ServerInfo(n_ctx=self.n_ctx, total_slots=self.slots)

    async def healthy(self) -> bool:
        return self.up

    async def models(self) -> Mapping[str, Any]:
        self._check()
        return {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "llamacpp"}]}

    def stream_chat(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> FakeStream:
        stream = FakeStream(self, messages, params)
        self.streams.append(stream)
        return stream

    async def complete(self, messages: Sequence[ChatMessage], params: Mapping[str, Any]) -> str:
        self._check()
        if "grammar" in params:
            return await self.extraction.complete(messages, params)
        self.completions.append(list(messages))
        if self.fail_summaries:
            raise LLMFailed("fake summary failure")
        return self.summary_text

    def _check(self) -> None:
        if not self.up or self.script.unavailable:
            raise LLMUnavailable("llama.cpp is not reachable: fake")
