"""Costs against the store's size (issue 13), as ratios from one run against a real Mnemo and llama-server.

Parts (`--parts`, all by default, run in this order on one Mnemo with a fresh data folder):

* concurrency: `--concurrent` conversations (random UUIDs from `--seed`; the default's hash puts 5 of 8
  on one slot of 2) send a chat turn at once, `--rounds` times. Each round the
  same message lists (Mnemo's own, from POST /conversations/{id}/context) go straight to llama.cpp's
  /v1/chat/completions without a slot (llama.cpp takes any free one), and the turns go through Mnemo's
  /chat; which goes first alternates, and both servers are idle before each. The direct requests go to
  a second llama-server with the same flags (never computing while the other does): llama.cpp keeps
  recent prompts in RAM (`--cache-ram`), so on one server whichever arm went second would find its
  prompts already evaluated by the first. Each server sees only its own arm's earlier rounds, as it
  would serving that arm alone. Aggregate completion tokens/s each way and their ratio.
* import: the raw embedder (app.storage.backends.open_embedder, in this process, Mnemo idle) on the
  contextual texts Mnemo embeds (history.contextual_text), then the same turns through Mnemo's import
  API: `--conversations` conversations of `--turns` LoCoMo turns (cycled, varied ids), streamed as NDJSON
  to POST /conversations/import where Mnemo has it, else 1,000 a request to /conversations/{id}/messages.
* context: POST /conversations/{probe}/context p50/p95 on the first imported conversation (`--turns`
  turns) with the model idle (nothing queued, running or owed), once the store holds `--base` turns and
  again at `--fill-to`: by default (`--fill copy`) Mnemo is stopped and the store filled with copies of
  the imported conversations (texts, metadata and vectors under new ids, in Chroma and the keyword index,
  as Mnemo lays them out), then Mnemo is started again; `--fill import` imports them through the API
  (about an hour for 200,000 turns). Distinct LoCoMo questions each time (Mnemo caches query vectors).
* summaries: after the `--conversations` imports, /ready's summary fields and llama.cpp's busy slots,
  every `--poll` seconds for `--watch` seconds; then one chat turn in the last imported conversation
  (owed or queued) and the summaries its prompt had; the time until nothing is queued or owed; the
  summaries in the probe's context.

    flock /tmp/llama.lock .venv/bin/python bench/scale.py [--parts import,context,summaries,concurrency]
        [--conversations 20] [--turns 1000] [--base 10000] [--fill-to 200000] [--concurrent 8] [--rounds 4]
        [--max-tokens 64] [--llama-threads 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.conversations.history import contextual_text, embed_text  # noqa: E402
from app.conversations.keywords import KeywordIndex  # noqa: E402
from app.conversations.models import Turn, turn_id  # noqa: E402
from app.conversations.store import conversation_collection, turn_from_record  # noqa: E402
from app.llm.models import DEFAULT, resolve  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage.backends import open_embedder  # noqa: E402
from app.storage.chroma import chroma_client, find_collection, open_collection  # noqa: E402
from bench.harness import MnemoProcess, start_llama  # noqa: E402
from bench.locomo import conversations, messages_for, questions  # noqa: E402
from bench.ttft import MESSAGES, wait_idle  # noqa: E402

PARTS = ("concurrency", "import", "context", "summaries")
REQUEST = 1_000  # messages per request to the JSON import
TIMEOUT = httpx.Timeout(1800, connect=10)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- texts -------------------------------------------------------------------------------------------


def locomo_turns() -> list[dict[str, Any]]:
    """Every LoCoMo turn, conversation after conversation."""
    return [turn for conv in conversations().values() for turn in conv]


def conversation_messages(pool: list[dict[str, Any]], n: int, turns: int) -> list[dict[str, Any]]:
    """The messages of imported conversation `n`: `turns` LoCoMo turns from an offset of its own, cycled."""
    start = (n * 97) % len(pool)
    picked = [pool[(start + k) % len(pool)] for k in range(turns)]
    return messages_for(picked)


def contextual_texts(cid: str, messages: list[dict[str, Any]]) -> list[str]:
    """What Mnemo embeds for these turns: each with the one it replies to."""
    turns = [Turn(cid, k, m["role"], m["content"], name=m.get("name")) for k, m in enumerate(messages)]
    return [contextual_text(t, turns[k - 1] if k else None) for k, t in enumerate(turns)]


# --- import ------------------------------------------------------------------------------------------


async def raw_embedder_rate(texts: list[str]) -> dict[str, Any]:
    """The configured embedder on `texts`, a request's worth at a time, in this process."""
    settings = Settings(_env_file=None, data_dir=ROOT / "data")  # type: ignore[call-arg]
    async with open_embedder(settings) as embedder:
        await embedder.embed(texts[:64], "document")  # load and warm up
        begin = time.perf_counter()
        for k in range(0, len(texts), REQUEST):
            await embedder.embed(texts[k : k + REQUEST], "document")
        seconds = time.perf_counter() - begin
    return {"turns": len(texts), "seconds": round(seconds, 1), "rate": round(len(texts) / seconds, 1)}


