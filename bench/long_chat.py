"""A long chat through Mnemo with a 2,048-token context: prompt size and resident memory, turn by turn.

For every turn it prints the prompt tokens of Mnemo's layout (as llama.cpp reports them) beside
the tokens that sending the full history would take (which grows past the context and would
overflow), and it reads the Mnemo process's resident memory (VmRSS) at turns 10, 100, 500 and 1,000.

    .venv/bin/python bench/long_chat.py [--turns 1000] [--every 10]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.llm.models import DEFAULT, resolve  # noqa: E402
from bench.harness import MnemoProcess, start_llama  # noqa: E402
from bench.notes import message  # noqa: E402

CONTEXT = 2048
REPLY = 16
MESSAGE_OVERHEAD = 5  # Gemma's template around one message: <start_of_turn>role\n ... <end_of_turn>\n


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def count(llama_url: str, text: str) -> int:
    response = httpx.post(f"{llama_url}/tokenize", json={"content": text}, timeout=30)
    return len(response.json()["tokens"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--every", type=int, default=10, help="print one line every N turns")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "long_chat.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mnemo-long-"))
    llama = start_llama(resolve(DEFAULT, ROOT / "data" / "models"), work, ctx=2 * CONTEXT, slots=2)
    mnemo = MnemoProcess(
        work,
        llama.url,
        MNEMO_REPLY_TOKENS=str(REPLY),
        MNEMO_SUMMARY_TOKENS="64",
        MNEMO_EXTRACTION_ENABLED="false",
    )
    mnemo.start()
    assert mnemo.process is not None
    rng = random.Random(1000)
    rows: list[dict[str, Any]] = []
    memory: dict[int, float] = {}
    started = time.perf_counter()
    try:
        with httpx.Client(base_url=mnemo.url, timeout=300) as client:
            system = client.post("/conversations/bench-long/context", json={"query": "x"}).json()
            full = system["prompt_tokens"]  # the system prompt and an empty history
            for n in range(1, args.turns + 1):
                text = message(rng, n)
                body = client.post(
                    "/chat",
                    json={
                        "conversation_id": "bench-long",
                        "message": text,
                        "stream": False,
                        "temperature": 0,
                    },
                ).json()
                full += count(llama.url, text) + MESSAGE_OVERHEAD
                row = {
                    "turn": n,
                    "mnemo_prompt_tokens": body["usage"]["prompt_tokens"],
                    "cached_tokens": body["usage"]["cached_tokens"],
                    "full_history_tokens": full,
                    "overflows": full > CONTEXT - REPLY,
                    "memories": len(body["memories"]),
                }
                full += body["usage"]["completion_tokens"] + MESSAGE_OVERHEAD
                rows.append(row)
                if n in (10, 100, 500, 1000) or n == args.turns:
                    memory[n] = round(rss_mib(mnemo.process.pid), 1)
                if n % args.every == 0 or n in memory:
                    overflow = "  (overflows)" if row["overflows"] else ""
                    rss = f"  RSS {memory[n]} MiB" if n in memory else ""
                    print(
                        f"turn {n:4d}  mnemo {row['mnemo_prompt_tokens']:5d}  "
                        f"cached {row['cached_tokens']:5d}  "
                        f"full history {row['full_history_tokens']:6d}{overflow}{rss}",
                        flush=True,
                    )
            summaries = client.get("/conversations/bench-long/summaries").json()["summaries"]
    finally:
        mnemo.stop()
        llama.stop()

    first_overflow = next((r["turn"] for r in rows if r["overflows"]), None)
    summary = {
        "turns": len(rows),
        "context": CONTEXT,
        "max_mnemo_prompt_tokens": max(r["mnemo_prompt_tokens"] for r in rows),
        "prompt_budget": CONTEXT - REPLY,
        "full_history_first_overflow_turn": first_overflow,
        "full_history_tokens_at_end": rows[-1]["full_history_tokens"],
        "rss_mib": memory,
        "summaries_by_level": dict(Counter(str(s["level"]) for s in summaries)),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "turns": rows}, indent=2))


if __name__ == "__main__":
    main()
