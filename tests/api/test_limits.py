"""Request limits: bodies over the cap are a 413 before a route reads them, too many requests a 429."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from pydantic import SecretStr

from app.api.limits import RequestLimits
from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from app.tenants.rate import RequestRate
from app.wiring import Services

ADMIN = "admin-key-for-tests-0123456789"


async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


async def chunks(size: int, pieces: int) -> AsyncIterator[bytes]:
    for _ in range(pieces):
        yield b"x" * size


async def lines(line: bytes, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield line


async def test_a_body_over_the_cap_is_a_413_with_or_without_content_length(
    settings: Settings, services: Services
) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2048})
    app = create_app(small, services)
    read: list[int] = []

    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        read.append(len(body))
        return {"bytes": len(body)}

    app.add_api_route("/echo", echo, methods=["POST"])
    async for http in serve(app):
        assert (await http.post("/echo", content=b"x" * 2048)).json() == {"bytes": 2048}
        declared = await http.post("/echo", content=b"x" * 2049)
        assert declared.status_code == 413
        error = declared.json()["error"]
        assert error["code"] == "request_too_large" and "MNEMO_MAX_REQUEST_BYTES" in error["message"]
        streamed = await http.post("/echo", content=chunks(1000, 5))  # chunked: no Content-Length
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "request_too_large"
        chat = await http.post("/chat", content=b'{"message": "' + b"x" * 4000 + b'"}')
        assert chat.status_code == 413
        v1 = await http.post("/v1/chat/completions", content=b"x" * 4000)
        assert v1.status_code == 413 and v1.json()["error"]["type"] == "invalid_request_error"
    assert read == [2048]  # no route ever saw a body over the cap


async def test_the_imports_have_their_own_cap(settings: Settings, services: Services) -> None:
    capped = settings.model_copy(update={"max_request_bytes": 1024, "max_import_bytes": 1 << 20})
    line = b'{"conversation_id": "c1", "role": "user", "content": "' + b"y" * 1500 + b'"}\n'
    async for http in serve(create_app(capped, services)):
        imported = await http.post(
            "/conversations/import", content=line, headers={"Content-Type": "application/x-ndjson"}
        )
        assert imported.status_code == 200, imported.text
        over = await http.post(
            "/conversations/import", content=line * 800, headers={"Content-Type": "application/x-ndjson"}
        )
        assert over.status_code == 413 and "MNEMO_MAX_IMPORT_BYTES" in over.json()["error"]["message"]
        streamed = await http.post(  # no Content-Length: stopped as it streams, in its first chunk
            "/conversations/import",
            content=lines(line, 800),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "request_too_large"


def test_the_memory_import_is_never_capped_above_what_its_route_reads(settings: Settings) -> None:
    limits = RequestLimits(lambda *args: None, settings)  # type: ignore[arg-type]
    assert limits.cap("/conversations/import") == 256 * 1024 * 1024
    assert limits.cap("/memories/import") == 50_000_000
    assert limits.cap("/memories") == 1024 * 1024
    small = RequestLimits(lambda *args: None, settings.model_copy(update={"max_import_bytes": 4096}))  # type: ignore[arg-type]
    assert small.cap("/memories/import") == 4096


async def test_requests_over_the_rate_are_a_429_with_retry_after_per_tenant(
    settings: Settings, tenancy: Tenancy
) -> None:
    keyed = settings.model_copy(update={"admin_key": SecretStr(ADMIN), "requests_per_minute": 2})
    async for http in serve(create_app(keyed, tenants=tenancy)):
        admin = {"Authorization": f"Bearer {ADMIN}"}
        keys = {}
        for name in ["ada", "bob"]:
            created = await http.post("/admin/tenants", json={"name": name}, headers=admin)
            keys[name] = {"Authorization": f"Bearer {created.json()['api_key']}"}
        assert [(await http.get("/memories", headers=keys["ada"])).status_code for _ in range(2)] == [
            200,
            200,
        ]
        limited = await http.get("/memories", headers=keys["ada"])
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        error = limited.json()["error"]
        assert error["code"] == "rate_limited" and "MNEMO_REQUESTS_PER_MINUTE" in error["message"]
        assert (await http.get("/memories", headers=keys["bob"])).status_code == 200  # bob has his own
        assert (await http.get("/health")).status_code == 200  # open routes are never limited
        assert (await http.get("/admin/tenants", headers=admin)).status_code == 200


async def test_the_schema_declares_413_on_bodies_and_429_when_limited(settings: Settings) -> None:
    schema = create_app(settings.model_copy(update={"requests_per_minute": 5})).openapi()
    chat = schema["paths"]["/chat"]["post"]["responses"]
    assert "413" in chat and "429" in chat
    health = schema["paths"]["/health"]["get"]["responses"]
    assert "413" not in health and "429" not in health
    unlimited = create_app(settings).openapi()
    # a read has no 429 without a rate (writes keep theirs: the stored caps answer one)
    assert "429" in schema["paths"]["/memories"]["get"]["responses"]
    assert "429" not in unlimited["paths"]["/memories"]["get"]["responses"]


async def test_limits_read_the_tenant_the_key_check_set() -> None:
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(scope["state"]["tenant"])

    rate = RequestRate(1)
    limits = RequestLimits(app, Settings(_env_file=None), rate)  # type: ignore[call-arg]
    sent: list[dict] = []  # type: ignore[type-arg]

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b""}

    for tenant in ["ada", "bob", "ada"]:
        scope = {
            "type": "http",
            "path": "/chat",
            "method": "POST",
            "headers": [],
            "state": {"tenant": tenant},
        }
        await limits(scope, receive, send)
    assert seen == ["ada", "bob"]
    assert sent[0]["status"] == 429
