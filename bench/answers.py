"""Does memory make answers right? Three arms on the LoCoMo development set, one model, one budget.

For each sampled question of categories 1-4, the default model (temperature 0) answers from:
- mnemo:  the messages Mnemo's context preview builds for the question at a 2,048-token prompt budget;
- window: the same system prompt and the most recent turns that fit the same budget (a sliding window);
- oracle: the evidence turns themselves in Mnemo's memory block, and nothing else.
All three share one system prompt that asks for a short answer, and render turns with Mnemo's own
layout functions. Answers are scored by token F1 against the reference (LoCoMo's normalisation: lower
case, no punctuation, no articles; multi-hop answers split on commas, open-domain answers cut at ';').

Conversations are imported in-process (httpx ASGITransport) with the real MiniLM embedder and Chroma on
disk; no summary is written. One llama-server, one slot; each arm runs over all questions of a
conversation in a row so llama.cpp's prefix cache serves the parts the questions share.

    .venv/bin/python bench/answers.py [--questions 120] [--budget 2048] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import statistics
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.conversations.models import Recalled, Turn  # noqa: E402
from app.conversations.summarizer import SummaryScheduler  # noqa: E402
from app.llm.llama import LlamaClient  # noqa: E402
from app.llm.models import DEFAULT, resolve  # noqa: E402
from app.main import create_app  # noqa: E402
from app.prompt.layout import build_messages  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.wiring import open_services  # noqa: E402
from bench.harness import start_llama  # noqa: E402
from bench.locomo import CATEGORIES, NoSummaries, conversations, import_all, questions  # noqa: E402

ARMS = ("mnemo", "window", "oracle")
SYSTEM = (
    "You answer questions about a long conversation between two people. Earlier parts of it may be "
    "given as memories, with their dates. Answer with a short phrase taken from the conversation "
    "(a name, a date, a place, a few words), not a sentence. Give dates as day month year."
)
ANSWER_TOKENS = 32


def normalise(text: str) -> str:
    text = text.lower().replace(",", "")
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the|and)\b", " ", text)
    return " ".join(text.split())


def f1(prediction: str, reference: str) -> float:
    said, wanted = normalise(prediction).split(), normalise(reference).split()
    common = sum((Counter(said) & Counter(wanted)).values())
    if not common:
        return 0.0
    precision, recall = common / len(said), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str, answer: Any, category: int) -> float:
    """LoCoMo's scoring: multi-hop answers are lists (mean of best F1 per part)."""
    reference = str(answer)
    if category == 3:
        reference = reference.split(";")[0]
    if category == 1:
        parts = [p for p in reference.split(",") if p.strip()] or [reference]
        guesses = [g for g in prediction.split(",") if g.strip()] or [prediction]
        return statistics.mean(max(f1(g, p) for g in guesses) for p in parts)
    return f1(prediction, reference)


