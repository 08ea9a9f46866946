"""The parts of the service, built once in the lifespan and closed there."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.conversations.catalog import Catalog, TenantCatalog, fill_catalog
from app.conversations.history import History
from app.conversations.keywords import KeywordIndex
from app.conversations.recorder import Recorder
from app.conversations.retriever import Retriever
from app.conversations.store import COLLECTION as TURNS
from app.conversations.store import LEGACY_COLLECTION, ChromaStore, Store
from app.conversations.summarizer import Summarizer, SummaryScheduler
from app.errors import StoreUnavailable
from app.jobs import Backlog
from app.llm.llama import LlamaClient
from app.llm.protocols import LLM
from app.llm.slots import SlotChooser, Slots
from app.llm.tokens import TokenCounter
from app.llm.traffic import Traffic
from app.longterm.book import Memories
from app.longterm.extractor import Extractor, LongTermScheduler
from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.store import COLLECTION as MEMORIES
from app.longterm.store import MemoryStore, key_by_tenant, stored_tenants
from app.metrics import Metrics
from app.prompt.budget import Shares
from app.prompt.builder import ContextBuilder
from app.prompt.recall import LongTermRecall
from app.prompt.sent import SentPrompts
from app.settings import Settings
from app.storage.backends import gates, legacy_model_name, model_name, open_embedder
from app.storage.chroma import chroma_client, open_collection
from app.storage.embedder import Embedder
from app.storage.heap import Heap
from app.storage.threads import in_thread
from app.storage.vector_space import VectorSpace, claim_collections
from app.tenancy import Tenancy
from app.turns.context_manager import TurnParts
from app.turns.factory import TurnFactory

HEAP_ARENAS = 2  # glibc's default, 8 per core, lets freed memory pile up in idle arenas


@dataclass
class Shared:
    """What every tenant's services share: the model's lane and slots, its tokenizer, the queues' caps."""

    traffic: Traffic
    counter: TokenCounter
    slots: SlotChooser
    summaries: Backlog  # summary jobs queued or running, all tenants together
    long_term: Backlog  # long-term memory jobs queued or running, all tenants together

    @classmethod
    def of(cls, settings: Settings, llm: LLM) -> Shared:
        return cls(
            Traffic(quiet=settings.import_quiet),  # chat replies and imports enter it; background waits
            TokenCounter(llm),
            SlotChooser(llm),
            Backlog(settings.summary_max_queued),
            Backlog(settings.extraction_max_queued),
        )


