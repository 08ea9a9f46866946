"""The parts of the service, built once in the lifespan and closed there."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx

from app.context.budget import Shares
from app.context.builder import ContextBuilder
from app.context.manager import LLMContextManager
from app.llm.client import LLM, LlamaClient
from app.llm.tokens import TokenCounter
from app.memory.embedder import Embedder, SentenceTransformerEmbedder, default_model_path
from app.memory.history import History
from app.memory.keyword import KeywordIndex
from app.memory.retriever import Retriever
from app.memory.store import ChromaStore, Store
from app.memory.summarizer import Summarizer, SummaryScheduler
from app.settings import Settings


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

    @classmethod
    def assemble(
        cls,
        settings: Settings,
        llm: LLM,
        store: Store,
        embedder: Embedder,
        keywords: KeywordIndex | None = None,
    ) -> Services:
        history = History(store, embedder, keywords)
        counter = TokenCounter(llm)
        retriever = Retriever(store, embedder, settings.top_k, settings.score_threshold, keywords)
        builder = ContextBuilder(
            history,
            retriever,
            counter,
            llm,
            system_prompt=settings.system_prompt,
            window_max_turns=settings.window_max_turns,
            context_tokens=settings.context_tokens,
            shares=Shares(summaries=settings.summary_share, memories=settings.memory_share),
        )
        summarizer = Summarizer(
            history,
            store,
            embedder,
            llm,
            counter,
            every=settings.summary_every,
            keep=settings.window_min_turns,
            max_tokens=settings.summary_tokens,
            fanout=settings.summary_fanout,
            timeout=settings.summary_timeout,
        )
        scheduler = SummaryScheduler(summarizer)
        return cls(settings, llm, store, embedder, history, retriever, counter, builder, scheduler)

    def turn(
        self, conversation_id: str, message: str, max_tokens: int | None, params: dict[str, Any]
    ) -> LLMContextManager:
        """The context manager for one chat turn."""
        return LLMContextManager(
            builder=self.builder,
            history=self.history,
            llm=self.llm,
            scheduler=self.scheduler,
            conversation_id=conversation_id,
            message=message,
            reply_tokens=max_tokens or self.settings.reply_tokens,
            params=params,
        )


def chroma_client(settings: Settings) -> Any:
    """Embedded Chroma on disk, or a shared Chroma server when MNEMO_CHROMA_URL is set."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """The real parts: llama.cpp over httpx, Chroma, the MiniLM embedder."""
    timeout = httpx.Timeout(settings.llm_timeout, connect=settings.llm_connect_timeout)
    async with httpx.AsyncClient(base_url=settings.llm_url, timeout=timeout) as http:
        embedder = SentenceTransformerEmbedder(settings.embedding_model_path or default_model_path())
        store = ChromaStore(chroma_client(settings), tenant=settings.tenant)
        keywords = KeywordIndex(settings.data_dir / "keywords.sqlite3")
        llm = LlamaClient(http, settings.llm_model)
        services = Services.assemble(settings, llm, store, embedder, keywords)
        try:
            yield services
        finally:
            await services.scheduler.aclose()
            keywords.close()
