"""The parts of the service, built once in the lifespan and closed there."""

from __future__ import annotations

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
from app.llm.llama import LlamaClient
from app.llm.protocols import LLM
from app.llm.slots import SlotChooser
from app.llm.tokens import TokenCounter
from app.llm.traffic import Traffic
from app.longterm.book import Memories
from app.longterm.extractor import Extractor, LongTermScheduler
from app.longterm.keywords import MemoryKeywordIndex
from app.longterm.store import COLLECTION as MEMORIES
from app.longterm.store import MemoryStore
from app.metrics import Metrics
from app.prompt.budget import Shares
from app.prompt.builder import ContextBuilder
from app.prompt.recall import LongTermRecall
from app.prompt.sent import SentPrompts
from app.settings import Settings
from app.storage.backends import gates, legacy_model_name, model_name, open_embedder
from app.storage.chroma import chroma_client
from app.storage.embedder import Embedder
from app.storage.heap import Heap
from app.storage.vector_space import VectorSpace, claim_collections
from app.turns.context_manager import TurnParts
from app.turns.factory import TurnFactory

HEAP_ARENAS = 2  # glibc's default, 8 per core, lets freed memory pile up in idle arenas


@dataclass
class Services:
    """Everything a request needs, wired together by constructor injection."""

    settings: Settings
    llm: LLM
    store: Store
    embedder: Embedder
    history: History
    retriever: Retriever
    counter: TokenCounter
    builder: ContextBuilder
    scheduler: SummaryScheduler
    slots: SlotChooser
    memories: Memories | None = None
    long_term: LongTermScheduler | None = None
    sent: SentPrompts = field(default_factory=SentPrompts)
    traffic: Traffic = field(default_factory=Traffic)
    metrics: Metrics | None = None  # the serving app's: counts each turn's tokens and memories
    catalog: TenantCatalog = field(default_factory=lambda: Catalog(":memory:").scoped("default"))

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
    ) -> Services:
        # Without a catalog file (tests, benches) the list of conversations lives as long as the service.
        catalog = catalog or Catalog(":memory:").scoped(settings.tenant)
        history = History(store, embedder, keywords, context=settings.embed_context, catalog=catalog)
        traffic = Traffic()  # chat replies enter it; summaries and extraction wait for it
        counter = TokenCounter(llm)
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
            settings, llm, embedder, counter, memory_store, embedding_model, traffic
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
            max_queued=settings.summary_max_queued,
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
            SlotChooser(llm),
            memories,
            long_term,
            traffic=traffic,
            catalog=catalog,
        )

    def require_memories(self) -> Memories:
        """The long-term memory book, or StoreUnavailable where the service was built without one."""
        if self.memories is None:
            raise StoreUnavailable("long-term memories are not configured in this service")
        return self.memories

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
        return Recorder(self.history, self.scheduler)


def long_term_parts(
    settings: Settings,
    llm: LLM,
    embedder: Embedder,
    counter: TokenCounter,
    memory_store: MemoryStore | None,
    embedding_model: str,
    traffic: Traffic | None = None,
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
    return memories, recall, LongTermScheduler(memories, extractor, traffic)


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
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
            async with stores_and_services(
                settings, LlamaClient(http, settings.model_alias), chroma, embedder, heap, space
            ) as services:
                yield services


@asynccontextmanager
async def stores_and_services(
    settings: Settings,
    llm: LLM,
    chroma: Any,
    embedder: Embedder,
    heap: Heap,
    space: VectorSpace | None = None,
) -> AsyncIterator[Services]:
    """The stores on `chroma` and the service built on them, closed in turn."""
    store = ChromaStore(chroma, tenant=settings.tenant, space=space)
    await store.adopt_legacy()  # a data folder of the one-collection layout, moved on its first start
    keywords = KeywordIndex(settings.data_dir / "keywords.sqlite3")
    catalog = Catalog(settings.catalog_path)
    rows = [(settings.tenant, cid, n) for cid, n in await keywords.conversations()]
    await fill_catalog(catalog, rows, lambda _tenant: store)  # once, from the turns stored before it
    memory_store = MemoryStore(chroma, MemoryKeywordIndex(settings.memory_index_path), tenant=settings.tenant)
    await memory_store.reconcile()
    services = Services.assemble(
        settings,
        llm,
        store,
        embedder,
        keywords,
        memory_store,
        embedding_model=model_name(settings),
        heap=heap,
        catalog=catalog.scoped(settings.tenant),
    )
    try:
        yield services
    finally:
        await services.aclose()
        memory_store.close()
        keywords.close()
        catalog.close()
