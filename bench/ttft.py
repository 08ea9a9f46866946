"""Time to first token through Mnemo vs straight to llama.cpp, and prompt-cache use, over a 20-turn chat;
or, with several --embedders, the chat's time to first token with each embedder side by side.

Starts its own llama-server (2 slots) and Mnemo. For each turn it asks Mnemo's /context for the exact
messages the chat will send, sends those messages straight to llama.cpp on the *other* slot (so both
paths see the same cache history: temperature 0 makes the replies identical), then sends the turn
through Mnemo's /chat. Both are timed to the first token, side by side, in one run.

    .venv/bin/python bench/ttft.py [--turns 20] [--max-tokens 48]

With `--embedders minilm,nomic-f16,nomic-q8_0` one Mnemo per embedder (MiniLM in process; nomic
through its own llama-server in embedding mode, as `make run` starts it with MNEMO_EMBEDDER=nomic)
holds the same chat with one llama-server, one slot each; each turn is sent to every Mnemo in turn
(the order rotating from turn to turn), every server idle before each, and each turn's TTFT is
compared with MiniLM's on the same turn.

    flock /tmp/llama.lock .venv/bin/python bench/ttft.py --embedders minilm,nomic-f16,nomic-q8_0 \
        [--chat-threads 2] [--embedder-threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.llm.models import DEFAULT, resolve  # noqa: E402
from app.llm.server import LlamaServer, config_for  # noqa: E402
from app.run import embedder_config, embedder_gguf  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.harness import MnemoProcess, free_port, start_llama  # noqa: E402

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
    recalled = 0
    event = ""
    with client.stream("POST", "/chat", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "token" and first is None:
                    first = time.perf_counter() - start
                if event == "memory":
                    recalled = len(json.loads(line[5:])["memories"])
                if event == "done":
                    done = json.loads(line[5:])
                if event == "error":
                    raise RuntimeError(line)
    return {"ttft": first, **done["usage"], "budget": done["prompt"]["budget"], "memories": recalled}


def wait_idle(*urls: str, quiet: float = 1.5) -> None:
    """Wait until no slot of these servers has been busy for `quiet` seconds (background summaries use
    llama.cpp too, and storing a turn the embedder)."""
    idle_since = time.monotonic()
    deadline = idle_since + 300
    while time.monotonic() < deadline:
        slots = [s for url in urls for s in httpx.get(f"{url}/slots", timeout=10).json()]
        if any(s.get("is_processing") for s in slots):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet:
            return
        time.sleep(0.1)


@dataclass
class Arm:
    """One embedder's Mnemo, its own conversation (on its own slot), and its embedding server if any."""

    name: str
    mnemo: MnemoProcess
    cid: str
    server: LlamaServer | None = None


