"""Values as JSON types them: an integer field takes 3 or 3.0, never "3" or true; a time is a string.

Pydantic's lax mode would read "3" and true as integers and 1700000000 as a time, which the
OpenAPI schema (`type: integer`, `format: date-time`) rules out; its strict mode would refuse
3.0, which the schema allows.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


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
