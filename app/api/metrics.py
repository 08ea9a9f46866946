"""GET /metrics in Prometheus' text format, the middleware that counts requests, what scrapes read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.jobs import Backlog
from app.metrics import Metrics
from app.tenancy import Tenancy
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


class TenantsCollector(Collector):
    """The background queues and the store sizes, read at each scrape (nothing is copied between).

    Totals for all tenants (no tenant label: the series stay few however many tenants there are):
    the queues' caps and counts are shared by every tenant's schedulers, and the sizes come from
    the catalog of conversations and the memories' keyword index, never from a scan of Chroma.
    """

    def __init__(self, tenants: Callable[[], Tenancy]) -> None:
        self._tenants = tenants

    def collect(self) -> Iterable[Metric]:
        services = self._tenants().default
        yield from queue_metrics(
            "summary", "Summary jobs (a conversation's folds)", services.scheduler.backlog
        )
        yield CounterMetricFamily(
            "mnemo_summaries_written",
            "Summaries written since start-up.",
            value=services.scheduler.backlog.succeeded,
        )
        if services.long_term is not None:
            backlog = services.long_term.backlog
            yield from queue_metrics("extraction", "Long-term memory jobs after turns (extraction)", backlog)
            yield CounterMetricFamily(
                "mnemo_extraction_runs",
                "Long-term memory jobs finished since start-up.",
                value=backlog.succeeded,
            )
        yield from size_metrics(services)


def queue_metrics(kind: str, what: str, backlog: Backlog) -> Iterable[Metric]:
    """A background queue's depth, its cap, and what it dropped and failed since start-up."""
    yield GaugeMetricFamily(
        f"mnemo_{kind}_jobs_running", f"{what} queued or running now, all tenants.", value=backlog.held
    )
    yield GaugeMetricFamily(
        f"mnemo_{kind}_queue_limit", f"Most {what.lower()} queued at once.", value=backlog.limit
    )
    yield CounterMetricFamily(
        f"mnemo_{kind}_jobs_dropped",
        f"{what} refused for the queue's cap since start-up.",
        value=backlog.dropped,
    )
    yield CounterMetricFamily(
        f"mnemo_{kind}_failures", f"{what} that failed since start-up.", value=backlog.failures
    )


def size_metrics(services: Services) -> Iterable[Metric]:
    """What is stored, all tenants together."""
    sizes = services.catalog.totals()
    stored = GaugeMetricFamily(
        "mnemo_stored", "Records stored, all tenants together, by kind.", labels=["kind"]
    )
    stored.add_metric(["conversations"], sizes.conversations)
    stored.add_metric(["turns"], sizes.turns)
    stored.add_metric(["summaries"], sizes.summaries)
    if services.memories is not None:
        stored.add_metric(["memories"], services.memories.stored_by_all())
    yield stored


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
        "per chat turn, memories injected per turn, the summary and extraction queues (depth, cap, "
        "dropped, failures) and the records stored (all tenants together); Prometheus' text format."
    ),
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[Depends(scrape_allowed)],
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(get_metrics(request).registry), media_type=CONTENT_TYPE_LATEST)
