"""After a turn, off the hot path: the model proposes memory-worthy facts from the user's message.

llama.cpp constrains the reply to a JSON schema (a grammar), Pydantic validates it, and each
proposal goes through `Memories.create`, which merges duplicates and supersedes old facts.
A failed attempt (model down, malformed or invalid JSON) is retried a bounded number of times,
the first at temperature 0 and the retries warmer so they can differ; every outcome is counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Protocol

import anyio
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from app.errors import MnemoError
from app.memory.longterm import LongTermMemory, MemoryType, Source
from app.memory.memories import Memories, Outcome
from app.memory.types import Turn

log = logging.getLogger("mnemo.extractor")

# One user message, no system turn, no example: with a system turn Gemma 270M mostly answers an
# empty list, and an example gets copied verbatim. Measured in docs/memories.md.
INSTRUCTIONS = (
    "Extract the facts about the user from this message, as JSON memories (type, title, content, tags). "
    "Return an empty list if it states no fact about the user.\n\nMessage: "
)
WORD = re.compile(r"[a-z0-9]{4,}")


def _trimmed(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


def _tags(values: list[str]) -> list[str]:
    tags = [" ".join(v.replace("|", " ").split()).lower()[:64] for v in values]
    return list(dict.fromkeys(t for t in tags if t))[:5]


class Proposal(BaseModel):
    type: MemoryType
    title: Annotated[str, Field(max_length=200), AfterValidator(_trimmed)]
    content: Annotated[str, Field(max_length=2000), AfterValidator(_trimmed)]
    tags: Annotated[list[str], AfterValidator(_tags)] = Field(default_factory=list)


class Proposals(BaseModel):
    memories: list[Proposal] = Field(max_length=10)


def schema(max_items: int) -> dict[str, Any]:
    """The JSON schema llama.cpp turns into a grammar: kept small for a 270M model."""
    return {
        "type": "object",
        "properties": {
            "memories": {
                "type": "array",
                "maxItems": max_items,
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": [t.value for t in MemoryType]},
                        # No string length bounds: llama.cpp expands them into huge grammars that
                        # make sampling with Gemma's 262k-token vocabulary crawl.
                        "title": {"type": "string"},
                        "content": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                    },
                    "required": ["type", "title", "content", "tags"],
                },
            }
        },
        "required": ["memories"],
    }


def grounded(proposal: Proposal, message: str) -> bool:
    """A proposal must share a word (4+ letters) with the message: a small model invents facts."""
    said = set(WORD.findall(message.lower()))
    return bool(said & set(WORD.findall(f"{proposal.title} {proposal.content}".lower())))


class Completer(Protocol):
    async def complete(self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str: ...


@dataclass
class ExtractionStats:
    """Counts since start-up; `stored` counts only memories the store accepted."""

    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    proposed: int = 0
    ungrounded: int = 0
    created: int = 0
    merged: int = 0
    superseded: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExtractionFailed(MnemoError):
    status_code = 502
    code = "extraction_failed"


class Extractor:
    """Turns one user message into stored long-term memories."""

    def __init__(
        self,
        llm: Completer,
        memories: Memories,
        max_items: int = 3,
        retries: int = 2,
        max_tokens: int = 320,
        timeout: float = 60.0,
    ) -> None:
        self._llm = llm
        self._timeout = timeout
        self._memories = memories
        self._max_items = max_items
        self._retries = retries
        self._max_tokens = max_tokens
        self.stats = ExtractionStats()

    def request(self, message: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": INSTRUCTIONS + message}]

    def params(self, attempt: int) -> dict[str, Any]:
        return {
            "max_tokens": self._max_tokens,
            "temperature": 0.0 if attempt == 0 else 0.6,
            "response_format": {"type": "json_schema", "json_schema": {"schema": schema(self._max_items)}},
        }

    async def propose(self, message: str) -> list[Proposal]:
        """The model's proposals for one message, retried on failure; raises ExtractionFailed."""
        problem = ""
        for attempt in range(self._retries + 1):
            if attempt:
                self.stats.retries += 1
            try:
                # Bounded: a model stuck in a long string must not hold a llama.cpp slot for minutes.
                with anyio.fail_after(self._timeout):
                    raw = await self._llm.complete(self.request(message), self.params(attempt))
                return Proposals.model_validate(json.loads(raw)).memories[: self._max_items]
            except TimeoutError:
                problem = f"the model took longer than {self._timeout:.0f} s"
                log.info("extraction attempt %d timed out", attempt + 1)
            except (MnemoError, ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
                problem = str(exc)[:300]
                log.info("extraction attempt %d failed: %s", attempt + 1, problem)
        raise ExtractionFailed(f"no valid proposal after {self._retries + 1} attempts: {problem}")

    async def extract(self, message: str, project: str | None) -> list[LongTermMemory]:
        """Propose, check and store; returns what the store now holds for each kept proposal."""
        self.stats.runs += 1
        try:
            proposals = await self.propose(message)
        except ExtractionFailed as exc:
            self.stats.failed += 1
            self.stats.last_error = exc.message
            raise
        self.stats.succeeded += 1
        self.stats.proposed += len(proposals)
        kept: list[LongTermMemory] = []
        for proposal in proposals:
            if not grounded(proposal, message):
                self.stats.ungrounded += 1
                continue
            # Preferences are about the person: global. Other facts belong to the conversation's project.
            scope = None if proposal.type == MemoryType.USER_PREFERENCE else project
            memory = LongTermMemory(
                type=proposal.type,
                title=proposal.title,
                content=proposal.content,
                tags=tuple(proposal.tags),
                project=scope,
                source=Source.EXTRACTED,
            )
            stored = await self._memories.create(memory)
            if stored.outcome == Outcome.MERGED:
                self.stats.merged += 1
            elif stored.outcome == Outcome.SUPERSEDED:
                self.stats.superseded += 1
            else:
                self.stats.created += 1
            kept.append(stored.memory)
        return kept


class LongTermScheduler:
    """After each stored turn: count the injected memories as used, and extract new ones.

    Runs in background tasks, one job at a time (the model has few slots to spare).
    """

    def __init__(self, memories: Memories, extractor: Extractor | None) -> None:
        self._memories = memories
        self.extractor = extractor
        self._tasks: set[asyncio.Task[None]] = set()
        self._one = asyncio.Lock()

    def turn_stored(self, turns: Sequence[Turn], project: str | None, used: Sequence[str]) -> None:
        user = [t.content for t in turns if t.role == "user"]
        if not used and not (self.extractor and user):
            return
        task = asyncio.create_task(self._run(" ".join(user), project, list(used)), name="long-term")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, message: str, project: str | None, used: list[str]) -> None:
        async with self._one:
            try:
                if used:
                    await self._memories.mark_used(used)
                if self.extractor and message.strip():
                    await self.extractor.extract(message, project)
            except Exception as exc:  # counted by the extractor; the turn itself is safe
                log.warning("long-term memory work after a turn failed: %s", exc)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
