"""One mapping from failures to status, code and message, in Mnemo's and OpenAI's shapes."""

from __future__ import annotations

import json

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.api.errors import Problem, http_problem, invalid_request, problem, respond
from app.errors import (
    EmbedderUnavailable,
    InvalidInput,
    LLMFailed,
    LLMRefused,
    LLMUnavailable,
    LLMUnsupported,
    MessageTooLarge,
    MnemoError,
    NotFound,
    StoreUnavailable,
    VectorSpaceMismatch,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInput("m"), 422, "invalid_input"),
        (MessageTooLarge("m"), 422, "message_too_large"),
        (NotFound("m"), 404, "not_found"),
        (LLMUnavailable("m"), 503, "llm_unavailable"),
        (LLMFailed("m"), 502, "llm_failed"),
        (LLMRefused("m"), 502, "llm_failed"),
        (LLMUnsupported("m"), 502, "llm_unsupported"),
        (StoreUnavailable("m"), 503, "store_unavailable"),
        (EmbedderUnavailable("m"), 503, "embedder_unavailable"),
        (VectorSpaceMismatch("m"), 500, "vector_space_mismatch"),
        (MnemoError("m"), 500, "internal_error"),
    ],
)
def test_mnemo_errors_keep_their_status_code_and_message(error: MnemoError, status: int, code: str) -> None:
    assert problem(error) == Problem(status, code, "m")


def test_anything_else_is_an_internal_error_that_hides_its_detail() -> None:
    assert problem(RuntimeError("secret")) == Problem(
        500, "internal_error", "Mnemo failed unexpectedly; see its log."
    )
    assert problem(KeyError("x"), "Mnemo failed; see its log.").message == "Mnemo failed; see its log."


def test_the_two_body_shapes() -> None:
    client = Problem(422, "invalid_input", "bad")
    assert client.body() == {"error": {"code": "invalid_input", "message": "bad"}}
    assert client.openai_body() == {
        "error": {"message": "bad", "type": "invalid_request_error", "code": "invalid_input"}
    }
    server = Problem(503, "llm_unavailable", "down")
    assert server.openai_body()["error"]["type"] == "server_error"
    assert Problem(499, "x", "y").openai_body()["error"]["type"] == "invalid_request_error"
    assert Problem(500, "x", "y").openai_body()["error"]["type"] == "server_error"


def test_bad_json_wins_over_other_validation_errors() -> None:
    errors = [
        {"type": "missing", "loc": ("body", "x"), "msg": "Field required"},
        {
            "type": "json_invalid",
            "loc": ("body", 3),
            "msg": "JSON decode error",
            "ctx": {"error": "Expecting value"},
        },
    ]
    assert invalid_request(errors) == Problem(
        422, "invalid_json", "The request body is not valid JSON: Expecting value"
    )


def test_field_errors_are_listed_without_where_fastapi_found_them() -> None:
    errors = [
        {"type": "missing", "loc": ("body", "message"), "msg": "Field required"},
        {"type": "value_error", "loc": ("path", "conversation_id"), "msg": "Value error, too long"},
        {"type": "int_parsing", "loc": ("query", "limit"), "msg": "not an integer"},
    ]
    assert invalid_request(errors) == Problem(
        422, "invalid_input", "message: Field required; conversation_id: too long; limit: not an integer"
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, Problem(422, "invalid_json", "The request body is not valid JSON: broken")),
        (404, Problem(404, "not_found", "broken")),
        (405, Problem(405, "method_not_allowed", "broken")),
        (418, Problem(418, "http_error", "broken")),
    ],
)
def test_http_errors(status: int, expected: Problem) -> None:
    assert http_problem(HTTPException(status, "broken")) == expected


def request_to(path: str) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [],
            "query_string": b"",
            "scheme": "http",
            "server": ("mnemo", 80),
        }
    )


def test_the_openai_shape_answers_under_v1_only() -> None:
    found = Problem(502, "llm_failed", "broke")
    openai = respond(found, request_to("/v1/chat/completions"))
    assert openai.status_code == 502
    assert json.loads(openai.body) == {
        "error": {"message": "broke", "type": "server_error", "code": "llm_failed"}
    }
    for path in ("/chat", "/v1", "/memories/v1/x"):
        mnemo = respond(found, request_to(path))
        assert json.loads(mnemo.body) == {"error": {"code": "llm_failed", "message": "broke"}}
    assert json.loads(respond(found).body) == found.body()
