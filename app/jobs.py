"""Background jobs (summaries, extraction): the tasks that run them, and a record of what each produced."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

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


class Backlog:
    """A cap on background jobs queued or running, shared by every tenant's scheduler of one kind.

    Each tenant has its own schedulers (its own conversations and memories), but the model and
    the cores are shared, so how much background work may wait is counted once for all. Also
    counts, across tenants, the jobs refused for the cap and those that failed.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
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
        self.held = max(self.held - 1, 0)
