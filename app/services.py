"""The parts of the service, built once in the lifespan and closed there."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
from cachetools import LRUCache

from app.context.budget import Shares
from app.context.builder import ContextBuilder, PromptContext
from app.context.client_turn import ClientTurn
from app.context.manager import LLMContextManager
from app.llm.client import LLM, LlamaClient
from app.llm.tokens import TokenCounter
from app.memory.embedder import Embedder, SentenceTransformerEmbedder, default_model_path
from app.memory.history import History
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
    counter: TokenCounter
    builder: ContextBuilder
    scheduler: SummaryScheduler
    # The last prompt sent for each conversation, so a user can see what was injected.
    contexts: LRUCache[str, PromptContext] = field(default_factory=lambda: LRUCache(maxsize=1000))

    @classmethod
    def assemble(cls, settings: Settings, llm: LLM, store: Store, embedder: Embedder) -> Services:
        history = History(store, embedder)
        counter = TokenCounter(llm)
        retriever = Retriever(store, embedder, settings.top_k, settings.score_threshold)
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
        return cls(settings, llm, store, embedder, history, counter, builder, SummaryScheduler(summarizer))

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

    def client_turn(
        self,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int | None,
        params: dict[str, Any],
    ) -> ClientTurn:
        """The context manager for one turn of an OpenAI-style client."""
        return ClientTurn(
            builder=self.builder,
            history=self.history,
            llm=self.llm,
            scheduler=self.scheduler,
            conversation_id=conversation_id,
            messages=messages,
            reply_tokens=max_tokens or self.settings.reply_tokens,
            params=params,
            tools=params.get("tools"),
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
        services = Services.assemble(settings, LlamaClient(http, settings.llm_model), store, embedder)
        try:
            yield services
        finally:
            await services.scheduler.aclose()
