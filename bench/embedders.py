"""The embedders side by side on the LoCoMo development set, each with its relevance gate calibrated.

MiniLM runs in-process (the default); nomic-embed-text-v1.5, f16 and Q8_0, each behind a llama-server
that this bench starts in embedding mode (one at a time, so only one server computes; the chat
llama-server only counts tokens). For each embedder:
- bench/locomo_eval.py's evaluate(): recall@5/10/25, evidence in prompt at 1,024/2,048/4,096 tokens,
  unrelated questions with no memory block at the configured gate (0.3 by default), context latency;
- the import rate (turns/s);
- the context call on the largest conversation with a query not embedded before, split into the
  query's embedding and the rest (the same call again, its vector now cached);
- the gate calibration: the top cosine of each unrelated question and of each dev question, and the
  cosine of each evidence turn; the lowest threshold (0.01 steps) that leaves >= 90% of unrelated
  questions without memories, and the share of evidence still above it;
- evaluate() again with that threshold, on the same import.

    flock /tmp/llama.lock .venv/bin/python bench/embedders.py [--only nomic-q8_0] [--limit 40] [--set k=v]

The calibration is fitted on the same fifty unrelated questions that measure it: a first estimate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.llm.models import DEFAULT, resolve  # noqa: E402
from app.llm.nomic import NOMIC, NOMIC_Q8_0  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage.backends import gates  # noqa: E402
from app.wiring import Services  # noqa: E402
from bench.harness import start_embedding_server, start_llama  # noqa: E402
from bench.locomo import conversations, questions  # noqa: E402
from bench.locomo_eval import evaluate, parse_overrides, pct, unrelated_questions  # noqa: E402

MODELS = ROOT / "data" / "models"
NOMIC_MODEL = "nomic-embed-text-v1.5"  # the name that makes Mnemo apply nomic's prefixes
NO_BLOCK_TARGET = 0.9
EVERYWHERE = 10**9  # `before` that admits every stored turn


@dataclass(frozen=True)
class Candidate:
    """An embedder under test: in-process MiniLM (no file), or a GGUF behind a llama-server."""

    name: str
    gguf: str | None = None


CANDIDATES = {
    c.name: c
    for c in (
        Candidate("minilm"),
        Candidate("nomic-f16", NOMIC.file),
        Candidate("nomic-q8_0", NOMIC_Q8_0.file),
    )
}


def calibrated_threshold(unrelated_tops: list[float], target: float = NO_BLOCK_TARGET) -> float:
    """The lowest threshold on a 0.01 grid under which >= `target` of the unrelated questions keep no memory.

    A memory passes the gate when its cosine is >= the threshold, so a question gets no block when its
    top cosine is below it.
    """
    allowed = math.floor(len(unrelated_tops) * (1 - target) + 1e-9)  # questions that may still get one
    ordered = sorted(unrelated_tops, reverse=True)
    if allowed >= len(ordered):
        return -1.0
    return round(math.floor(ordered[allowed] * 100 + 1e-9) / 100 + 0.01, 2)


def share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3) if flags else 0.0


def summary(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "p10": round(pct(values, 0.1), 3),
        "p50": round(pct(values, 0.5), 3),
        "p90": round(pct(values, 0.9), 3),
        "max": round(max(values), 3),
    }


class GateProbe:
    """Measures, on the imported dev set, what the gate sees and the context call's parts."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}  # what the run imported, for a re-run

    async def __call__(
        self, services: Services, client: httpx.AsyncClient, stored: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        self.stored = stored
        asked = questions()[: self.limit] if self.limit else questions()
        return {
            "gate": await self.gate(services, asked, stored),
            "latency": await self.latency(services, client, asked),
        }

    async def top_cosine(self, services: Services, cid: str, question: str) -> tuple[list[float], float]:
        [vector] = await services.embedder.embed([question], "query")
        [top] = await services.store.search(cid, vector, 1, EVERYWHERE)
        return vector, top.score

    async def gate(
        self, services: Services, asked: list[dict[str, Any]], stored: dict[tuple[str, str], dict[str, Any]]
    ) -> dict[str, Any]:
        unrelated = [
            (await self.top_cosine(services, cid, q))[1] for cid, q in unrelated_questions(conversations())
        ]
        dev_tops: list[float] = []
        evidence: list[list[float]] = []  # per question, the cosine of each evidence turn
        for q in asked:
            cid = q["conversation_id"]
            indices = [stored[(cid, d)]["turn_index"] for d in q["evidence"] if (cid, d) in stored]
            if not indices:
                continue
            vector, top = await self.top_cosine(services, cid, q["question"])
            dev_tops.append(top)
            evidence.append([m.score for m in await services.store.score(cid, indices, vector)])
        threshold = calibrated_threshold(unrelated)
        flat = [c for cosines in evidence for c in cosines]

        def above(t: float) -> dict[str, float]:
            return {
                "unrelated_without_memories": share([u < t for u in unrelated]),
                "dev_with_memories": share([d >= t for d in dev_tops]),
                "evidence_turns_above": share([c >= t for c in flat]),
                "questions_with_all_evidence_above": share([min(cs) >= t for cs in evidence if cs]),
                "questions_with_some_evidence_above": share([max(cs) >= t for cs in evidence if cs]),
            }

        return {
            "threshold": threshold,
            "at_threshold": above(threshold),
            "at_configured": above(gates(services.settings).recall),
            "unrelated_top": summary(unrelated),
            "dev_top": summary(dev_tops),
            "evidence": summary(flat),
            "unrelated_tops": sorted(round(u, 4) for u in unrelated),
        }

    async def latency(
        self, services: Services, client: httpx.AsyncClient, asked: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The largest conversation's questions with a trailing space, so their vector is not cached yet.

        Both tokenizers drop trailing whitespace: the vector is the question's own (checked: `same_vector`).
        """
        by_conv = conversations()
        cid = max(by_conv, key=lambda c: len(by_conv[c]))
        total: list[float] = []
        rest: list[float] = []
        embedding: list[float] = []
        same = 1.0
        for q in (q for q in asked if q["conversation_id"] == cid):
            fresh = q["question"] + " "
            for times in (total, rest):  # the second call finds the query's vector cached
                t0 = time.perf_counter()
                response = await client.post(
                    f"/conversations/{cid}/context", json={"query": fresh, "max_tokens": 2048}
                )
                times.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
            t0 = time.perf_counter()
            [vector] = await services.embedder.embed([q["question"] + "  "], "query")
            embedding.append(time.perf_counter() - t0)
            [own] = await services.embedder.embed([q["question"]], "query")
            same = min(same, sum(a * b for a, b in zip(vector, own, strict=True)))

        def ms(values: list[float], q: float) -> float:
            return round(pct(values, q) * 1000, 1) if values else 0.0

        return {
            "conversation": cid,
            "turns": len(by_conv[cid]),
            "calls": len(total),
            "context_p50_ms": ms(total, 0.5),
            "context_p95_ms": ms(total, 0.95),
            "rest_p50_ms": ms(rest, 0.5),
            "rest_p95_ms": ms(rest, 0.95),
            "embedding_p50_ms": ms(embedding, 0.5),
            "embedding_p95_ms": ms(embedding, 0.95),
            "same_vector": round(same, 6),
        }


@contextmanager
def embedder_settings(candidate: Candidate, work: Path) -> Iterator[dict[str, Any]]:
    """The MNEMO_EMBEDDER settings for a candidate, with its llama-server running meanwhile."""
    if candidate.gguf is None:
        yield {"embedder": "minilm"}
        return
    path = MODELS / candidate.gguf
    if not path.is_file():
        raise SystemExit(f"{path} is missing: python -m app.llm.nomic --quantize q8_0")
    server = start_embedding_server(path, work, alias=NOMIC_MODEL)
    try:
        yield {"embedder": "http", "embedder_url": server.url, "embedder_model": NOMIC_MODEL}
    finally:
        server.stop()


def run_candidate(
    candidate: Candidate, llm_url: str, work: Path, overrides: dict[str, Any], limit: int | None
) -> dict[str, Any]:
    """evaluate() with the probe, then again with the calibrated gate."""
    turns = sum(len(conv) for conv in conversations().values())
    with embedder_settings(candidate, work) as chosen:

        def settings(**extra: Any) -> Settings:
            return Settings(
                _env_file=None,  # type: ignore[call-arg]
                data_dir=work / candidate.name,
                llm_base_url=llm_url,
                **chosen,
                **{**overrides, **extra},
            )

        probe = GateProbe(limit)
        started = time.perf_counter()
        configured = asyncio.run(evaluate(settings(), limit, probe))
        configured["seconds"] = round(time.perf_counter() - started, 1)
        threshold = configured["probe"]["gate"]["threshold"]
        started = time.perf_counter()
        rerun = settings(score_threshold=threshold)
        calibrated = asyncio.run(evaluate(rerun, limit, imported=probe.stored))
        calibrated["seconds"] = round(time.perf_counter() - started, 1)
    latency = configured["probe"]["latency"]
    row = {
        "embedder": candidate.name,
        **configured["overall"],
        "threshold": threshold,
        "no_block@configured": configured["unrelated_without_memories"],
        "no_block@calibrated": calibrated["unrelated_without_memories"],
        "prompt@2048@calibrated": calibrated["overall"]["prompt@2048"],
        "import_seconds": configured["import_seconds"],
        "import_turns_per_s": round(turns / configured["import_seconds"], 1),
        "context_p50_ms": latency["context_p50_ms"],
        "context_p95_ms": latency["context_p95_ms"],
        "embedding_p50_ms": latency["embedding_p50_ms"],
        "rest_p50_ms": latency["rest_p50_ms"],
        "evidence_above_threshold": configured["probe"]["gate"]["at_threshold"]["evidence_turns_above"],
    }
    return {"row": row, "configured": configured, "calibrated": calibrated}


COLUMNS = {  # key: (header, decimals)
    "recall@5": ("r@5", 3),
    "recall@10": ("r@10", 3),
    "recall@25": ("r@25", 3),
    "prompt@1024": ("ev@1024", 3),
    "prompt@2048": ("ev@2048", 3),
    "prompt@4096": ("ev@4096", 3),
    "no_block@configured": ("no-block", 2),
    "threshold": ("gate", 2),
    "evidence_above_threshold": ("ev>gate", 3),
    "no_block@calibrated": ("no-block@gate", 2),
    "prompt@2048@calibrated": ("ev@2048@gate", 3),
    "import_turns_per_s": ("import t/s", 1),
    "context_p50_ms": ("ctx p50 ms", 1),
    "context_p95_ms": ("ctx p95 ms", 1),
    "embedding_p50_ms": ("embed p50 ms", 1),
}


def table(rows: list[dict[str, Any]]) -> str:
    """A markdown table, one line per embedder."""
    headers = ["embedder"] + [header for header, _ in COLUMNS.values()]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [row["embedder"]] + [f"{row[key]:.{places}f}" for key, (_, places) in COLUMNS.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=sorted(CANDIDATES), help="this embedder (repeatable)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "embedders.json")
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    overrides = parse_overrides(parser, args.set)

    chosen = [CANDIDATES[name] for name in args.only] if args.only else list(CANDIDATES.values())
    work = Path(tempfile.mkdtemp(prefix="mnemo-embedders-"))
    llama = start_llama(resolve(DEFAULT, MODELS), work, ctx=8192, slots=1)
    results: dict[str, Any] = {}
    try:
        for candidate in chosen:
            results[candidate.name] = run_candidate(candidate, llama.url, work, overrides, args.limit)
            print(json.dumps(results[candidate.name]["row"]), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2))  # kept should a later embedder fail
    finally:
        llama.stop()
    print(table([r["row"] for r in results.values()]))


if __name__ == "__main__":
    main()
