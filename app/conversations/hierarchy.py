"""Which summaries stand for the past (pure): the hierarchy of levels and what is folded next."""

from __future__ import annotations

from collections.abc import Sequence

from app.conversations.models import Summary


def active(summaries: Sequence[Summary]) -> list[Summary]:
    """The summaries that together cover the summarised past once, oldest first.

    A summary folded into a higher level is replaced by it; what remains is a few
    high-level summaries of the distant past followed by lower-level ones of the
    recent past.
    """
    chosen: list[Summary] = []
    covered = -1
    for summary in sorted(summaries, key=lambda s: (s.turn_from, -s.level)):
        if summary.turn_from > covered:
            chosen.append(summary)
            covered = summary.turn_to
    return chosen


def covered_through(summaries: Sequence[Summary]) -> int:
    """Index of the last turn any summary covers, -1 when there is none."""
    return max((s.turn_to for s in summaries), default=-1)


def pile(summaries: Sequence[Summary], fanout: int) -> list[Summary]:
    """The oldest `fanout` active summaries of one level, when that many have piled up.

    Lower levels fold first, so the number of active summaries stays below
    fanout per level: logarithmic in the length of the conversation.
    """
    current = active(summaries)
    for level in sorted({s.level for s in current}):
        same = [s for s in current if s.level == level]
        if len(same) >= fanout:
            return same[:fanout]
    return []
