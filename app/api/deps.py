"""Dependencies of the routes, as Annotated aliases."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator, Field

from app.wiring import Services

CONVERSATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The same rule as the OpenAPI schema states it (checked by check_conversation_id, for its message).
CONVERSATION_ID_SCHEMA = {"pattern": "^[A-Za-z0-9._:-]{1,128}$", "minLength": 1, "maxLength": 128}


def check_conversation_id(value: str) -> str:
    if not CONVERSATION_ID.fullmatch(value):
        raise ValueError("conversation_id must be 1-128 characters from A-Z a-z 0-9 . _ : -")
    return value


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
ConversationIdStr = Annotated[
    str, Field(json_schema_extra=CONVERSATION_ID_SCHEMA), AfterValidator(check_conversation_id)
]
ConversationIdPath = Annotated[
    str,
    Path(
        description="Conversation id: 1-128 characters from A-Z a-z 0-9 . _ : -",
        json_schema_extra=CONVERSATION_ID_SCHEMA,
    ),
    AfterValidator(check_conversation_id),
]
