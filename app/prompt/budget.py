"""The token budget planner (pure): how the context is split among the parts of a prompt.

The context of one request holds the reply's reserve and the prompt. The prompt always
holds the fixed part (system prompt, pinned content, the new message); the rest is
shared by the summaries, the recalled memories and the recent window. Summaries and
memories each get a share they may not exceed while the window wants the room; the
window takes what is left, newest turns first, and when it must be cut it is cut at an
aligned turn so that its start (and so llama.cpp's cached prefix) holds for a while;
room the window leaves unused goes back to memories, then summaries. A message that
asks about the past lets memories claim a larger share, taken only from the window's
older turns: its newest turns (the exchange being continued) keep their room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.errors import MessageTooLarge


@dataclass(frozen=True)
class Shares:
    """Largest part of the prompt budget summaries and memories may claim from the window."""

    summaries: float = 0.25
    memories: float = 0.25
    memories_past: float = 0.5  # for a message that asks about the past


@dataclass(frozen=True)
class Request:
    """Token costs of every candidate part, as estimated from cached per-text counts."""

    budget: int  # tokens for the prompt (the context less the reply's reserve)
    fixed: int  # system prompt, pinned content and the new message, template included
    summaries: Sequence[int] = ()  # oldest first
    window: Sequence[int] = ()  # oldest first
    memories: Sequence[int] = ()  # most relevant first
    memory_block: int = 0  # the header and footer around the memories, when any
    window_step: int = 1  # the window is only ever cut at a multiple of this many turns
    asks_past: bool = False  # the message asks about the past: memories may claim memories_past
    window_keep: int = 0  # newest window turns the larger past share never displaces


@dataclass(frozen=True)
class Plan:
    """Keep the newest `summaries`, the `memories` most relevant, the window from `window_start`."""

    summaries: int
    memories: int
    window_start: int
    tokens: int


def _take(costs: Sequence[int], room: int) -> tuple[int, int]:
    """How many of costs (in order) fit in room, and their total."""
    used = 0
    for n, cost in enumerate(costs):
        if used + cost > room:
            return n, used
        used += cost
    return len(costs), used


def _memories_cost(costs: Sequence[int], block: int, room: int) -> tuple[int, int]:
    n, used = _take(costs, room - block) if room > block else (0, 0)
    return n, used + (block if n else 0)


def _memory_room(request: Request, shares: Shares, free: int) -> int:
    """Tokens memories may claim ahead of the window (of `free`): more for a message about the past.

    The larger share comes only out of the room the newest `window_keep` turns do not need.
    """
    share = int(request.budget * shares.memories)
    if request.asks_past and shares.memories_past > shares.memories:
        kept = request.window[len(request.window) - request.window_keep :] if request.window_keep else []
        share = max(share, min(int(request.budget * shares.memories_past), free - sum(kept)))
    return min(free, share)


def plan(request: Request, shares: Shares = Shares()) -> Plan:
    """Fit the parts into the budget; raises MessageTooLarge when the fixed part alone does not fit."""
    budget, fixed = request.budget, request.fixed
    if fixed > budget:
        raise MessageTooLarge(
            f"The message needs {fixed} tokens with the system prompt, more than the {budget} tokens "
            "the model's context leaves for the prompt. Send a shorter message."
        )
    free = budget - fixed
    newest_first = list(reversed(request.summaries))

    n_sum, sum_used = _take(newest_first, min(free, int(budget * shares.summaries)))
    n_mem, mem_used = _memories_cost(
        request.memories, request.memory_block, _memory_room(request, shares, free - sum_used)
    )
    n_win, win_used = _take(list(reversed(request.window)), free - sum_used - mem_used)
    cut = len(request.window) - n_win
    if cut > 0 and request.window_step > 1:
        # Cut further, to the next aligned turn: the turns after it keep the same prefix for the
        # next few requests instead of losing their oldest turn (and llama.cpp's cache) every time.
        aligned = min(-(-cut // request.window_step) * request.window_step, len(request.window))
        win_used -= sum(request.window[cut:aligned])
        n_win = len(request.window) - aligned

    # Room the window did not need goes back to memories, then to older summaries.
    spare = free - sum_used - mem_used - win_used
    if n_mem < len(request.memories) and spare > 0:
        more, more_used = _memories_cost(request.memories, request.memory_block, mem_used + spare)
        if more > n_mem:
            spare -= more_used - mem_used
            n_mem, mem_used = more, more_used
    if n_sum < len(newest_first) and spare > 0:
        n_sum, sum_used = _take(newest_first, sum_used + spare)

    return Plan(
        summaries=n_sum,
        memories=n_mem,
        window_start=len(request.window) - n_win,
        tokens=fixed + sum_used + mem_used + win_used,
    )
