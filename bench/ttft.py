"""Time to first token through Mnemo vs straight to llama.cpp, and prompt-cache use, over a 20-turn chat.

Starts its own llama-server (2 slots) and Mnemo. For each turn it asks Mnemo's /context for the exact
messages the chat will send, sends those messages straight to llama.cpp on the *other* slot (so both
paths see the same cache history: temperature 0 makes the replies identical), then sends the turn
through Mnemo's /chat. Both are timed to the first token, side by side, in one run.

    .venv/bin/python bench/ttft.py [--turns 20] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.llm.models import DEFAULT, resolve  # noqa: E402
from bench.harness import MnemoProcess, start_llama  # noqa: E402

MESSAGES = [
    "Hi! I'm Ada, I live in Lisbon and I work as a marine biologist.",
    "My daughter Mira turns seven on the 14th of March.",
    "What is a good present for a seven-year-old who loves octopuses?",
    "I am planning a trip to the Azores in June with Mira.",
    "Which whales can we see there in June?",
    "My budget for the trip is 2,400 euros.",
    "Suggest three things to pack for a boat trip.",
    "My colleague Tomas recommended a guide called Rui Medeiros.",
    "How long is the flight from Lisbon to Ponta Delgada?",
    "Write a two-line poem about the sea.",
    "What is the capital of Japan?",
    "Remind me: what is my daughter's name?",
    "Give me a tip for seasickness.",
    "I changed my mind: the budget is now 3,000 euros.",
    "What is a good name for a research boat?",
    "Which guide did Tomas recommend?",
    "Tell me a fun fact about squid.",
    "When is Mira's birthday?",
    "What did I say my job was?",
    "Thanks! Summarise my trip plans in one sentence.",
]


def slot_of(conversation_id: str, slots: int) -> int:
    return zlib.crc32(conversation_id.encode()) % slots


def direct_ttft(llama_url: str, messages: list[dict[str, str]], slot: int, max_tokens: int) -> dict[str, Any]:
    body = {
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "cache_prompt": True,
        "id_slot": slot,
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    start = time.perf_counter()
    first = None
    final: dict[str, Any] = {}
    with httpx.stream("POST", f"{llama_url}/v1/chat/completions", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                first = time.perf_counter() - start
            if chunk.get("usage"):
                final = chunk
    timings = final.get("timings", {})
    return {
        "ttft": first,
        "prompt_tokens": final["usage"]["prompt_tokens"],
        "cached": timings.get("cache_n", 0),
    }


def mnemo_ttft(client: httpx.Client, cid: str, message: str, max_tokens: int) -> dict[str, Any]:
    body = {"conversation_id": cid, "message": message, "max_tokens": max_tokens, "temperature": 0}
    start = time.perf_counter()
    first = None
    done: dict[str, Any] = {}
    event = ""
    with client.stream("POST", "/chat", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "token" and first is None:
                    first = time.perf_counter() - start
                if event == "done":
                    done = json.loads(line[5:])
                if event == "error":
                    raise RuntimeError(line)
    return {"ttft": first, **done["usage"], "budget": done["prompt"]["budget"]}


def wait_idle(llama_url: str, quiet: float = 1.5) -> None:
    """Wait until no slot has been busy for `quiet` seconds (background summaries use llama.cpp too)."""
    idle_since = time.monotonic()
    deadline = idle_since + 300
    while time.monotonic() < deadline:
        slots = httpx.get(f"{llama_url}/slots", timeout=10).json()
        if any(s.get("is_processing") for s in slots):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet:
            return
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ttft.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mnemo-bench-"))
    llama = start_llama(resolve(DEFAULT, ROOT / "data" / "models"), work, ctx=8192, slots=2)
    mnemo = MnemoProcess(work, llama.url, MNEMO_EXTRACTION_ENABLED="false")  # measured on its own
    mnemo.start()
    rows = []
    try:
        cid = "bench-ttft"
        mine = slot_of(cid, 2)
        with httpx.Client(base_url=mnemo.url) as client:
            for turn, message in enumerate(MESSAGES[: args.turns], start=1):
                wait_idle(llama.url)
                context = client.post(f"/conversations/{cid}/context", json={"query": message}).json()
                direct = direct_ttft(llama.url, context["messages"], 1 - mine, args.max_tokens)
                via = mnemo_ttft(client, cid, message, args.max_tokens)
                # Equal unless a background summary landed between /context and /chat.
                same = via["prompt_tokens"] == direct["prompt_tokens"]
                rows.append(
                    {
                        "turn": turn,
                        "memories": len(context["memories"]),
                        "same_prompt": same,
                        "mnemo": via,
                        "direct": direct,
                    }
                )
                print(
                    f"turn {turn:2d}  prompt {via['prompt_tokens']:5d}  cached {via['cached_tokens']:5d}  "
                    f"evaluated {via['evaluated_tokens']:4d}  memories {len(context['memories'])}  "
                    f"TTFT mnemo {via['ttft'] * 1000:6.0f} ms  direct {direct['ttft'] * 1000:6.0f} ms"
                    + ("" if same else "  (summary landed in between: not paired)"),
                    flush=True,
                )
    finally:
        mnemo.stop()
        llama.stop()

    prompt = sum(r["mnemo"]["prompt_tokens"] for r in rows)
    cached = sum(r["mnemo"]["cached_tokens"] for r in rows)
    paired = [r for r in rows if r["same_prompt"]]
    ttft_m = [r["mnemo"]["ttft"] for r in paired]
    ttft_d = [r["direct"]["ttft"] for r in paired]
    summary = {
        "turns": len(rows),
        "paired_turns": len(paired),
        "prompt_tokens_total": prompt,
        "cached_tokens_total": cached,
        "evaluated_tokens_total": prompt - cached,
        "cached_share": round(cached / prompt, 3),
        "ttft_mnemo_median_ms": round(statistics.median(ttft_m) * 1000, 1),
        "ttft_direct_median_ms": round(statistics.median(ttft_d) * 1000, 1),
        "ttft_ratio_median": round(statistics.median(m / d for m, d in zip(ttft_m, ttft_d, strict=True)), 3),
        "mnemo_overhead_median_ms": round(
            statistics.median((m - d) * 1000 for m, d in zip(ttft_m, ttft_d, strict=True)), 1
        ),
    }
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "turns": rows}, indent=2))


if __name__ == "__main__":
    main()
