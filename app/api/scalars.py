"""Numbers as JSON types them: an integer field takes 3 or 3.0, never "3" or true.

Pydantic's lax mode would read "3" and true as integers, which the OpenAPI schema
(`type: integer`) rules out; its strict mode would refuse 3.0, which the schema allows.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number (not a string or a boolean)")
    return value


JsonInt = Annotated[int, BeforeValidator(json_number)]
