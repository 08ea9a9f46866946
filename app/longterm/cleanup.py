"""Keeping the memory book small: age and disuse limits, duplicate consolidation, a size cap.

Pinned memories are never touched. The steps run in this order, each on what the previous
left: (1) memories created more than `older_than_days` ago, (2) memories not used (injected,
retrieved or merged into) for `unused_days` (never used: counted from creation), are archived
or deleted by `action`; (3) duplicates among current memories of one type and scope (same
content, or cosine >= the duplicate threshold) are merged into the oldest; (4) if more than
`max_memories` remain, the least recently used go by `action`. `dry_run` reports, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from app.fields import utcnow
from app.longterm.book import Memories, dot
from app.longterm.models import LongTermMemory

Action = Literal["archive", "delete"]


@dataclass(frozen=True)
class CleanupPolicy:
    older_than_days: int | None = None
    unused_days: int | None = None
    action: Action = "archive"
    consolidate: bool = False
    max_memories: int | None = None
    dry_run: bool = True


@dataclass
class CleanupReport:
    dry_run: bool
    archived: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    merged: list[tuple[str, str]] = field(default_factory=list)  # (kept, removed)


def last_touch(memory: LongTermMemory) -> datetime:
    return memory.last_used_at or memory.created_at


class Cleanup:
    """Applies a CleanupPolicy to the memory book."""

    def __init__(self, memories: Memories) -> None:
        self._memories = memories

    async def run(self, policy: CleanupPolicy, now: datetime | None = None) -> CleanupReport:
        now = now or utcnow()
        report = CleanupReport(dry_run=policy.dry_run)
        rows = await self._memories.scan(with_vectors=policy.consolidate)
        vectors = {m.id: v for m, v in rows}
        # Only what the action changes: archiving leaves archived ones alone.
        live = [m for m, _ in rows if not m.pinned and (policy.action == "delete" or not m.archived)]
        doomed: list[LongTermMemory] = []
        for memory in live:
            old = policy.older_than_days is not None and memory.created_at < now - timedelta(
                days=policy.older_than_days
            )
            idle = policy.unused_days is not None and last_touch(memory) < now - timedelta(
                days=policy.unused_days
            )
            if old or idle:
                doomed.append(memory)
        gone = {m.id for m in doomed}
        merges: list[tuple[LongTermMemory, LongTermMemory]] = []
        if policy.consolidate:
            merges = self._duplicates([m for m in live if m.current and m.id not in gone], vectors)
            gone |= {removed.id for _, removed in merges}
        if policy.max_memories is not None:
            kept = [
                m for m, _ in rows if m.id not in gone and not (m.archived and policy.action == "archive")
            ]
            excess = len(kept) - policy.max_memories
            if excess > 0:
                candidates = sorted(
                    (m for m in kept if not m.pinned), key=lambda m: (last_touch(m), m.use_count, m.id)
                )
                doomed.extend(candidates[:excess])
        target = report.deleted if policy.action == "delete" else report.archived
        target.extend(m.id for m in doomed)
        report.merged = [(kept.id, removed.id) for kept, removed in merges]
        if not policy.dry_run:
            await self._apply(policy.action, doomed, merges)
        return report

    def _duplicates(
        self, memories: list[LongTermMemory], vectors: dict[str, list[float] | None]
    ) -> list[tuple[LongTermMemory, LongTermMemory]]:
        """(kept, removed) pairs: the oldest of each group of duplicates is kept."""
        threshold = self._memories.duplicate_threshold
        ordered = sorted(memories, key=lambda m: (m.created_at, m.id))
        removed: set[str] = set()
        pairs = []
        for n, keeper in enumerate(ordered):
            if keeper.id in removed:
                continue
            for other in ordered[n + 1 :]:
                if other.id in removed or (other.type, other.project) != (keeper.type, keeper.project):
                    continue
                a, b = vectors.get(keeper.id), vectors.get(other.id)
                similar = a is not None and b is not None and dot(a, b) >= threshold
                if similar or other.same_text_key == keeper.same_text_key:
                    removed.add(other.id)
                    pairs.append((keeper, other))
        return pairs

    async def _apply(
        self,
        action: Action,
        doomed: list[LongTermMemory],
        merges: list[tuple[LongTermMemory, LongTermMemory]],
    ) -> None:
        memories = self._memories
        keepers: dict[str, LongTermMemory] = {}
        for kept, removed in merges:
            base = keepers.get(kept.id, kept)
            keepers[kept.id] = replace(
                base,
                use_count=base.use_count + removed.use_count,
                tags=tuple(dict.fromkeys((*base.tags, *removed.tags))),
                updated_at=utcnow(),
            )
        await memories.rewrite(list(keepers.values()))
        await memories.remove([removed.id for _, removed in merges])
        if action == "delete":
            await memories.remove([m.id for m in doomed])
        else:
            await memories.rewrite([replace(m, archived=True, updated_at=utcnow()) for m in doomed])