def sample(asked: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Every k-th question, so each conversation and category keeps its share."""
    if count >= len(asked):
        return asked
    step = len(asked) / count
    return [asked[int(i * step)] for i in range(count)]


def as_turn(cid: str, stored: dict[str, Any]) -> Turn:
    return Turn(
        conversation_id=cid,
        turn_index=stored["turn_index"],
        role=stored["role"],
        content=stored["content"],
        created_at=datetime.fromisoformat(stored["created_at"].replace("Z", "+00:00")),
        name=stored["name"],
    )


class Window:
    """The sliding-window arm: the most recent turns that fit the budget with the question.

    Questions about one conversation differ only in the question, so the search for where the
    window starts begins at the previous question's start (a step or two, not a bisection).
    """

    def __init__(self, llm: LlamaClient, budget: int) -> None:
        self._llm = llm
        self._budget = budget
        self._starts: dict[str, int] = {}

    async def _fits(self, turns: list[Turn], start: int, question: str) -> bool:
        prompt = build_messages(SYSTEM, [], turns[start:], [], question)
        return await self._llm.count_prompt(prompt) <= self._budget

    async def messages(self, cid: str, turns: list[Turn], question: str) -> list[dict[str, str]]:
        start = self._starts.get(cid, len(turns))
        while start < len(turns) and not await self._fits(turns, start, question):
            start += 1
        while start > 0 and await self._fits(turns, start - 1, question):
            start -= 1
        self._starts[cid] = start
        return build_messages(SYSTEM, [], turns[start:], [], question)


async def ask(http: httpx.AsyncClient, messages: list[dict[str, str]]) -> dict[str, Any]:
    body = {"messages": messages, "temperature": 0, "max_tokens": ANSWER_TOKENS, "cache_prompt": True}
    response = await http.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    reply = response.json()
    return {
        "answer": reply["choices"][0]["message"]["content"] or "",
        "prompt_tokens": reply["usage"]["prompt_tokens"],
    }


async def evaluate(settings: Settings, count: int, budget: int) -> dict[str, Any]:
    by_conv = conversations()
    asked = sample(questions(), count)
    rows: dict[str, dict[str, Any]] = {q["question_id"]: {"category": q["category"]} for q in asked}
    seconds: dict[str, float] = {}
    async with open_services(settings) as services:
        services.scheduler = SummaryScheduler(NoSummaries())  # type: ignore[arg-type]
        app = create_app(settings, services)
        app.state.services = services
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://mnemo", timeout=300) as mnemo,
            httpx.AsyncClient(base_url=settings.llm_url, timeout=300) as llama,
        ):
            stored = await import_all(mnemo, by_conv)
            window = Window(LlamaClient(llama), budget)
            history = {
                cid: sorted(
                    (as_turn(cid, s) for (c, _), s in stored.items() if c == cid), key=lambda t: t.turn_index
                )
                for cid in by_conv
            }
            for arm in ARMS:
                started = time.perf_counter()
                for q in asked:
                    cid, question = q["conversation_id"], q["question"]
                    if arm == "mnemo":
                        preview = await mnemo.post(
                            f"/conversations/{cid}/context", json={"query": question, "max_tokens": budget}
                        )
                        assert preview.status_code == 200, preview.text
                        messages = preview.json()["messages"]
                    elif arm == "window":
                        messages = await window.messages(cid, history[cid], question)
                    else:
                        evidence = [
                            Recalled(as_turn(cid, stored[(cid, d)]), 1.0)
                            for d in q["evidence"]
                            if (cid, d) in stored
                        ]
                        messages = build_messages(SYSTEM, [], [], evidence, question)
                    reply = await ask(llama, messages)
                    assert reply["prompt_tokens"] <= budget, (arm, reply["prompt_tokens"])
                    rows[q["question_id"]][arm] = {
                        **reply,
                        "f1": score(reply["answer"], q.get("answer", ""), q["category"]),
                    }
                seconds[arm] = round(time.perf_counter() - started, 1)
                print(f"{arm}: {len(asked)} answers in {seconds[arm]:.0f} s", flush=True)
    return summarise(list(rows.values()), asked) | {"seconds_per_arm": seconds, "questions": len(asked)}


def summarise(rows: list[dict[str, Any]], asked: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(arm: str, key: str, subset: list[dict[str, Any]]) -> float:
        return round(statistics.mean(r[arm][key] for r in subset), 3) if subset else 0.0

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[CATEGORIES[row["category"]]].append(row)
    groups["overall"] = rows
    table = {
        name: {"n": len(subset)}
        | {f"{arm}_f1": mean(arm, "f1", subset) for arm in ARMS}
        | {f"{arm}_prompt_tokens": mean(arm, "prompt_tokens", subset) for arm in ARMS}
        for name, subset in groups.items()
    }
    overall = table["overall"]
    ratios = {
        "mnemo/window": round(overall["mnemo_f1"] / overall["window_f1"], 2)
        if overall["window_f1"]
        else None,
        "mnemo/oracle": round(overall["mnemo_f1"] / overall["oracle_f1"], 2)
        if overall["oracle_f1"]
        else None,
    }
    examples = [
        {"question": q["question"], "reference": q.get("answer"), **{arm: r[arm]["answer"] for arm in ARMS}}
        for q, r in list(zip(asked, rows, strict=True))[:: max(1, len(rows) // 12)]
    ]
    return {"table": table, "ratios": ratios, "examples": examples}


def render(result: dict[str, Any]) -> str:
    head = f"{'':14}{'n':>5}" + "".join(f"{arm + ' F1':>12}" for arm in ARMS)
    head += "".join(f"{arm + ' tok':>12}" for arm in ARMS)
    lines = [head]
    for name, row in result["table"].items():
        line = f"{name:14}{row['n']:>5}" + "".join(f"{row[arm + '_f1']:>12.3f}" for arm in ARMS)
        lines.append(line + "".join(f"{row[arm + '_prompt_tokens']:>12.0f}" for arm in ARMS))
    lines.append(" ".join(f"{k}: {v}" for k, v in result["ratios"].items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=120, help="questions sampled evenly (all: 0)")
    parser.add_argument("--budget", type=int, default=2048, help="prompt tokens for every arm")
    parser.add_argument("--model", default=DEFAULT, help="a bundled model's name or a GGUF path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answers.json")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    overrides = dict(item.partition("=")[::2] for item in args.set)

    work = Path(tempfile.mkdtemp(prefix="mnemo-answers-"))
    llama = start_llama(resolve(args.model, ROOT / "data" / "models"), work, ctx=args.budget + 512, slots=1)
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=work,
            llm_base_url=llama.url,
            system_prompt=SYSTEM,
            extraction_enabled=False,
            reply_tokens=ANSWER_TOKENS,
            **overrides,
        )
        started = time.perf_counter()
        result = asyncio.run(evaluate(settings, args.questions or 10**6, args.budget))
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["model"] = args.model
        result["budget"] = args.budget
    finally:
        llama.stop()
    print(render(result))
    print(f"finished in {result['seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
