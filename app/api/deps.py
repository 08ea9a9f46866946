"""The parts a route works with, one `Annotated` dependency each, taken from the lifespan's Services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from app.api.schemas.conversations import CONVERSATION_ID_SCHEMA
from app.conversations.catalog import TenantCatalog
from app.conversations.history import History
from app.conversations.recorder import Recorder
from app.conversations.store import Store
from app.conversations.summarizer import SummaryScheduler
from app.fields import NAME_RULE, check_conversation_id
from app.llm.protocols import LLM
from app.llm.tokens import TokenCounter
from app.longterm.book import Memories
from app.longterm.cleanup import Cleanup
from app.longterm.extractor import Extractor
from app.longterm.transfer import MemoryTransfer
from app.prompt.builder import ContextBuilder
from app.prompt.sent import SentPrompts
from app.settings import Settings
from app.tenancy import Tenancy
from app.turns.factory import TurnFactory
from app.wiring import Services


def get_tenant(request: Request) -> str:
    """The tenant the request acts as (set by the key middleware); the configured one without it."""
    tenant = getattr(request.state, "tenant", None)
    return tenant if isinstance(tenant, str) else request.app.state.tenants.default_tenant


def get_services(request: Request) -> Services:
    """The Services of the request's tenant: every store in it is scoped to that tenant."""
    tenants: Tenancy = request.app.state.tenants
    return tenants.services(get_tenant(request))


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_catalog(services: ServicesDep) -> TenantCatalog:
    return services.catalog


def get_llm(services: ServicesDep) -> LLM:
    return services.llm


def get_store(services: ServicesDep) -> Store:
    return services.store


def get_counter(services: ServicesDep) -> TokenCounter:
    return services.counter


def get_history(services: ServicesDep) -> History:
    return services.history


def get_builder(services: ServicesDep) -> ContextBuilder:
    return services.builder


def get_summaries(services: ServicesDep) -> SummaryScheduler:
    return services.scheduler


def get_sent(services: ServicesDep) -> SentPrompts:
    return services.sent


def get_turns(services: ServicesDep) -> TurnFactory:
    return services.turns


def get_recorder(services: ServicesDep) -> Recorder:
    return services.recorder


def get_book(services: ServicesDep) -> Memories:
    return services.require_memories()


def get_extractor(services: ServicesDep) -> Extractor | None:
    """The extractor of long-term memories after each turn; None when extraction is off."""
    return services.long_term.extractor if services.long_term else None


SettingsDep = Annotated[Settings, Depends(get_settings)]
LLMDep = Annotated[LLM, Depends(get_llm)]
CatalogDep = Annotated[TenantCatalog, Depends(get_catalog)]
StoreDep = Annotated[Store, Depends(get_store)]
CounterDep = Annotated[TokenCounter, Depends(get_counter)]
HistoryDep = Annotated[History, Depends(get_history)]
BuilderDep = Annotated[ContextBuilder, Depends(get_builder)]
SummariesDep = Annotated[SummaryScheduler, Depends(get_summaries)]
SentDep = Annotated[SentPrompts, Depends(get_sent)]
TurnsDep = Annotated[TurnFactory, Depends(get_turns)]
RecorderDep = Annotated[Recorder, Depends(get_recorder)]
BookDep = Annotated[Memories, Depends(get_book)]
ExtractorDep = Annotated[Extractor | None, Depends(get_extractor)]


def get_transfer(book: BookDep) -> MemoryTransfer:
    return MemoryTransfer(book)


def get_cleanup(book: BookDep) -> Cleanup:
    return Cleanup(book)


TransferDep = Annotated[MemoryTransfer, Depends(get_transfer)]
CleanupDep = Annotated[Cleanup, Depends(get_cleanup)]

ConversationIdPath = Annotated[
    str,
    Path(description=f"Conversation id: {NAME_RULE}", json_schema_extra=CONVERSATION_ID_SCHEMA),
    AfterValidator(check_conversation_id),
]
