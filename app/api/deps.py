"""Dependencies of the routes, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from app.api.schemas.conversations import CONVERSATION_ID_SCHEMA
from app.fields import NAME_RULE, check_conversation_id
from app.wiring import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
ConversationIdPath = Annotated[
    str,
    Path(description=f"Conversation id: {NAME_RULE}", json_schema_extra=CONVERSATION_ID_SCHEMA),
    AfterValidator(check_conversation_id),
]
