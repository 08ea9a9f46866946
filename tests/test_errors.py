"""The error classes: status and code of each, and which family each belongs to.

tests/api/test_errors.py checks how the HTTP layer maps them; here are the classes themselves.
"""

from __future__ import annotations

import pytest

from app.errors import (
    InvalidInput,
    LLMFailed,
    LLMRefused,
    LLMUnavailable,
    LLMUnsupported,
    MessageTooLarge,
    MnemoError,
    NotFound,
    StoreUnavailable,
)


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (MnemoError, 500, "internal_error"),
        (InvalidInput, 422, "invalid_input"),
        (MessageTooLarge, 422, "message_too_large"),
        (NotFound, 404, "not_found"),
        (LLMUnavailable, 503, "llm_unavailable"),
        (LLMFailed, 502, "llm_failed"),
        (LLMRefused, 502, "llm_failed"),
        (LLMUnsupported, 502, "llm_unsupported"),
        (StoreUnavailable, 503, "store_unavailable"),
    ],
)
def test_status_and_code(cls: type[MnemoError], status: int, code: str) -> None:
    error = cls("what went wrong")
    assert (error.status_code, error.code) == (status, code)
    assert error.message == "what went wrong"
    assert str(error) == "what went wrong"


def test_families_are_caught_by_their_base() -> None:
    # Callers catch LLMFailed for any llama.cpp failure and InvalidInput for any bad request.
    assert issubclass(LLMRefused, LLMFailed)
    assert issubclass(LLMUnsupported, LLMFailed)
    assert issubclass(MessageTooLarge, InvalidInput)
    assert not issubclass(LLMUnavailable, LLMFailed)  # unreachable is not a failed answer
    for cls in (InvalidInput, NotFound, LLMUnavailable, LLMFailed, StoreUnavailable):
        assert issubclass(cls, MnemoError)
