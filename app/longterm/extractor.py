"""After a turn, off the hot path: the model proposes memory-worthy facts from the user's message.

llama.cpp constrains the reply to a bounded grammar (longterm/proposals.py), Pydantic validates it,
and each proposal goes through `Memories.create`, which merges duplicates and supersedes old facts.
A failed attempt (model down, malformed or invalid JSON) is retried a bounded number of times,
the first at temperature 0 and the retries warmer so they can differ; every outcome is counted
and each job is recorded with what it stored or why it failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
from pydantic import ValidationError

from app.conversations.models import Turn
from app.errors import LLMUnavailable, MnemoError
from app.jobs import Background, Backlog, JobLog, JobRecord
from app.llm.protocols import Completer
from app.llm.traffic import Traffic
from app.longterm.book import Memories, Outcome
from app.longterm.models import LongTermMemory, MemoryType, Source
from app.longterm.proposals import Proposal, Proposals, grammar, max_reply_tokens

log = logging.getLogger("mnemo.extractor")

# One user message, no system turn, no example: an example gets copied verbatim by small models.
INSTRUCTIONS = (
    "Extract the facts about the user from this message, as JSON memories (type, title, content, tags). "
    "Return an empty list if it states no fact about the user.\n\nMessage: "
)
WORD = re.compile(r"[a-z0-9]{4,}")


def grounded(proposal: Proposal, message: str) -> bool:
    """A proposal must share a word (4+ letters) with the message: a small model invents facts."""
    said = set(WORD.findall(message.lower()))
    return bool(said & set(WORD.findall(f"{proposal.title} {proposal.content}".lower())))


DEFAULT_QUEUED = 32  # long-term jobs waiting or running, all tenants together


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
    jobs: JobLog = field(default_factory=JobLog)

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in asdict(self).items() if k != "jobs"}
        return counts | self.jobs.as_dict()


class ExtractionFailed(MnemoError):
    status_code = 502
    code = "extraction_failed"

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


def failure_reason(exc: Exception, raw: str) -> str:
    """The kind of a failed attempt, as counted in the stats."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, LLMUnavailable):
        return "llm_unavailable"
    if isinstance(exc, MnemoError):
        return "llm_failed"
    if isinstance(exc, json.JSONDecodeError):
        cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(raw.rstrip())
        return "truncated" if cut else "invalid_json"
    return "invalid"


class Extractor:
    """Turns one user message into stored long-term memories."""

    def __init__(
        self,
        llm: Completer,
        memories: Memories,
        max_items: int = 3,
        retries: int = 2,
        timeout: float = 60.0,
    ) -> None:
        self._llm = llm
        self._timeout = timeout
        self._memories = memories
        self._max_items = max_items
        self._retries = retries
        self._grammar = grammar(max_items)
        self._max_tokens = max_reply_tokens(max_items)
        self.stats = ExtractionStats()

    def request(self, message: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": INSTRUCTIONS + message}]

    def params(self, attempt: int) -> dict[str, Any]:
        return {
            "max_tokens": self._max_tokens,
            "temperature": 0.0 if attempt == 0 else 0.6,
            "grammar": self._grammar,
        }

    async def propose(self, message: str) -> list[Proposal]:
        """The model's proposals for one message, retried on failure; raises ExtractionFailed."""
        problem, reason = "", "error"
        for attempt in range(self._retries + 1):
            if attempt:
                self.stats.retries += 1
            raw = ""
            try:
                # Bounded: a slow model must not hold a llama.cpp slot for minutes.
                with anyio.fail_after(self._timeout):
                    raw = await self._llm.complete(self.request(message), self.params(attempt))
                return Proposals.model_validate(json.loads(raw)).memories[: self._max_items]
            except (
                TimeoutError,
                MnemoError,
                ValueError,
                ValidationError,
            ) as exc:  # JSONDecodeError: ValueError
                reason = failure_reason(exc, raw)
                problem = (
                    f"the model took longer than {self._timeout:.0f} s" if reason == "timeout" else str(exc)
                )
                problem = problem[:300]
                log.info("extraction attempt %d failed (%s): %s", attempt + 1, reason, problem)
        raise ExtractionFailed(f"no valid proposal after {self._retries + 1} attempts: {problem}", reason)

    async def extract(self, message: str, project: str | None) -> list[LongTermMemory]:
        """Propose, check and store; returns what the store now holds for each kept proposal."""
        self.stats.runs += 1
        started = time.monotonic()
        try:
            proposals = await self.propose(message)
        except ExtractionFailed as exc:
            self.stats.failed += 1
            self.stats.last_error = exc.message
            self._record(message, started, exc.message, exc.reason)
            raise
        try:
            kept = await self._store(proposals, message, project)
        except MnemoError as exc:
            self._record(message, started, exc.message, "store_failed")
            raise
        stored = "; ".join(m.title for m in kept) or "nothing to keep"
        self._record(message, started, f"{len(proposals)} proposed, kept: {stored}")
        return kept

    def _record(self, message: str, started: float, detail: str, reason: str | None = None) -> None:
        subject = " ".join(message.split())[:60]
        seconds = time.monotonic() - started
        self.stats.jobs.record(JobRecord("extraction", subject, reason is None, detail, seconds, reason))

    async def _store(
        self, proposals: list[Proposal], message: str, project: str | None
    ) -> list[LongTermMemory]:
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

    Runs in background tasks, one job at a time (the model has few slots to spare); an
    extraction takes the traffic lane, so chat replies and other background jobs go first.
    At most `backlog.limit` jobs wait or run, counted across the schedulers sharing the
    backlog (every tenant's); past that a turn's job is dropped and counted.
    """

    def __init__(
        self,
        memories: Memories,
        extractor: Extractor | None,
        traffic: Traffic | None = None,
        backlog: Backlog | None = None,
    ) -> None:
        self._memories = memories
        self.extractor = extractor
        self._background = Background()
        self._one = asyncio.Lock()
        self._traffic = traffic or Traffic()
        self.backlog = backlog or Backlog(DEFAULT_QUEUED)

    def turn_stored(self, turns: Sequence[Turn], project: str | None, used: Sequence[str]) -> None:
        user = [t.content for t in turns if t.role == "user"]
        if not used and not (self.extractor and user):
            return
        if not self.backlog.take():
            log.info("long-term queue full (%d): a turn's extraction is skipped", self.backlog.limit)
            return
        task = self._background.start(self._run(" ".join(user), project, list(used)), name="long-term")
        task.add_done_callback(lambda _: self.backlog.give())  # also when cancelled before it began

    async def _run(self, message: str, project: str | None, used: list[str]) -> None:
        async with self._one:
            try:
                if used:
                    await self._memories.mark_used(used)
                if self.extractor and message.strip():
                    async with self._traffic.lane():
                        await self.extractor.extract(message, project)
                self.backlog.succeeded += 1
            except Exception as exc:  # counted by the extractor; the turn itself is safe
                self.backlog.failures += 1
                log.warning("long-term memory work after a turn failed: %s", exc)

    async def drain(self) -> None:
        await self._background.drain()

    async def aclose(self) -> None:
        await self._background.aclose()