class Importer:
    """Imports conversations through Mnemo's API: the NDJSON stream where Mnemo has it, else JSON."""

    def __init__(self, client: httpx.AsyncClient, streaming: bool) -> None:
        self._client = client
        self.streaming = streaming
        self.turns = 0
        self.seconds = 0.0

    @property
    def endpoint(self) -> str:
        return "/conversations/import" if self.streaming else "/conversations/{id}/messages"

    async def add(self, cid: str, messages: list[dict[str, Any]]) -> None:
        begin = time.perf_counter()
        if self.streaming:
            await self._stream(cid, messages)
        else:
            for k in range(0, len(messages), REQUEST):
                response = await self._client.post(
                    f"/conversations/{cid}/messages", json={"messages": messages[k : k + REQUEST]}
                )
                assert response.status_code == 201, response.text
        self.seconds += time.perf_counter() - begin
        self.turns += len(messages)

    async def _stream(self, cid: str, messages: list[dict[str, Any]]) -> None:
        async def lines() -> AsyncIterator[bytes]:
            for m in messages:
                yield (json.dumps({"conversation_id": cid, **m}) + "\n").encode()

        headers = {"content-type": "application/x-ndjson"}
        async with self._client.stream(
            "POST", "/conversations/import", content=lines(), headers=headers
        ) as r:
            body = [json.loads(line) async for line in r.aiter_lines() if line.strip()]
        assert r.status_code == 200 and body and "error" not in body[-1], body[-1:]

    @property
    def rate(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0


async def has_stream_import(client: httpx.AsyncClient) -> bool:
    paths = (await client.get("/openapi.json")).json()["paths"]
    return "/conversations/import" in paths


# --- context -----------------------------------------------------------------------------------------


async def context_latency(client: httpx.AsyncClient, cid: str, queries: list[str]) -> dict[str, Any]:
    """p50/p95 of the context call on `cid`, one query after another (two warm-up calls first)."""
    for query in ("hello", "what did we talk about"):
        (await client.post(f"/conversations/{cid}/context", json={"query": query})).raise_for_status()
    times: list[float] = []
    for query in queries:
        begin = time.perf_counter()
        response = await client.post(f"/conversations/{cid}/context", json={"query": query})
        times.append(time.perf_counter() - begin)
        response.raise_for_status()
    return {
        "calls": len(times),
        "p50_ms": round(percentile(times, 0.5) * 1000, 1),
        "p95_ms": round(percentile(times, 0.95) * 1000, 1),
    }


# --- fill --------------------------------------------------------------------------------------------


def copy_fill(data_dir: Path, sources: list[str], start: int, target: int, stored: int) -> int:
    """Fill the store (Mnemo stopped) to `target` turns with copies of the imported conversations.

    Each new conversation `scale-{n}` is a source's records (text, metadata, vector) under its own
    id, written to Chroma and the keyword index as Mnemo lays them out: what is measured is the
    store's size, and re-embedding 190,000 turns would take the hour the import part already times.
    Returns the turns stored at the end.
    """
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    client = chroma_client(settings)
    keywords = KeywordIndex(data_dir / "keywords.sqlite3")
    try:
        records = []
        for cid in sources:
            source = find_collection(client, conversation_collection(settings.tenant, cid))
            assert source is not None, cid
            got = source.get(include=["documents", "metadatas", "embeddings"])
            records.append((got, source.metadata))
        n = start
        while stored < target:
            got, metadata = records[n % len(records)]
            cid = f"scale-{n}"
            target_collection = open_collection(
                client, conversation_collection(settings.tenant, cid), dict(metadata or {})
            )
            metas = [{**m, "conversation_id": cid} for m in got["metadatas"]]
            ids = [turn_id(cid, int(m["turn_index"])) for m in metas]
            for k in range(0, len(ids), 1000):
                target_collection.add(
                    ids=ids[k : k + 1000],
                    documents=got["documents"][k : k + 1000],
                    metadatas=metas[k : k + 1000],
                    embeddings=got["embeddings"][k : k + 1000],
                )
            turns = [turn_from_record(doc, meta) for doc, meta in zip(got["documents"], metas, strict=True)]
            asyncio.run(keywords.add(turns, [embed_text(t) for t in turns]))
            stored += len(ids)
            n += 1
            if n % 10 == 0:
                print(f"  copied to {stored:,} stored turns ({n} conversations)", flush=True)
    finally:
        keywords.close()
    return stored


# --- summaries ---------------------------------------------------------------------------------------


def llama_busy(llama_url: str) -> int:
    return sum(1 for s in httpx.get(f"{llama_url}/slots", timeout=10).json() if s.get("is_processing"))


async def watch_summaries(
    client: httpx.AsyncClient, llama_url: str, seconds: float, every: float
) -> dict[str, Any]:
    """What /ready says about summaries, and llama.cpp's busy slots, for `seconds`."""
    samples: list[dict[str, Any]] = []
    begin = time.monotonic()
    while time.monotonic() - begin < seconds:
        ready = (await client.get("/ready")).json()
        sample = {
            "t": round(time.monotonic() - begin),
            **{k: v for k, v in ready.items() if "summar" in k},
            "llama_busy_slots": await asyncio.to_thread(llama_busy, llama_url),
        }
        samples.append(sample)
        print(f"  summaries t={sample['t']:3d}s  {json.dumps(sample)}", flush=True)
        await asyncio.sleep(every)
    busy = [s["llama_busy_slots"] for s in samples]
    return {"samples": samples, "first": samples[0], "last": samples[-1], "busy_mean": statistics.mean(busy)}


# --- concurrency -------------------------------------------------------------------------------------


async def direct_turn(
    client: httpx.AsyncClient, messages: list[dict[str, Any]], max_tokens: int
) -> dict[str, Any]:
    """One streamed completion straight to llama.cpp, as Mnemo sends it but without a slot."""
    body = {
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "cache_prompt": True,
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    usage: dict[str, Any] = {}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                usage = chunk.get("usage") or usage
    return usage


async def mnemo_turn(client: httpx.AsyncClient, cid: str, message: str, max_tokens: int) -> dict[str, Any]:
    body = {"conversation_id": cid, "message": message, "max_tokens": max_tokens, "temperature": 0}
    response = await client.post("/chat", json={**body, "stream": False})
    assert response.status_code == 200, response.text
    usage: dict[str, Any] = response.json()["usage"]
    return usage


async def timed_round(turns: list[Any]) -> tuple[float, int]:
    """All of a round's turns at once: wall seconds and completion tokens."""
    begin = time.perf_counter()
    usages = await asyncio.gather(*turns)
    return time.perf_counter() - begin, sum(int(u["completion_tokens"]) for u in usages)


async def concurrency(
    mnemo: httpx.AsyncClient, llama_url: str, direct_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """`llama_url` serves Mnemo; `direct_url`, a twin, the same requests sent straight to llama.cpp."""
    # Random UUIDs, as clients name conversations: how they fall on the slots is up to chance.
    rng = random.Random(args.seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.concurrent)]
    hashed = [sum(1 for c in ids if zlib.crc32(c.encode()) % args.slots == s) for s in range(args.slots)]
    totals = {"mnemo": [0.0, 0], "direct": [0.0, 0]}
    direct = httpx.AsyncClient(base_url=direct_url, timeout=TIMEOUT)
    # The first request after a start is slow whoever sends it: not one of the measured ones.
    for server in (llama_url, direct_url):
        async with httpx.AsyncClient(base_url=server, timeout=TIMEOUT) as warm:
            await direct_turn(warm, [{"role": "user", "content": "Hello"}], 4)
    for r in range(args.rounds):
        said = [MESSAGES[(n + r * 3) % len(MESSAGES)] for n in range(len(ids))]
        contexts = await asyncio.gather(
            *(
                mnemo.post(f"/conversations/{c}/context", json={"query": m})
                for c, m in zip(ids, said, strict=True)
            )
        )
        lists = [c.json()["messages"] for c in contexts]
        arms = ["direct", "mnemo"] if r % 2 == 0 else ["mnemo", "direct"]
        line = []
        for arm in arms:
            await asyncio.to_thread(wait_idle, llama_url, direct_url)
            if arm == "direct":
                turns = [direct_turn(direct, m, args.max_tokens) for m in lists]
            else:
                turns = [mnemo_turn(mnemo, c, m, args.max_tokens) for c, m in zip(ids, said, strict=True)]
            seconds, tokens = await timed_round(turns)
            totals[arm][0] += seconds
            totals[arm][1] += tokens
            line.append(f"{arm} {tokens} tok in {seconds:.2f} s ({tokens / seconds:.1f} tok/s)")
        print(f"  round {r + 1}: " + ", ".join(line), flush=True)
    await direct.aclose()
    rate = {arm: t[1] / t[0] for arm, t in totals.items()}
    return {
        "conversations": len(ids),
        "rounds": args.rounds,
        "hash_split": hashed,
        "mnemo_tok_s": round(rate["mnemo"], 1),
        "direct_tok_s": round(rate["direct"], 1),
        "ratio": round(rate["mnemo"] / rate["direct"], 3),
        "mnemo_tokens": totals["mnemo"][1],
        "direct_tokens": totals["direct"][1],
    }


# --- the run -----------------------------------------------------------------------------------------


async def wait_quiet(client: httpx.AsyncClient, llama_url: str, limit: float = 900) -> float:
    """Seconds until no summary is queued, running or owed and llama.cpp is idle (at most `limit`)."""
    begin = time.monotonic()
    while time.monotonic() - begin < limit:
        queue = (await client.get("/ready")).json().get("summary_queue", {})
        busy = await asyncio.to_thread(llama_busy, llama_url)
        if not busy and not any(queue.get(k) for k in ("queued", "running", "owed")):
            break
        await asyncio.sleep(2)
    return round(time.monotonic() - begin, 1)


async def measure_context(
    client: httpx.AsyncClient, llama_url: str, probe: str, stored: int, queries: list[str]
) -> dict[str, Any]:
    ready = (await client.get("/ready")).json()
    measured = {
        "stored": stored,
        "llama_busy_slots": await asyncio.to_thread(llama_busy, llama_url),
        "summaries_in_progress": ready.get("summaries_in_progress"),
        **await context_latency(client, probe, queries),
    }
    print(f"  context at {stored:,} stored turns: {measured}", flush=True)
    return measured


async def first_chat(client: httpx.AsyncClient, cid: str) -> dict[str, Any]:
    """One chat turn in an imported conversation: the summaries its prompt had, and where they came from."""
    before = (await client.get("/ready")).json()["summary_queue"]
    begin = time.perf_counter()
    await mnemo_turn(client, cid, "What did we talk about last time?", 32)
    seconds = time.perf_counter() - begin
    last = (await client.get(f"/conversations/{cid}/context")).json()
    return {
        "conversation": cid,
        "queue_before": before,
        "turn_seconds": round(seconds, 1),
        "prompt_summaries": len(last.get("summaries", [])),
    }


async def store_parts(
    client: httpx.AsyncClient,
    mnemo: MnemoProcess,
    llama_url: str,
    args: argparse.Namespace,
    out: dict[str, Any],
) -> httpx.AsyncClient:
    """import, context and summaries on one data folder; returns the client of the Mnemo now running.

    The probe's context is measured with the model idle (no summary queued, running or owed) at
    `--base` stored turns and again at `--fill-to`, filled by `--fill`: copies of the imported
    conversations written to the stopped store (`copy`), or more imports through the API (`import`).
    """
    pool = locomo_turns()
    asked = [q["question"] for q in questions()]
    importer = Importer(client, await has_stream_import(client))
    measured = (
        max(args.conversations, -(-args.base // args.turns))
        if "context" in args.parts
        else args.conversations
    )
    if "import" in args.parts:
        texts = [
            text
            for n in range(args.conversations)
            for text in contextual_texts(f"scale-{n}", conversation_messages(pool, n, args.turns))
        ]
        print(f"raw embedder on {len(texts):,} contextual texts ...", flush=True)
        out["raw_embedder"] = await raw_embedder_rate(texts)
        print(f"  {out['raw_embedder']}", flush=True)
    probe = "scale-0"
    for n in range(measured):
        await importer.add(f"scale-{n}", conversation_messages(pool, n, args.turns))
        print(
            f"  stored {importer.turns:,} turns ({n + 1} conversations), {importer.rate:.1f} turns/s",
            flush=True,
        )
        if "context" in args.parts and importer.turns >= args.base and "context_base" not in out:
            out["quiet_before_base_s"] = await wait_quiet(client, llama_url)
            out["context_base"] = await measure_context(client, llama_url, probe, importer.turns, asked[:40])
        if n + 1 == args.conversations:
            if "import" in args.parts:
                out["import"] = {
                    "turns": importer.turns,
                    "seconds": round(importer.seconds, 1),
                    "rate": round(importer.rate, 1),
                    "endpoint": importer.endpoint,
                }
            if "summaries" in args.parts:
                print(f"summaries after {n + 1} imported conversations:", flush=True)
                out["summaries"] = await watch_summaries(client, llama_url, args.watch, args.poll)
                out["summaries"]["first_chat"] = await first_chat(client, f"scale-{n}")
                print(f"  first chat: {out['summaries']['first_chat']}", flush=True)
                out["summaries"]["quiet_after_s"] = await wait_quiet(client, llama_url)
                context = (await client.post(f"/conversations/{probe}/context", json={"query": "hi"})).json()
                out["summaries"]["probe_context_summaries"] = len(context["summaries"])
    if "context" not in args.parts:
        return client
    stored = importer.turns
    begin = time.perf_counter()
    if args.fill == "copy":
        await client.aclose()
        mnemo.stop()
        sources = [f"scale-{n}" for n in range(1, measured)]
        stored = await asyncio.to_thread(copy_fill, mnemo.data_dir, sources, measured, args.fill_to, stored)
        mnemo.start()
        client = httpx.AsyncClient(base_url=mnemo.url, timeout=TIMEOUT)
    else:
        n = measured
        while stored < args.fill_to:
            await importer.add(f"scale-{n}", conversation_messages(pool, n, args.turns))
            stored, n = importer.turns, n + 1
            print(f"  filled to {stored:,} stored turns", flush=True)
        await wait_quiet(client, llama_url)
    out["fill"] = {"how": args.fill, "seconds": round(time.perf_counter() - begin, 1)}
    out["context_full"] = await measure_context(client, llama_url, probe, stored, asked[40:80])
    return client


def row(part: str, measure: str, value: str, target: str = "") -> str:
    return f"| {part} | {measure} | {value} | {target} |"


def table(out: dict[str, Any]) -> str:
    rows = [row("part", "measure", "value", "target"), "|---|---|---|---|"]
    if "import" in out:
        imp, raw = out["import"], out["raw_embedder"]
        rows += [
            row("import", f"Mnemo ({imp['endpoint']})", rate(imp)),
            row("import", "raw embedder, same texts", rate(raw)),
            row("import", "ratio", f"{imp['rate'] / raw['rate']:.2f}x", ">= 0.8x"),
        ]
    if "context_base" in out and "context_full" in out:
        base, full = out["context_base"], out["context_full"]
        for ctx in (base, full):
            busy = f"llama.cpp busy slots {ctx['llama_busy_slots']}, summaries {ctx['summaries_in_progress']}"
            value = f"{ctx['p50_ms']} / {ctx['p95_ms']} ms ({busy})"
            rows.append(row("context", f"p50 / p95 at {ctx['stored']:,} stored", value))
        rows.append(row("context", "p50 ratio", f"{full['p50_ms'] / base['p50_ms']:.2f}x", "<= 1.3x"))
    if "summaries" in out:
        summ = out["summaries"]
        rows += [
            row("summaries", "/ready at the watch's start", json.dumps(summ["first"])),
            row(
                "summaries",
                f"/ready after {summ['last']['t']} s",
                json.dumps(summ["last"]),
                "no queue over the cap",
            ),
            row("summaries", "llama.cpp busy slots, mean", f"{summ['busy_mean']:.2f}"),
            row("summaries", "first chat in the last imported conversation", json.dumps(summ["first_chat"])),
            row("summaries", "seconds until nothing queued or owed", str(summ["quiet_after_s"])),
            row("summaries", "summaries in the probe's context", str(summ["probe_context_summaries"])),
        ]
    if "concurrency" in out:
        con = out["concurrency"]
        rows += [
            row(
                "concurrency",
                f"{con['conversations']} x {con['rounds']} rounds via Mnemo",
                f"{con['mnemo_tok_s']} tok/s",
            ),
            row("concurrency", "same message lists, llama.cpp direct", f"{con['direct_tok_s']} tok/s"),
            row("concurrency", f"ratio (hash split {con['hash_split']})", f"{con['ratio']:.2f}x", ">= 0.9x"),
        ]
    return "\n".join(rows)


def rate(measured: dict[str, Any]) -> str:
    return f"{measured['rate']} turns/s ({measured['turns']:,} in {measured['seconds']} s)"


async def run(
    args: argparse.Namespace, llama_url: str, process: MnemoProcess, direct_url: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if k != "out"}}
    mnemo = httpx.AsyncClient(base_url=process.url, timeout=TIMEOUT)
    try:
        if direct_url is not None:
            print(f"concurrency: {args.concurrent} conversations x {args.rounds} rounds", flush=True)
            out["concurrency"] = await concurrency(mnemo, llama_url, direct_url, args)
        if {"import", "context", "summaries"} & set(args.parts):
            mnemo = await store_parts(mnemo, process, llama_url, args, out)
    finally:
        await mnemo.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    parser.add_argument("--conversations", type=int, default=20, help="imported before the summaries watch")
    parser.add_argument("--turns", type=int, default=1000, help="turns per imported conversation")
    parser.add_argument("--base", type=int, default=10_000, help="stored turns at the context's 1st measure")
    parser.add_argument(
        "--fill-to", type=int, default=200_000, help="stored turns at the context's 2nd measure"
    )
    parser.add_argument(
        "--fill", choices=("copy", "import"), default="copy", help="how the store grows to --fill-to"
    )
    parser.add_argument("--watch", type=float, default=60, help="seconds of the summaries watch")
    parser.add_argument("--poll", type=float, default=5, help="seconds between the watch's samples")
    parser.add_argument("--concurrent", type=int, default=8, help="conversations chatting at once")
    parser.add_argument("--rounds", type=int, default=4, help="turns of each concurrent conversation")
    parser.add_argument("--seed", type=int, default=1, help="of the concurrent conversations' ids")
    parser.add_argument("--max-tokens", type=int, default=64, help="reply tokens of each concurrent turn")
    parser.add_argument("--slots", type=int, default=2, help="llama.cpp slots (--parallel)")
    parser.add_argument("--ctx", type=int, default=8192, help="llama.cpp context, shared by the slots")
    parser.add_argument("--llama-threads", type=int, default=0, help="llama.cpp --threads (0: its default)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = parser.parse_args()
    args.parts = [p for p in args.parts.split(",") if p]
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; choose from {','.join(PARTS)}")
    if "context" in args.parts and args.fill_to <= args.base:
        parser.error(f"--fill-to must be above --base ({args.base:,}), the context part's first measure")

    work = Path(tempfile.mkdtemp(prefix="mnemo-scale-"))
    model = resolve(DEFAULT, ROOT / "data" / "models")
    llama = start_llama(model, work, ctx=args.ctx, slots=args.slots, threads=args.llama_threads)
    env = {
        "MNEMO_EXTRACTION_ENABLED": "false",  # a model call after each turn, measured on its own
        "MNEMO_LLAMA_SLOTS": str(args.slots),
        "MNEMO_LLM_TIMEOUT": "1800",  # turns queued on the slots of a busy machine are slow, not failed
    }
    mnemo = MnemoProcess(work, llama.url, **env)
    twin = None
    try:
        if "concurrency" in args.parts:  # the direct arm's own server (the module's docstring says why)
            twin = start_llama(model, work, ctx=args.ctx, slots=args.slots, threads=args.llama_threads)
        mnemo.start()
        out = asyncio.run(run(args, llama.url, mnemo, twin.url if twin else None))
    finally:
        mnemo.stop()
        llama.stop()
        if twin is not None:
            twin.stop()
    print(table(out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
