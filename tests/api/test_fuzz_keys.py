"""With keys on, the same fuzzing as tests/api/test_fuzz.py: the admin API, and every operation with a key.

With keys on every operation also declares its 401 (and 429 with a rate); a generated request with
the right key must get an answer the schema declares, one with a wrong key a 401 in the one error shape.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import hypothesis
import pytest
import schemathesis
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import negative_data_rejection

from app.api.auth import Access, access
from app.main import create_app
from app.settings import Settings
from app.tenancy import Tenancy
from app.tenants.registry import Registry
from app.wiring import Services
from tests.api.test_fuzz import COMMON, MOSTLY, REFUSED, run

ADMIN = "admin-key-for-fuzzing-0123456789"
KEYED = Settings(_env_file=None, admin_key=SecretStr(ADMIN), requests_per_minute=10_000)  # type: ignore[call-arg]
SCHEMA = schemathesis.openapi.from_dict(create_app(KEYED).openapi())
ALL: list[APIOperation] = [result.ok() for result in SCHEMA.get_all_operations()]
OPERATIONS = [op for op in ALL if op.path.startswith("/admin")]
TENANTS = [op for op in ALL if not op.path.startswith("/admin") and op.label != "GET /metrics"]
TENANT_EXAMPLES = int(os.environ.get("MNEMO_FUZZ_KEYED_EXAMPLES", "5"))
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def keyed_app(settings: Settings, tenancy: Tenancy) -> Iterator[object]:
    app = create_app(
        settings.model_copy(update={"admin_key": SecretStr(ADMIN), "requests_per_minute": 10_000}),
        tenants=tenancy,
    )
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture
def tenant_key(settings: Settings) -> str:
    """A key of tenant `ada` in the registry the keyed app opens."""
    registry = Registry(settings.tenants_path)
    try:
        return anyio.run(registry.create, "ada").api_key
    finally:
        registry.close()


def test_the_admin_operations_are_in_the_schema_with_keys_on() -> None:
    assert {op.label for op in OPERATIONS} == {
        "POST /admin/tenants",
        "GET /admin/tenants",
        "POST /admin/tenants/{name}/keys",
        "DELETE /admin/tenants/{name}/keys/{key_id}",
        "DELETE /admin/tenants/{name}",
    }


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_generated_admin_request_gets_a_server_error_or_an_undeclared_answer(
    operation: APIOperation, keyed_app: object
) -> None:
    statuses: list[int] = []

    def fitting(case: Case) -> None:
        response = case.call(app=keyed_app, headers=HEADERS)
        case.validate_response(response, checks=COMMON)
        statuses.append(response.status_code)
        without = case.call(app=keyed_app, headers={"Authorization": "Bearer not-the-admin-key"})
        assert without.status_code == 401 and without.json()["error"]["code"] == "unauthorized"

    def breaking(case: Case) -> None:
        response = case.call(app=keyed_app, headers=HEADERS)
        case.validate_response(response, checks=[*COMMON, negative_data_rejection])

    run(operation, GenerationMode.POSITIVE, fitting)
    assert sum(status in REFUSED for status in statuses) <= MOSTLY * len(statuses)
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run(operation, GenerationMode.NEGATIVE, breaking)


@pytest.mark.parametrize("operation", TENANTS, ids=[op.label for op in TENANTS])
def test_with_a_tenants_key_every_operation_answers_as_declared(
    operation: APIOperation, keyed_app: object, tenant_key: str
) -> None:
    def fitting(case: Case) -> None:
        response = case.call(app=keyed_app, headers={"Authorization": f"Bearer {tenant_key}"})
        case.validate_response(response, checks=COMMON)
        assert response.status_code != 401, response.text
        refused = case.call(app=keyed_app, headers={"Authorization": f"Bearer {tenant_key}x"})
        case.validate_response(refused, checks=COMMON)
        assert refused.status_code == 401 or access(operation.path) is Access.OPEN

    with hypothesis_examples(TENANT_EXAMPLES):
        run(operation, GenerationMode.POSITIVE, fitting)


@contextlib.contextmanager
def hypothesis_examples(count: int) -> Iterator[None]:
    """tests/api/test_fuzz.run with `count` cases per operation."""
    from tests.api import test_fuzz

    before = test_fuzz.EXAMPLES
    test_fuzz.EXAMPLES = count
    try:
        yield
    finally:
        test_fuzz.EXAMPLES = before


OPENAPI = SCHEMA.raw_schema


def body_examples(operation: dict[str, Any]) -> list[tuple[str, Any]]:
    """The examples the schema gives for an operation's JSON request body."""
    found = []
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        schema = content.get("schema", {})
        for option in [schema, *schema.get("anyOf", [])]:
            if "$ref" in option:
                named = OPENAPI["components"]["schemas"][option["$ref"].rsplit("/", 1)[-1]]
                found += [(media_type, example) for example in named.get("examples", []) if example]
    return found


BODIES = [
    (f"{method.upper()} {path}", media_type, example)
    for path, item in OPENAPI["paths"].items()
    if path.startswith("/admin")
    for method, operation in item.items()
    for media_type, example in body_examples(operation)
]


def test_every_admin_body_comes_with_an_example() -> None:
    assert {label for label, _, _ in BODIES} == {"POST /admin/tenants", "POST /admin/tenants/{name}/keys"}


@pytest.mark.parametrize(("label", "media_type", "example"), BODIES, ids=[b[0] for b in BODIES])
async def test_the_admin_api_takes_the_examples_it_gives(
    settings: Settings, services: Services, label: str, media_type: str, example: Any
) -> None:
    app = create_app(settings.model_copy(update={"admin_key": SecretStr(ADMIN)}), services)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mnemo", headers=HEADERS) as http:
            assert (await http.post("/admin/tenants", json={"name": "someone"})).status_code == 201
            method, path = label.split(" ", 1)
            response = await http.request(method, path.format(name="someone"), json=example)
            assert response.status_code == 201, response.text
