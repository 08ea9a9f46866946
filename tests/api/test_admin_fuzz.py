"""The admin API under the same fuzzing as the rest (tests/api/test_fuzz.py), with keys on.

With keys on every operation also declares its 401; a generated request with the admin key must get
an answer the schema declares, one without it a 401 in the one error shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import negative_data_rejection

from app.main import create_app
from app.settings import Settings
from app.wiring import Services
from tests.api.test_fuzz import COMMON, MOSTLY, REFUSED, run

ADMIN = "admin-key-for-fuzzing-0123456789"
KEYED = Settings(_env_file=None, admin_key=SecretStr(ADMIN))  # type: ignore[call-arg]
SCHEMA = schemathesis.openapi.from_dict(create_app(KEYED).openapi())
OPERATIONS: list[APIOperation] = [
    op for op in (result.ok() for result in SCHEMA.get_all_operations()) if op.path.startswith("/admin")
]
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def keyed_app(settings: Settings, services: Services) -> Iterator[object]:
    app = create_app(settings.model_copy(update={"admin_key": SecretStr(ADMIN)}), services)
    yield app
    asgi.shutdown_lifespans()


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