@dataclass
class Services:
    """Everything a request of one tenant needs, wired together by constructor injection."""

    settings: Settings
    llm: LLM
    store: Store
    embedder: Embedder
    history: History
    retriever: Retriever
    counter: TokenCounter
    builder: ContextBuilder
    scheduler: SummaryScheduler
    slots: Slots
    memories: Memories | None = None
    long_term: LongTermScheduler | None = None
    sent: SentPrompts = field(default_factory=SentPrompts)
    traffic: Traffic = field(default_factory=Traffic)
    metrics: Metrics | None = None  # the serving app's: counts each turn's tokens and memories
    catalog: TenantCatalog = field(default_factory=lambda: Catalog(":memory:").scoped("default"))
    tenant: str = "default"

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        llm: LLM,
        store: Store,
        embedder: Embedder,
        keywords: KeywordIndex | None = None,
        memory_store: MemoryStore | None = None,
        embedding_model: str = "",
        heap: Heap | None = None,
        catalog: TenantCatalog | None = None,
        shared: Shared | None = None,
        history: History | None = None,
    ) -> Services:
        """One tenant's services (the catalog's tenant; `settings.tenant` without one) on `shared` parts;
        `history`: the tenant's History still in use by its previous services, if any."""
        # Without a catalog file (tests, benches) the list of conversations lives as long as the service.
        catalog = catalog or Catalog(":memory:").scoped(settings.tenant)
        shared = shared or Shared.of(settings, llm)
        history = history or History(
            store,
            embedder,
            keywords,
            context=settings.embed_context,
            catalog=catalog,
            max_turns=settings.max_stored_turns,
        )
        traffic, counter = shared.traffic, shared.counter
        retriever = Retriever(
            store,
            embedder,
            settings.top_k,
            gates(settings).recall,
            keywords,
            neighbours=settings.neighbours,
            speakers=settings.speaker_ranking,
            keyword_weight=settings.keyword_weight,
            keyword_depth=settings.keyword_depth,
        )
        memories, recall, long_term = long_term_parts(
            settings, llm, embedder, counter, memory_store, embedding_model, traffic, shared.long_term
        )
        builder = ContextBuilder(
            history,
            retriever,
            counter,
            llm,
            system_prompt=settings.system_prompt,
            window_max_turns=settings.window_max_turns,
            context_tokens=settings.context_tokens,
            shares=Shares(
                summaries=settings.summary_share,
                memories=settings.memory_share,
                memories_past=settings.memory_share_past,
            ),
            recall=recall,
        )
        summarizer = Summarizer(
            history,
            embedder,
            llm,
            counter,
            every=settings.summary_every,
            keep=settings.window_min_turns,
            max_tokens=settings.summary_tokens,
            fanout=settings.summary_fanout,
            timeout=settings.summary_timeout,
            lookback=settings.summary_lookback,
            traffic=traffic,
        )
        scheduler = SummaryScheduler(
            summarizer,
            after=heap.trim if heap is not None else None,
            traffic=traffic,
            per_conversation=settings.summary_max_per_conversation,
            backlog=shared.summaries,
        )
        return cls(
            settings,
            llm,
            store,
            embedder,
            history,
            retriever,
            counter,
            builder,
            scheduler,
            shared.slots.scoped(catalog.tenant),
            memories,
            long_term,
            traffic=traffic,
            catalog=catalog,
            tenant=catalog.tenant,
        )

    def require_memories(self) -> Memories:
        """The long-term memory book, or StoreUnavailable where the service was built without one."""
        if self.memories is None:
            raise StoreUnavailable("long-term memories are not configured in this service")
        return self.memories

    async def drain(self) -> None:
        """Wait for the background work under way (summaries, long-term memories) to end."""
        await self.scheduler.drain()
        if self.long_term is not None:
            await self.long_term.drain()

    async def aclose(self) -> None:
        await self.scheduler.aclose()
        if self.long_term is not None:
            await self.long_term.aclose()

    @property
    def turns(self) -> TurnFactory:
        """Makes each request's turn; built at each use, as a test or a bench may swap the scheduler."""
        parts = TurnParts(
            self.builder,
            self.history,
            self.llm,
            self.slots,
            self.scheduler,
            self.long_term,
            self.traffic,
            self.metrics,
        )
        return TurnFactory(parts, self.settings.reply_tokens)

    @property
    def recorder(self) -> Recorder:
        """Imports and forgets conversations; built at each use, like `turns`."""
        return Recorder(self.history, self.scheduler, self.traffic)


def long_term_parts(
    settings: Settings,
    llm: LLM,
    embedder: Embedder,
    counter: TokenCounter,
    memory_store: MemoryStore | None,
    embedding_model: str,
    traffic: Traffic | None = None,
    backlog: Backlog | None = None,
) -> tuple[Memories | None, LongTermRecall | None, LongTermScheduler | None]:
    """The long-term memory book, its injection into prompts and the work after each turn."""
    if memory_store is None:
        return None, None, None
    gate = gates(settings)
    memories = Memories(
        memory_store,
        embedder,
        embedding_model,
        duplicate_threshold=gate.duplicate,
        supersede_threshold=gate.supersede,
    )
    recall = LongTermRecall(memories, counter, settings.memory_top_k, gate.memory)
    extractor = None
    if settings.extraction_enabled:
        extractor = Extractor(
            llm, memories, max_items=settings.extraction_max_items, retries=settings.extraction_retries
        )
    return memories, recall, LongTermScheduler(memories, extractor, traffic, backlog)


