"""The value rules shared by the HTTP API, the MCP tools and the JSONL import."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError

from app.fields import (
    NAME_PATTERN,
    JsonInt,
    as_utc,
    check_conversation_id,
    check_project,
    clean_tags,
    describe_errors,
    not_blank,
)


def test_not_blank_refuses_whitespace_only_and_keeps_text_as_given() -> None:
    assert not_blank("  hi ") == "  hi "
    for blank in ("", " ", "\n\t"):
        with pytest.raises(ValueError, match="must not be blank"):
            not_blank(blank)


def test_as_utc_takes_a_naive_time_as_utc_and_leaves_zoned_ones() -> None:
    naive = datetime(2025, 5, 1, 9, 30)
    assert as_utc(naive) == datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
    paris = datetime(2025, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(paris) is paris
    assert as_utc(None) is None


@pytest.mark.parametrize("good", ["ada", "a", "A.b_c:d-9", "x" * 128])
def test_names_of_up_to_128_safe_characters_pass(good: str) -> None:
    assert check_conversation_id(good) == good
    assert check_project(good) == good
    assert re.fullmatch(NAME_PATTERN, good)


@pytest.mark.parametrize("bad", ["", "x" * 129, "a b", "a/b", "é", "a|b"])
def test_other_names_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_conversation_id(bad)
    assert str(refused.value) == "conversation_id must be 1-128 characters from A-Z a-z 0-9 . _ : -"
    with pytest.raises(ValueError) as refused:
        check_project(bad)
    assert str(refused.value) == "project must be 1-128 characters from A-Z a-z 0-9 . _ : -"
    assert not re.fullmatch(NAME_PATTERN, bad)


def test_no_project_is_global() -> None:
    assert check_project(None) is None


def test_tags_are_collapsed_and_deduplicated_in_order() -> None:
    assert clean_tags([" db ", "big   data", "db", "ui"]) == ["db", "big data", "ui"]
    assert clean_tags([]) == []


def test_a_blank_tag_or_one_with_a_bar_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        clean_tags(["ok", "  "])
    assert str(refused.value) == "a tag must not be blank"
    with pytest.raises(ValueError) as refused:
        clean_tags([" a|b "])
    assert str(refused.value) == "a tag must not contain '|'"


class Body(BaseModel):
    count: JsonInt
    name: str


def test_validation_errors_read_as_one_sentence() -> None:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"count": "3"})
    text = describe_errors(caught.value.errors())
    assert text == "count: must be a number (not a string or a boolean); name: Field required"


def test_hidden_location_parts_are_dropped_and_an_error_without_one_names_the_whole() -> None:
    errors = [
        {"loc": ("body", "messages", 0, "content"), "msg": "Value error, must not be blank"},
        {"loc": ("body",), "msg": "Field required"},
        {"loc": (), "msg": "bad"},
    ]
    assert describe_errors(errors, skip=("body",)) == (
        "messages.0.content: must not be blank; body: Field required; body: bad"
    )
    assert describe_errors(errors[2:], whole="line") == "line: bad"
    assert describe_errors([{"loc": ("body",), "msg": "x"}]) == "body: x"
