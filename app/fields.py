"""The rules values follow wherever they enter Mnemo (HTTP bodies, MCP tools, JSONL imports).

One copy each: ids and project names, not-blank text, UTC times, tags, pydantic's errors as a
sentence. Numbers and times are as JSON types them: an integer field takes 3 or 3.0, never "3"
or true; a time is a string. Pydantic's lax mode would read "3" and true as integers and
1700000000 as a time, which the OpenAPI schema (`type: integer`, `format: date-time`) rules out;
its strict mode would refuse 3.0, which the schema allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
# A conversation id, a project name, a tenant name, a memory id in an export: 1-128 of these characters.
NAME_CHARS = "[A-Za-z0-9._:-]"
NAME = re.compile(NAME_CHARS + "{1,128}")
NAME_PATTERN = f"^{NAME.pattern}$"
NAME_RULE = "1-128 characters from A-Z a-z 0-9 . _ : -"


def json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number (not a string or a boolean)")
    return value


JsonInt = Annotated[int, BeforeValidator(json_number)]


def json_string(value: Any) -> Any:
    # Pydantic would read a number, or a string of one ("0.0"), as a Unix time.
    if not isinstance(value, str | datetime) or (isinstance(value, str) and NUMBER.fullmatch(value.strip())):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


JsonDateTime = Annotated[datetime, BeforeValidator(json_string)]


def check_conversation_id(value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValueError(f"conversation_id must be {NAME_RULE}")
    return value


def check_tenant(value: str) -> str:
    if not NAME.fullmatch(value):
        raise ValueError(f"a tenant name must be {NAME_RULE}")
    return value


def check_project(value: str | None) -> str | None:
    if value is not None and not NAME.fullmatch(value):
        raise ValueError(f"project must be {NAME_RULE}")
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def clean_tags(values: Iterable[str]) -> list[str]:
    """Tags with their whitespace collapsed, in order, each once; none blank or holding '|'."""
    tags = []
    for value in values:
        tag = " ".join(value.split())
        if not tag:
            raise ValueError("a tag must not be blank")
        if "|" in tag:
            raise ValueError("a tag must not contain '|'")
        tags.append(tag)
    return list(dict.fromkeys(tags))


def describe_errors(
    errors: Iterable[Mapping[str, Any]], skip: Iterable[str] = (), whole: str = "body"
) -> str:
    """Pydantic's validation errors as one sentence: `field.path: message; ...`.

    `skip` drops location parts the reader did not write (FastAPI's "body"); `whole` names an
    error without a location.
    """
    hidden = set(skip)
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in hidden]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc) or whole}: {message}")
    return "; ".join(parts)