@dataclass
class TenantParts:
    """The parts every tenant shares, and `build(tenant)`: that tenant's Services on them.

    Every store a tenant's Services gets is scoped to the tenant here, at this one place: its
    conversations' collections (named by tenant and conversation), its view of the keyword index
    and of the catalog, its long-term memories.
    """

    settings: Settings
    llm: LLM
    embedder: Embedder
    chroma: Any
    keywords: KeywordIndex
    catalog: Catalog
    memory_index: MemoryKeywordIndex
    space: VectorSpace | None = None
    heap: Heap | None = None
    embedding_model: str = ""
    shared: Shared | None = None
    _memories: Any = field(init=False, default=None)
    # A tenant's History while anything holds it: services built again for a tenant whose previous
    # ones are still in use (a turn streaming, a summary folding) share its conversation locks and
    # next turn indices, so two turns of one conversation never take the same index.
    _histories: weakref.WeakValueDictionary[str, History] = field(
        init=False, default_factory=weakref.WeakValueDictionary
    )

    def __post_init__(self) -> None:
        self.shared = self.shared or Shared.of(self.settings, self.llm)
        self._memories = open_collection(self.chroma, MEMORIES)  # once: it is every tenant's

    def build(self, tenant: str) -> Services:
        """The tenant's Services; blocks only on what is cheap (no Chroma call)."""
        services = Services.assemble(
            self.settings,
            self.llm,
            ChromaStore(self.chroma, tenant=tenant, space=self.space),
            self.embedder,
            self.keywords.scoped(tenant),
            MemoryStore(
                self.chroma,
                self.memory_index,
                tenant=tenant,
                collection=self._memories,
                max_memories=self.settings.max_stored_memories,
            ),
            embedding_model=self.embedding_model,
            heap=self.heap,
            catalog=self.catalog.scoped(tenant),
            shared=self.shared,
            history=self._histories.get(tenant),
        )
        self._histories[tenant] = services.history
        return services

    async def reconcile(self, tenant: str) -> None:
        """Repair the tenant's rows of the memories' keyword index after a crash (see MemoryStore)."""
        await MemoryStore(self.chroma, self.memory_index, tenant, self._memories).reconcile()

    def memory_tenants(self) -> set[str]:
        """The tenants with long-term memories stored (blocking)."""
        return stored_tenants(self._memories, self.memory_index)

    def tenancy(self) -> Tenancy:
        """Every tenant's Services, the default tenant's (`settings.tenant`) built now."""
        return Tenancy(self.build(self.settings.tenant), self.build, self.settings.tenants_cached)

    def close(self) -> None:
        self.memory_index.close()
        self.keywords.close()
        self.catalog.close()


@asynccontextmanager
async def open_tenancy(settings: Settings) -> AsyncIterator[Tenancy]:
    """The real parts: llama.cpp over httpx, Chroma, the configured embedder (MiniLM by default)."""
    timeout = httpx.Timeout(settings.llm_timeout, connect=settings.llm_connect_timeout)
    async with httpx.AsyncClient(base_url=settings.llm_url, timeout=timeout) as http:
        heap = Heap()
        heap.limit_arenas(HEAP_ARENAS)  # before the embedder's and Chroma's threads allocate
        async with open_embedder(settings) as embedder:
            chroma = chroma_client(settings)
            # Before anything is read or written: vectors of two models never meet in one collection.
            space = await claim_collections(
                chroma,
                [TURNS, MEMORIES],
                embedder,
                model_name(settings),
                legacy=legacy_model_name(settings),
                if_present=[LEGACY_COLLECTION],
            )
            async with stores_and_tenancy(
                settings, LlamaClient(http, settings.model_alias), chroma, embedder, heap, space
            ) as tenancy:
                yield tenancy


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """The default tenant's Services on the real parts (the stdio MCP server, benches)."""
    async with open_tenancy(settings) as tenancy:
        yield tenancy.default


@asynccontextmanager
async def stores_and_tenancy(
    settings: Settings,
    llm: LLM,
    chroma: Any,
    embedder: Embedder,
    heap: Heap | None = None,
    space: VectorSpace | None = None,
) -> AsyncIterator[Tenancy]:
    """The stores on `chroma`, moved to the current layout, and every tenant's services on them."""
    store = ChromaStore(chroma, tenant=settings.tenant, space=space)
    await store.adopt_legacy()  # a data folder of the one-collection layout, moved on its first start
    # Rows of a keyword file from before tenants become the default tenant's.
    keywords = KeywordIndex(settings.data_dir / "keywords.sqlite3", tenant=settings.tenant)
    catalog = Catalog(settings.catalog_path)
    await fill_catalog(catalog, await keywords.conversations(), lambda t: ChromaStore(chroma, t, space))
    await in_thread(lambda: key_by_tenant(open_collection(chroma, MEMORIES)), "the memory store")
    parts = TenantParts(
        settings,
        llm,
        embedder,
        chroma,
        keywords,
        catalog,
        MemoryKeywordIndex(settings.memory_index_path),
        space,
        heap,
        model_name(settings),
    )
    tenancy = parts.tenancy()
    try:
        # Each tenant's keyword rows made to match its memories in Chroma (a crash between the two).
        for tenant in await in_thread(parts.memory_tenants, "the memory store") | {settings.tenant}:
            await parts.reconcile(tenant)
        yield tenancy
    finally:
        await tenancy.aclose()
        parts.close()
