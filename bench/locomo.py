"""The LoCoMo development set (../shared/data/locomo-dev, read in place) and its import into Mnemo."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "locomo-dev"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open() as file:
        return [json.loads(line) for line in file]


def content(turn: dict[str, Any]) -> str:
    caption = turn.get("blip_caption")
    return f"{turn['text']} [shares a photo: {caption}]" if caption else str(turn["text"])


def messages_for(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = turns[0]["speaker"]
    return [
        {
            "role": "user" if t["speaker"] == first else "assistant",
            "content": content(t),
            "name": t["speaker"],
            "created_at": t["date_time_iso"],
        }
        for t in turns
    ]


def conversations() -> dict[str, list[dict[str, Any]]]:
    """Each conversation's turns in session order (turn_index counts within a session)."""
    by_conv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for turn in load("turns.jsonl"):
        by_conv[turn["conversation_id"]].append(turn)
    for conv in by_conv.values():
        conv.sort(key=lambda t: (t["session"], t["turn_index"]))
    return dict(by_conv)


def questions() -> list[dict[str, Any]]:
    """Questions of categories 1-4 that name their evidence."""
    return [q for q in load("questions.jsonl") if q["category"] in CATEGORIES and q["evidence"]]


async def import_all(
    client: httpx.AsyncClient, by_conv: dict[str, list[dict[str, Any]]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Import every conversation through Mnemo's route; maps (conversation, dia_id) to its stored turn."""
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    for cid, conv in by_conv.items():
        msgs = messages_for(conv)
        indices: list[int] = []
        for begin in range(0, len(msgs), 1000):
            response = await client.post(
                f"/conversations/{cid}/messages", json={"messages": msgs[begin : begin + 1000]}
            )
            assert response.status_code == 201, response.text
            indices += response.json()["turn_indices"]
        for turn, msg, index in zip(conv, msgs, indices, strict=True):
            stored[(cid, turn["dia_id"])] = {**msg, "turn_index": index}
    return stored


class NoSummaries:
    """Nothing is folded: the evaluation measures retrieval and the window, not summaries."""

    async def fold(self, conversation_id: str) -> None:
        return None
