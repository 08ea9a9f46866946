"""Liveness and readiness."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import BuilderDep, CounterDep, LLMDep, StoreDep, SummariesDep
from app.errors import MnemoError

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness", description="200 while the process serves requests.")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness",
    description=(
        "200 when llama.cpp and Chroma both answer, else 503 naming what is down. Also tells the "
        "context size in use, whether token counts are exact (llama.cpp's tokenizer) or estimated, and "
        "the summary queue: conversations queued and running, those dropped past the global cap, and those "
        "owed a fold since (folded when a job ends or before their next prompt)."
    ),
)
async def ready(
    llm: LLMDep, store: StoreDep, builder: BuilderDep, counter: CounterDep, summaries: SummariesDep
) -> JSONResponse:
    checks: dict[str, str] = {}
    checks["llm"] = "ok" if await llm.healthy() else "unavailable"
    try:
        await store.ping()
        checks["store"] = "ok"
    except MnemoError as exc:
        checks["store"] = exc.message
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ready" if ok else "unavailable", **checks}
    if checks["llm"] == "ok":
        try:
            body["context_tokens"] = await builder.context_size()
        except MnemoError as exc:
            body["context_tokens"] = exc.message
        # "estimate" when the server offers no tokenizer: counts are then conservative guesses.
        body["token_counts"] = "exact" if counter.exact else "estimate"
    body["summaries_in_progress"] = summaries.busy
    body["summary_failures"] = summaries.failures
    body["summary_queue"] = asdict(summaries.queue)
    return JSONResponse(body, status_code=200 if ok else 503)
