"""Fitting a prompt into its token budget (pure): which memories and window turns stay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.errors import MessageTooLarge


@dataclass(frozen=True)
class Fit:
    """Keep the `memories` most relevant memories and the window from `window_start` on."""

    memories: int
    window_start: int
    tokens: int


def fit(
    fixed: int,
    window: Sequence[int],
    memories: Sequence[int],
    budget: int,
    memory_overhead: int = 0,
) -> Fit:
    """Drop the least relevant memories first, then the oldest window turns, until it fits.

    fixed: tokens of what always goes (system prompt, summary, the new message);
    window: cost of each window turn, oldest first; memories: cost of each memory,
    most relevant first; memory_overhead: cost of the block around the memories.
    """
    if fixed > budget:
        raise MessageTooLarge(
            f"The message needs {fixed} tokens with the system prompt, more than the {budget} "
            "tokens the model's context leaves for the prompt. Send a shorter message."
        )
    total = fixed + sum(window) + sum(memories) + (memory_overhead if memories else 0)
    kept = len(memories)
    while total > budget and kept > 0:
        kept -= 1
        total -= memories[kept] + (memory_overhead if kept == 0 else 0)
    start = 0
    while total > budget and start < len(window):
        total -= window[start]
        start += 1
    return Fit(memories=kept, window_start=start, tokens=total)
