"""Property-based fuzzing of every operation of /openapi.json (schemathesis) against the app on fakes.

For each operation, cases that fit the schema and cases that break it are sent to the app
(fake model, real Chroma on disk); no answer may be a 5xx, use a status or a body the
schema does not declare, or accept data the schema rules out; and at most half the cases
that fit the schema may be refused as bad input (else the schema hides a rule the API
enforces). Derandomized, so a run is the same every time; MNEMO_FUZZ_EXAMPLES (cases per
operation and kind) and MNEMO_FUZZ_SEED (other cases) make a longer local run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings
from app.wiring import Services

EXAMPLES = int(os.environ.get("MNEMO_FUZZ_EXAMPLES", "30"))
SEED = os.environ.get("MNEMO_FUZZ_SEED")  # unset: derandomized, the same cases every run
MOSTLY = 0.5  # share of fitting cases refused as bad input above which the schema hides a rule
REFUSED = (400, 422)  # a 404 (a memory id no one stored) says nothing about the data's shape
# A text body, or a free-text query list (`tag`): a number "of the wrong type" reaches the app as text,
# which is valid there, so accepting it is no fault (other checks still run on these operations).
TEXT_ON_THE_WIRE = {"POST /memories/import", "GET /memories"}
# NDJSON whose lines must each be a message: OpenAPI can only call it a string, so generated text is
# mostly refused, by design (the streamed import stops at a bad line); its tests are test_stream_import.py.
LINES_OF_JSON = {"POST /conversations/import"}

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(_env_file=None)).openapi())  # type: ignore[call-arg]
OPERATIONS: list[APIOperation] = [result.ok() for result in SCHEMA.get_all_operations()]
COMMON: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schemathesis.serializer("application/x-ndjson")
def json_lines(_: schemathesis.SerializationContext, value: Any) -> bytes:
    """An import body: the generated text as it is (anything else, as JSON)."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def run(operation: APIOperation, mode: GenerationMode, test: Callable[[Case], None]) -> None:
    """`test` on EXAMPLES generated cases of one operation, the same cases every run."""
    run_cases = hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=SEED is None,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking: report the first
    )(hypothesis.given(case=operation.as_strategy(mode))(test))
    if SEED is not None:
        run_cases = hypothesis.seed(int(SEED))(run_cases)
    run_cases()


@pytest.fixture
def app_under_test(settings: Settings, services: Services) -> Iterator[object]:
    app = create_app(settings, services)
    yield app
    asgi.shutdown_lifespans()  # started by the first call; closes the services


def test_the_fuzzer_sees_every_route() -> None:
    labels = {op.label for op in OPERATIONS}
    assert {"POST /chat", "POST /v1/chat/completions", "POST /memories/import"} <= labels
    assert len(labels) >= 21


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_generated_request_gets_a_server_error_or_an_undeclared_answer(
    operation: APIOperation, app_under_test: object
) -> None:
    statuses: list[int] = []
    refusals: list[str] = []

    def fitting(case: Case) -> None:
        response = case.call(app=app_under_test)
        case.validate_response(response, checks=COMMON)
        statuses.append(response.status_code)
        if response.status_code in REFUSED:
            refusals.append(response.text[:300])

    rejection = [] if operation.label in TEXT_ON_THE_WIRE else [negative_data_rejection]

    def breaking(case: Case) -> None:
        response = case.call(app=app_under_test)
        case.validate_response(response, checks=[*COMMON, *rejection])

    run(operation, GenerationMode.POSITIVE, fitting)
    refused = sum(status in REFUSED for status in statuses)
    mostly = 1.0 if operation.label in LINES_OF_JSON else MOSTLY
    assert refused <= mostly * len(statuses), f"{refused}/{len(statuses)} fitting cases refused: {refusals}"
    # Unsatisfiable: the schema rules nothing out (a free-form path id), so there is no bad request to send.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run(operation, GenerationMode.NEGATIVE, breaking)


def body_examples(operation: dict[str, Any]) -> list[tuple[str, Any]]:
    """The examples the schema gives for an operation's request body, with their media type."""
    found = []
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        schema = content.get("schema", {})
        if "$ref" in schema:
            schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        examples = [*schema.get("examples", []), *[e["value"] for e in content.get("examples", {}).values()]]
        found += [(media_type, example) for example in [*examples, content.get("example")] if example]
    return found


OPENAPI = SCHEMA.raw_schema
BODIES = [
    (f"{method.upper()} {path}", media_type, example)
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
    for media_type, example in body_examples(operation)
]


def test_every_request_body_comes_with_an_example() -> None:
    with_body = {
        f"{method.upper()} {path}"
        for path, item in OPENAPI["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }
    assert with_body == {label for label, _, _ in BODIES}


@pytest.mark.parametrize(("label", "media_type", "example"), BODIES, ids=[b[0] for b in BODIES])
async def test_the_api_takes_the_examples_it_gives(
    client: httpx.AsyncClient, label: str, media_type: str, example: Any
) -> None:
    method, path = label.split(" ", 1)
    memory = await client.post("/memories", json={"type": "general", "title": "t", "content": "a fact"})
    path = path.format(conversation_id="ada", memory_id=memory.json()["memory"]["id"])
    content = example.encode() if isinstance(example, str) else json.dumps(example).encode()
    response = await client.request(method, path, content=content, headers={"Content-Type": media_type})
    assert response.status_code < 300, response.text
