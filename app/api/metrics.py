"""GET /metrics in Prometheus' text format, the middleware that counts requests, what scrapes read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics
from app.wiring import Services

UNMATCHED = "unmatched"  # a path no route serves: one label, whatever was asked


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/conversations/{conversation_id}`); never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    for candidate in getattr(scope.get("app"), "routes", ()):  # routes that do not note themselves (MCP's)
        if candidate.matches(scope)[0].name == "FULL":
            return str(getattr(candidate, "path", UNMATCHED))
    return UNMATCHED


class RequestMetrics:
    """ASGI middleware: every HTTP request counted by method, route template and status, and timed."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before it answers

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.request(scope["method"], route_template(scope), status, seconds)


class ServicesCollector(Collector):
    """The background jobs' state, read from the services at each scrape (nothing is copied between)."""

    def __init__(self, services: Callable[[], Services]) -> None:
        self._services = services

    def collect(self) -> Iterable[Metric]:
        services = self._services()
        summaries = services.scheduler
        yield GaugeMetricFamily(
            "mnemo_summary_jobs_running",
            "Conversations whose summaries are being written now (the summary queue).",
            value=summaries.busy,
        )
        yield CounterMetricFamily(
            "mnemo_summaries_written", "Summaries written since start-up.", value=summaries.written
        )
        yield CounterMetricFamily(
            "mnemo_summary_failures", "Summary jobs that failed since start-up.", value=summaries.failures
        )
        extractor = services.long_term.extractor if services.long_term else None
        if extractor is not None:
            yield CounterMetricFamily(
                "mnemo_extraction_runs",
                "Extractions of long-term memories since start-up.",
                value=extractor.stats.runs,
            )
            yield CounterMetricFamily(
                "mnemo_extraction_failures",
                "Extractions that failed since start-up.",
                value=extractor.stats.failed,
            )


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def scrape_allowed() -> None:
    """Who may scrape: anyone who reaches the port while keys are off.

    With keys on, TenantAuth (app/api/auth.py) asks for the admin key before this route runs.
    """


router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=(
        "Requests by route template and status, latency histograms, prompt tokens cached and evaluated "
        "per chat turn, memories injected per turn, summary and extraction jobs and failures; "
        "Prometheus' text format."
    ),
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[Depends(scrape_allowed)],
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(get_metrics(request).registry), media_type=CONTENT_TYPE_LATEST)
