"""Background jobs (summaries, extraction): the tasks that run them, and a record of what each produced."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cachetools import LRUCache

log = logging.getLogger("mnemo.jobs")


@dataclass(frozen=True)
class JobRecord:
    """One finished job. `reason` names the kind of failure (timeout, truncated, invalid_json, ...)."""

    kind: str
    subject: str
    ok: bool
    detail: str
    seconds: float
    reason: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat(), "seconds": round(self.seconds, 2)}


class JobLog:
    """The last few jobs of each kind, failures counted by reason, each job written to the log."""

    def __init__(self, keep: int = 20) -> None:
        self._recent: deque[JobRecord] = deque(maxlen=keep)
        self.failures: Counter[str] = Counter()

    def record(self, record: JobRecord) -> None:
        self._recent.append(record)
        if record.ok:
            log.info("%s of %s: %s (%.1f s)", record.kind, record.subject, record.detail, record.seconds)
        else:
            self.failures[record.reason or "error"] += 1
            log.warning("%s of %s failed (%s): %s", record.kind, record.subject, record.reason, record.detail)

    def as_dict(self) -> dict[str, Any]:
        return {
            "failures": dict(self.failures),
            "recent": [r.as_dict() for r in reversed(self._recent)],
        }


class Background:
    """Tasks run off the hot path: held until done, awaited by `drain`, cancelled by `aclose`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait until no task runs, including tasks started while waiting."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every task and wait for them to end."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


OWED = 10_000  # refused jobs remembered across tenants; past it the oldest wait for their next scheduling


class Debtor(Protocol):
    """A scheduler the backlog owes work: `resume` starts the job for `key` if it still can."""

    def resume(self, key: str) -> None: ...


class Backlog:
    """A cap on background jobs queued or running, shared by every tenant's scheduler of one kind.

    Each tenant has its own schedulers (its own conversations and memories), but the model and
    the cores are shared, so how much background work may wait is counted once for all. Also
    counts, across tenants, the jobs refused for the cap and those that failed, and remembers
    the refused jobs a scheduler asks it to (`owe`): when a job ends, the longest-owed one of
    any tenant takes the room.
    """

    def __init__(self, limit: int, owed: int = OWED) -> None:
        self.limit = max(limit, 1)
        self._owed: LRUCache[tuple[Debtor, str], None] = LRUCache(maxsize=max(owed, 1))
        self.held = 0  # jobs queued or running now
        self.started = 0
        self.dropped = 0
        self.succeeded = 0  # what the schedulers count as done (summaries written, jobs finished)
        self.failures = 0

    def take(self) -> bool:
        """Room for one more job (then `give` it back when it ends); False, counted dropped, if full."""
        if self.held >= self.limit:
            self.dropped += 1
            return False
        self.held += 1
        self.started += 1
        return True

    def give(self) -> None:
        """A job ended: its room goes back, and the longest-owed jobs (any tenant's) may take it."""
        self.held = max(self.held - 1, 0)
        while self._owed and self.held < self.limit:
            (debtor, key), _ = self._owed.popitem()  # the least recently owed
            debtor.resume(key)  # takes the room, unless that job runs already or its scheduler closed

    def owe(self, debtor: Debtor, key: str) -> None:
        """Remember a job the cap refused, to `debtor.resume(key)` when room frees."""
        self._owed[(debtor, key)] = None

    def settle(self, debtor: Debtor, key: str) -> bool:
        """Forget an owed job (it runs now some other way); whether it was owed."""
        return self._owed.pop((debtor, key), False) is None

    def owed_to(self, debtor: Debtor) -> int:
        """How many of the owed jobs are this scheduler's."""
        return sum(1 for owner, _ in self._owed if owner is debtor)

    def forget(self, debtor: Debtor) -> None:
        """Forget every job owed to a scheduler that closes."""
        for entry in [entry for entry in self._owed if entry[0] is debtor]:
            del self._owed[entry]
