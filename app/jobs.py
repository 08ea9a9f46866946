"""A record of the background jobs (summaries, extraction): what each produced, or why it failed."""

from __future__ import annotations

import logging
from collections import Counter, deque
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
