"""The prompt layout (pure): stable prefix first, recent window next, recalled memories last.

llama.cpp reuses the KV cache for the longest common prefix of the previous prompt, so
what changes every turn (the memories) goes at the very end, inside the newest user
message, and nothing before it changes between summaries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app.conversations.models import Recalled, Summary, Turn

Message = dict[str, str]

MEMORY_HEADER = "Memories recalled from earlier in this conversation:"
MEMORY_FOOTER = "(End of memories.)"


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def memory_label(memory: Recalled) -> str:
    """One recalled turn, tagged with its time, speaker and relevance."""
    turn = memory.turn
    speaker = turn.name or turn.role
    return f"[{when(turn.created_at)} | {speaker} | relevance {memory.score:.2f}] {turn.content}"


def memory_block(memories: Sequence[Recalled]) -> str:
    """The labelled block placed ahead of the user's words; chronological for easy reading."""
    if not memories:
        return ""
    ordered = sorted(memories, key=lambda m: m.turn.turn_index)
    lines = [MEMORY_HEADER, *(memory_label(m) for m in ordered), MEMORY_FOOTER]
    return "\n".join(lines) + "\n\n"


SUMMARY_HEADER = "Summary of the conversation so far:"


def summary_label(summary: Summary) -> str:
    """One summary, labelled with the turns and dates it covers."""
    span = f"{summary.covers_from:%Y-%m-%d} to {summary.covers_to:%Y-%m-%d}"
    return f"[turns {summary.turn_from}-{summary.turn_to}, {span}] {summary.content}"


def system_content(system_prompt: str, summaries: Sequence[Summary], long_term: str = "") -> str:
    """System prompt, then the long-term memories block (if any), then the summaries."""
    if long_term:
        system_prompt = f"{system_prompt}\n\n{long_term}"
    if not summaries:
        return system_prompt
    labels = "\n".join(summary_label(s) for s in sorted(summaries, key=lambda s: s.turn_from))
    return f"{system_prompt}\n\n{SUMMARY_HEADER}\n{labels}"


def turn_content(turn: Turn) -> str:
    return f"{turn.name}: {turn.content}" if turn.name and turn.role == "user" else turn.content


def alternate(messages: Sequence[Message]) -> list[Message]:
    """User/assistant strictly alternating, starting with the user (Gemma's template demands it).

    Leading assistant turns are dropped; consecutive turns of one role (a reply that
    failed before its first token) are joined.
    """
    result: list[Message] = []
    for message in messages:
        if not result and message["role"] != "user":
            continue
        if result and result[-1]["role"] == message["role"]:
            result[-1] = {
                "role": message["role"],
                "content": f"{result[-1]['content']}\n\n{message['content']}",
            }
        else:
            result.append(dict(message))
    return result


def build_messages(
    system_prompt: str,
    summaries: Sequence[Summary],
    window: Sequence[Turn],
    memories: Sequence[Recalled],
    message: str,
    long_term: str = "",
) -> list[Message]:
    """The exact chat messages sent to llama.cpp for one turn."""
    history = [{"role": t.role, "content": turn_content(t)} for t in window if t.role != "system"]
    current = {"role": "user", "content": memory_block(memories) + message}
    return [
        {"role": "system", "content": system_content(system_prompt, summaries, long_term)},
        *alternate([*history, current]),
    ]


ClientMessage = Mapping[str, Any]


def with_memories(message: ClientMessage, memories: Sequence[Recalled]) -> dict[str, Any]:
    """A client's newest message with the memory block ahead of its words (user messages only)."""
    block = memory_block(memories)
    if not block or message.get("role") != "user":
        return dict(message)
    content = message.get("content")
    if isinstance(content, list):
        return {**message, "content": [{"type": "text", "text": block}, *content]}
    return {**message, "content": block + str(content or "")}


def build_client_messages(
    system_prompt: str,
    summaries: Sequence[Summary],
    window: Sequence[ClientMessage],
    memories: Sequence[Recalled],
    last: ClientMessage,
) -> list[dict[str, Any]]:
    """An OpenAI client's messages as sent, with the same layout as /chat around them.

    The system message (the client's own, else Mnemo's) carries the summaries; the
    client's history is the window; the memories go inside its newest message.
    """
    return [
        {"role": "system", "content": system_content(system_prompt, summaries)},
        *(dict(m) for m in window),
        with_memories(last, memories),
    ]
