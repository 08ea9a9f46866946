"""GET /metrics: Prometheus' text format, counters that move with traffic, labels by route template."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from app.errors import LLMFailed
from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from app.wiring import Services
from tests.api.test_isolation import As, behind_the_keys
from tests.fakes import FakeLLM
from tests.mcp_http import MCP_HEADERS


async def scrape(client: httpx.AsyncClient) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sample's value; 0 when no such series was exported yet."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


MESSAGES = "/conversations/{conversation_id}/messages"


async def test_requests_are_counted_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    turns = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    assert (await client.post("/conversations/c1/messages", json=turns)).status_code == 201
    assert (await client.post("/conversations/c2/messages", json=turns)).status_code == 201
    assert (await client.get("/conversations/c1/messages")).status_code == 200
    after = await scrape(client)
    posted = {"method": "POST", "route": MESSAGES, "status": "201"}
    assert (
        value(after, "mnemo_http_requests_total", **posted)
        == value(before, "mnemo_http_requests_total", **posted) + 2
    )
    assert value(after, "mnemo_http_requests_total", method="GET", route=MESSAGES, status="200") == 1
    assert value(after, "mnemo_http_request_duration_seconds_count", method="POST", route=MESSAGES) == 2
    assert not [s for s in after if "c1" in s.labels.get("route", "")]  # no raw path, no id in a label


async def test_paths_no_route_serves_share_one_label_and_bad_input_its_status(
    client: httpx.AsyncClient,
) -> None:
    for n in range(3):
        assert (await client.get(f"/nothing/here/{n}")).status_code == 404
    assert (await client.post("/conversations/c1/messages", json={"messages": "no"})).status_code == 422
    samples = await scrape(client)
    assert value(samples, "mnemo_http_requests_total", route="unmatched", status="404") == 3
    assert value(samples, "mnemo_http_requests_total", method="POST", route=MESSAGES, status="422") == 1
    scraped = value(await scrape(client), "mnemo_http_requests_total", route="/metrics", status="200")
    assert scraped == 1  # the scrape before this one


async def test_a_chat_turn_records_its_prompt_tokens_and_memories(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert (await client.post("/chat", json={"conversation_id": "c1", "message": "hi"})).status_code == 200
    samples = await scrape(client)
    sent = services.sent.last("c1")
    assert sent is not None
    prompt = sent.prompt_tokens  # the fake reports half of it cached, the rest evaluated
    assert value(samples, "mnemo_turn_prompt_tokens_count", kind="evaluated") == 1
    assert value(samples, "mnemo_turn_prompt_tokens_sum", kind="cached") == prompt // 2
    assert value(samples, "mnemo_turn_prompt_tokens_sum", kind="evaluated") == prompt - prompt // 2 > 0
    assert value(samples, "mnemo_turn_memories_injected_count", kind="recalled") == 1
    assert value(samples, "mnemo_turn_memories_injected_bucket", kind="recalled", le="0.0") == 1  # none yet
    reply = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 200
    assert value(await scrape(client), "mnemo_turn_memories_injected_count", kind="long_term") == 2


async def test_the_background_jobs_are_read_at_scrape_time(
    client: httpx.AsyncClient, services: Services
) -> None:
    samples = await scrape(client)
    assert value(samples, "mnemo_summary_jobs_running") == 0
    assert value(samples, "mnemo_summary_failures_total") == 0
    services.scheduler.backlog.failures = 3  # read from the queue itself, nothing copied in between
    assert value(await scrape(client), "mnemo_summary_failures_total") == 3


async def test_queues_and_store_sizes_move_with_every_tenants_traffic(
    settings: Settings, tenancy: Tenancy, llm: FakeLLM
) -> None:
    app = create_app(settings, tenants=tenancy)
    behind_the_keys(app)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo") as client:
            before = await scrape(client)
            assert value(before, "mnemo_stored", kind="turns") == 0
            assert value(before, "mnemo_summary_queue_limit") == settings.summary_max_queued
            turns = [{"role": "user", "content": f"turn {i}"} for i in range(6)]
            for tenant in ("ada", "bob"):
                await client.post("/conversations/c1/messages", json={"messages": turns}, headers=As(tenant))
                memory = {"type": "general", "title": "t", "content": f"{tenant} keeps bees"}
                await client.post("/memories", json=memory, headers=As(tenant))
            for tenant in ("ada", "bob"):  # their summaries, written once the import is quiet
                await tenancy.services(tenant).drain()
            llm.extraction.enqueue(
                LLMFailed("the model broke off"), LLMFailed("again"), LLMFailed("and again")
            )
            await client.post(
                "/chat", json={"conversation_id": "c2", "message": "I keep bees", "stream": False}
            )
            llm.fail_summaries = True
            await client.post("/conversations/c3/messages", json={"messages": turns}, headers=As("ada"))
            for tenant in ("ada", "bob", settings.tenant):
                await tenancy.services(tenant).drain()
            after = await scrape(client)
    assert value(after, "mnemo_stored", kind="conversations") == 4
    assert value(after, "mnemo_stored", kind="turns") == 20
    assert value(after, "mnemo_stored", kind="memories") == 2
    assert value(after, "mnemo_stored", kind="summaries") == value(after, "mnemo_summaries_written_total") > 0
    assert value(after, "mnemo_summary_failures_total") >= 1
    assert value(after, "mnemo_summary_jobs_running") == value(after, "mnemo_extraction_jobs_running") == 0
    assert value(after, "mnemo_extraction_failures_total") == 1
    assert value(after, "mnemo_extraction_jobs_dropped_total") == 0


async def test_each_app_counts_only_its_own_traffic(settings: Settings, services: Services) -> None:
    one, other = create_app(settings, services), create_app(settings, services)
    async with LifespanManager(one) as a, LifespanManager(other) as b:
        first = httpx.AsyncClient(transport=httpx.ASGITransport(app=a.app), base_url="http://mnemo")
        second = httpx.AsyncClient(transport=httpx.ASGITransport(app=b.app), base_url="http://mnemo")
        async with first, second:
            for _ in range(3):
                await first.get("/conversations/c1/messages")
            assert value(await scrape(first), "mnemo_http_requests_total", route=MESSAGES) == 3
            assert value(await scrape(second), "mnemo_http_requests_total", route=MESSAGES) == 0


async def test_a_route_mounted_from_another_app_is_labelled_by_its_path(client: httpx.AsyncClient) -> None:
    await client.post("/mcp", headers=MCP_HEADERS, content=b"{}")  # a bad MCP message: counted all the same
    assert value(await scrape(client), "mnemo_http_requests_total", route="/mcp") == 1
