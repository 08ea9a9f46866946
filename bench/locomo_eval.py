"""Retrieval evaluation on the LoCoMo development set (../shared/data/locomo-dev, read in place).

Each conversation is imported through Mnemo's own import route (speaker name and session date on
every turn, the photo caption with the text). Then, for every question of categories 1-4:
- recall@k (k = 5, 10, 25): the share of its evidence turns among the top k memories retrieved
  (over the whole conversation, no gate);
- evidence in prompt at budgets of 1,024, 2,048 and 4,096 tokens: the share of its evidence
  turns whose text is in the prompt the context preview builds (window, summaries, memories);
- the p50/p95 latency of the context call.
Fifty general-knowledge questions that no conversation answers measure the relevance gate:
the share of them that get no memory block at all.

Runs Mnemo in-process (httpx ASGITransport) on the real MiniLM embedder and Chroma on disk, with
a real llama-server only for exact token counts. No summary is written (nothing is generated).

    .venv/bin/python bench/locomo_eval.py [--set top_k=10 --set score_threshold=0.35 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.conversations.summarizer import SummaryScheduler  # noqa: E402
from app.llm.models import DEFAULT, resolve  # noqa: E402
from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.storage.backends import gates  # noqa: E402
from app.wiring import Services, open_services  # noqa: E402
from bench.harness import start_llama  # noqa: E402
from bench.locomo import CATEGORIES, NoSummaries, conversations, import_all, questions  # noqa: E402

BUDGETS = (1024, 2048, 4096)
KS = (5, 10, 25)
DRAGON = {"recall@5": 0.567, "recall@10": 0.662, "recall@25": 0.767}

UNRELATED = [
    "What is the boiling point of water at sea level in Celsius?",
    "Who wrote the play Romeo and Juliet?",
    "What is the chemical symbol for gold?",
    "How many planets are in the solar system?",
    "What is the capital city of Australia?",
    "What is the square root of 144?",
    "Who painted the Mona Lisa?",
    "What is the largest ocean on Earth?",
    "Which gas do plants absorb from the air for photosynthesis?",
    "What is the speed of light in a vacuum?",
    "Who developed the theory of general relativity?",
    "What is the tallest mountain in the world?",
    "How many bones are in the adult human body?",
    "What is the main ingredient of guacamole?",
    "In which year did the Berlin Wall fall?",
    "What is the longest river in Africa?",
    "What does DNA stand for?",
    "Which element has the atomic number 1?",
    "What is the currency of Japan?",
    "Who was the first person to walk on the Moon?",
    "What is the freezing point of water in Fahrenheit?",
    "What language is spoken in Brazil?",
    "How many sides does a hexagon have?",
    "What is the hardest natural substance?",
    "Which planet is known as the Red Planet?",
    "What is the capital of Canada?",
    "Who invented the telephone?",
    "What is the largest mammal?",
    "How many continents are there?",
    "What is the powerhouse of the cell?",
    "What is the value of pi to two decimal places?",
    "Who composed the Fifth Symphony?",
    "What is the smallest prime number?",
    "Which country hosted the 2016 Summer Olympics?",
    "What is the primary language of Egypt?",
    "How many minutes are in a day?",
    "What is the chemical formula of table salt?",
    "Which organ pumps blood through the body?",
    "What is the capital of Kenya?",
    "Who discovered penicillin?",
    "What is the largest desert in the world?",
    "How many strings does a standard violin have?",
    "What is the main component of the Sun?",
    "What year did the First World War begin?",
    "Which metal is liquid at room temperature?",
    "What is the binary representation of the number five?",
    "Who wrote the novel One Hundred Years of Solitude?",
    "What is the deepest point in the ocean called?",
    "How many hearts does an octopus have?",
    "What is the national animal of Scotland?",
]


# Further measures on the imported conversations (bench/embedders.py's gate calibration): given the
# service, its client and the stored turns ((conversation, dia_id) -> message with its turn_index).
Probe = Callable[
    [Services, httpx.AsyncClient, dict[tuple[str, str], dict[str, Any]]], Awaitable[dict[str, Any]]
]


def unrelated_questions(by_conv: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str]]:
    """Each unrelated question with the conversation it is asked in (round robin)."""
    ids = sorted(by_conv)
    return [(ids[i % len(ids)], question) for i, question in enumerate(UNRELATED)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def evaluate(
    settings: Settings,
    limit: int | None,
    probe: Probe | None = None,
    imported: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The measures above; `imported`: what a run stored in the same data folder (not imported again)."""
    asked = questions()[:limit] if limit else questions()
    by_conv = conversations()

    async with open_services(settings) as services:
        services.scheduler = SummaryScheduler(NoSummaries())  # type: ignore[arg-type]
        app = create_app(settings, services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo", timeout=300) as client:
            app.state.services = services
            started = time.perf_counter()
            stored = imported if imported is not None else await import_all(client, by_conv)
            text_of = {key: msg["content"] for key, msg in stored.items()}
            import_seconds = time.perf_counter() - started

            rows = []
            latencies: dict[str, list[float]] = defaultdict(list)
            for q in asked:
                cid = q["conversation_id"]
                evidence = [text_of[(cid, d)] for d in q["evidence"] if (cid, d) in text_of]
                if not evidence:
                    continue
                top = await services.retriever.retrieve(
                    cid, q["question"], before=10**9, k=max(KS), threshold=-1.0
                )
                top_texts = [m.turn.content for m in top]
                row: dict[str, Any] = {"id": q["question_id"], "category": q["category"]}
                for k in KS:
                    row[f"recall@{k}"] = sum(e in top_texts[:k] for e in evidence) / len(evidence)
                for budget in BUDGETS:
                    t0 = time.perf_counter()
                    response = await client.post(
                        f"/conversations/{cid}/context", json={"query": q["question"], "max_tokens": budget}
                    )
                    latencies[cid].append(time.perf_counter() - t0)
                    body = response.json()
                    assert response.status_code == 200, body
                    assert body["prompt_tokens"] <= budget, body
                    prompt = "\n".join(m["content"] for m in body["messages"])
                    row[f"prompt@{budget}"] = sum(e in prompt for e in evidence) / len(evidence)
                    if budget == 2048:
                        row["memories@2048"] = len(body["memories"])
                rows.append(row)

            gated = 0
            for cid, question in unrelated_questions(by_conv):
                body = (
                    await client.post(
                        f"/conversations/{cid}/context", json={"query": question, "max_tokens": 2048}
                    )
                ).json()
                gated += not body["memories"]
            probed = await probe(services, client, stored) if probe is not None else None

    def mean(key: str, subset: list[dict[str, Any]]) -> float:
        return round(statistics.mean(r[key] for r in subset), 3) if subset else 0.0

    keys = [f"recall@{k}" for k in KS] + [f"prompt@{b}" for b in BUDGETS]
    overall = {k: mean(k, rows) for k in keys}
    per_category = {
        name: {k: mean(k, [r for r in rows if r["category"] == c]) for k in keys}
        | {"n": sum(r["category"] == c for r in rows)}
        for c, name in CATEGORIES.items()
    }
    result: dict[str, Any] = {
        "questions": len(rows),
        "overall": overall,
        "per_category": per_category,
        "mean_memories_at_2048": mean("memories@2048", rows),
        "unrelated_without_memories": round(gated / len(UNRELATED), 3),
        "latency_ms": {
            cid: {
                "turns": len(by_conv[cid]),
                "p50": round(pct(v, 0.5) * 1000, 1),
                "p95": round(pct(v, 0.95) * 1000, 1),
            }
            for cid, v in latencies.items()
        },
        "import_seconds": round(import_seconds, 1),
        "settings": {k: v for k, v in settings.model_dump().items() if k in OVERRIDABLE}
        | {"score_threshold": gates(settings).recall},  # unset means the embedder's own
    }
    if probed is not None:
        result["probe"] = probed
    return result


OVERRIDABLE = {
    "top_k",
    "neighbours",
    "speaker_ranking",
    "embed_context",
    "score_threshold",
    "window_max_turns",
    "memory_share",
    "memory_share_past",
    "keyword_weight",
    "keyword_depth",
    "summary_share",
    "reply_tokens",
}


def parse_overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` options as settings overrides; a key not in OVERRIDABLE is a usage error."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in OVERRIDABLE:
            parser.error(f"--set {key}: not one of {sorted(OVERRIDABLE)}")
        overrides[key] = value
    return overrides


def table(result: dict[str, Any]) -> str:
    keys = [f"recall@{k}" for k in KS] + [f"prompt@{b}" for b in BUDGETS]
    lines = [f"{'':14}" + "".join(f"{k:>12}" for k in keys)]
    lines.append(f"{'DRAGON (paper)':14}" + "".join(f"{DRAGON.get(k, float('nan')):>12.3f}" for k in keys))
    lines.append(f"{'Mnemo overall':14}" + "".join(f"{result['overall'][k]:>12.3f}" for k in keys))
    for name, values in result["per_category"].items():
        lines.append(
            f"{name + ' (' + str(values['n']) + ')':14}" + "".join(f"{values[k]:>12.3f}" for k in keys)
        )
    lines.append(f"unrelated questions with no memory block: {result['unrelated_without_memories']:.2f}")
    lines.append(f"mean memories injected at 2048: {result['mean_memories_at_2048']}")
    for cid, lat in result["latency_ms"].items():
        lines.append(
            f"context call on {cid} ({lat['turns']} turns): p50 {lat['p50']} ms, p95 {lat['p95']} ms"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "locomo.json")
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the table
    overrides = parse_overrides(parser, args.set)

    work = Path(tempfile.mkdtemp(prefix="mnemo-locomo-"))
    llama = start_llama(resolve(DEFAULT, ROOT / "data" / "models"), work, ctx=8192, slots=1)
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=work,
            llm_base_url=llama.url,
            **overrides,
        )
        started = time.perf_counter()
        result = asyncio.run(evaluate(settings, args.limit))
        result["seconds"] = round(time.perf_counter() - started, 1)
    finally:
        llama.stop()
    print(table(result))
    print(f"finished in {result['seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