def start_embedding_server(quant: str, work: Path, threads: int) -> LlamaServer:
    """nomic-embed-text of this quantisation on a free port, with `make run`'s flags."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=ROOT / "data",
        embedder="nomic",
        embedder_quant=quant,
        embedder_port=free_port(),
        embedder_threads=threads,
    )
    config = embedder_config(settings, embedder_gguf(settings))
    server = LlamaServer(config, work / f"embedding-{quant}.log")
    server.start()
    server.wait_ready()
    return server


def conversation_ids(names: list[str]) -> dict[str, str]:
    """A conversation id per arm, each on a slot of its own (Mnemo picks the slot by crc32 of the id)."""
    ids: dict[str, str] = {}
    for name in names:
        n = 0
        while slot_of(f"ttft-{name}-{n}", len(names)) in {slot_of(c, len(names)) for c in ids.values()}:
            n += 1
        ids[name] = f"ttft-{name}-{n}"
    return ids


def start_arms(names: list[str], llama_url: str, work: Path, threads: int) -> list[Arm]:
    arms: list[Arm] = []
    ids = conversation_ids(names)
    try:
        for name in names:
            data = work / name
            data.mkdir()
            env = {"MNEMO_EXTRACTION_ENABLED": "false"}  # measured on its own
            server = None
            if name.startswith("nomic-"):
                server = start_embedding_server(name.removeprefix("nomic-"), work, threads)
                env |= {"MNEMO_EMBEDDER": "nomic", "MNEMO_EMBEDDER_URL": server.url}
            arms.append(Arm(name, MnemoProcess(data, llama_url, **env), ids[name], server))
            arms[-1].mnemo.start()
    except BaseException:
        stop_arms(arms)
        raise
    return arms


def stop_arms(arms: list[Arm]) -> None:
    for arm in arms:
        arm.mnemo.stop()
        if arm.server is not None:
            arm.server.stop()


def compare_embedders(args: argparse.Namespace) -> None:
    names = args.embedders.split(",")
    if names[0] != "minilm" or not all(n in ("minilm", "nomic-f16", "nomic-q8_0") for n in names):
        sys.exit("--embedders: minilm first, then any of nomic-f16, nomic-q8_0")
    work = Path(tempfile.mkdtemp(prefix="mnemo-bench-"))
    config = config_for(
        resolve(DEFAULT, ROOT / "data" / "models"),
        free_port(),
        ctx=4096 * len(names),  # 4096 a slot, as `make run` gives each of its 2
        slots=len(names),
        threads=args.chat_threads,
    )
    llama = LlamaServer(config, work / "llama.log")
    llama.start()
    rows: list[dict[str, Any]] = []
    try:
        llama.wait_ready()
        # The first request after a start is slow whoever sends it: not one of the measured ones.
        direct_ttft(llama.url, [{"role": "user", "content": "Hello"}], 0, 4)
        arms = start_arms(names, llama.url, work, args.embedder_threads)
        servers = [llama.url] + [arm.server.url for arm in arms if arm.server is not None]
        try:
            for turn, message in enumerate(MESSAGES[: args.turns], start=1):
                order = arms[turn % len(arms) :] + arms[: turn % len(arms)]
                measured: dict[str, dict[str, Any]] = {}
                for arm in order:
                    wait_idle(*servers)
                    with httpx.Client(base_url=arm.mnemo.url) as client:
                        measured[arm.name] = mnemo_ttft(client, arm.cid, message, args.max_tokens)
                rows.append({"turn": turn, **measured})
                print(
                    f"turn {turn:2d}  "
                    + "  ".join(
                        f"{name} {m['ttft'] * 1000:5.0f} ms ({m['prompt_tokens']} tok, "
                        f"{m['evaluated_tokens']} eval, {m['memories']} mem)"
                        for name, m in ((n, measured[n]) for n in names)
                    ),
                    flush=True,
                )
        finally:
            stop_arms(arms)
    finally:
        llama.stop()
    summary = embedder_summary(names, rows, args)
    print(embedder_table(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "turns": rows}, indent=2))


def embedder_summary(
    names: list[str], rows: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """Per embedder: TTFT median, and the median over turns of its TTFT over MiniLM's on the same turn."""
    # Where llama.cpp evaluated as many prompt tokens for every arm, the TTFTs differ by what the embedder
    # costs (replies differ a little, so the prompts' lengths do too); elsewhere also by what it recalled.
    same = [r for r in rows if len({r[n]["evaluated_tokens"] for n in names}) == 1]
    out: dict[str, Any] = {
        "turns": len(rows),
        "same_eval_turns": len(same),
        "chat_threads": args.chat_threads,
        "embedder_threads": args.embedder_threads,
    }
    for name in names:
        ttft = [r[name]["ttft"] for r in rows]
        prompt = sum(r[name]["prompt_tokens"] for r in rows)
        cached = sum(r[name]["cached_tokens"] for r in rows)
        out[name] = {
            "ttft_median_ms": round(statistics.median(ttft) * 1000, 1),
            "ttft_mean_ms": round(statistics.mean(ttft) * 1000, 1),
            "ratio_to_minilm_median": round(
                statistics.median(r[name]["ttft"] / r["minilm"]["ttft"] for r in rows), 3
            ),
            "ratio_of_means": round(
                statistics.mean(ttft) / statistics.mean(r["minilm"]["ttft"] for r in rows), 3
            ),
            "same_eval_ratio_median": round(
                statistics.median(r[name]["ttft"] / r["minilm"]["ttft"] for r in same), 3
            )
            if same
            else None,
            "same_eval_extra_ms_median": round(
                statistics.median((r[name]["ttft"] - r["minilm"]["ttft"]) * 1000 for r in same), 1
            )
            if same
            else None,
            "cached_share": round(cached / prompt, 3),
            "evaluated_tokens_total": prompt - cached,
            "memories_mean": round(statistics.mean(r[name]["memories"] for r in rows), 2),
        }
    return out


def embedder_table(summary: dict[str, Any]) -> str:
    keys = [
        "ttft_median_ms",
        "ttft_mean_ms",
        "ratio_to_minilm_median",
        "ratio_of_means",
        "same_eval_ratio_median",
        "same_eval_extra_ms_median",
        "cached_share",
        "evaluated_tokens_total",
        "memories_mean",
    ]
    names = [k for k, v in summary.items() if isinstance(v, dict)]
    lines = ["| embedder | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(summary[name][k]) for k in keys) + " |")
    lines.append(
        f"{summary['turns']} turns ({summary['same_eval_turns']} with as many tokens evaluated), "
        f"chat --threads {summary['chat_threads'] or 'default'}, "
        f"embedder --threads {summary['embedder_threads']}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/ttft[-embedders].json")
    parser.add_argument("--embedders", default="", help="e.g. minilm,nomic-f16,nomic-q8_0: compare them")
    parser.add_argument(
        "--chat-threads", type=int, default=0, help="--threads of the chat server (0: its default)"
    )
    parser.add_argument("--embedder-threads", type=int, default=1, help="--threads of each embedding server")
    args = parser.parse_args()
    results = ROOT / "bench" / "results"
    args.out = args.out or results / ("ttft-embedders.json" if args.embedders else "ttft.json")
    if args.embedders:
        compare_embedders(args)
        return

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
