"""Mnemo's Prometheus instruments: HTTP requests, and what each chat turn cost and recalled.

Every Metrics has a CollectorRegistry of its own (never the process-wide default), so
several apps in one process (tests, benches) each count only their own traffic.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from app.llm.usage import Usage
from app.prompt.builder import PromptContext

# Seconds: a health check takes milliseconds, a long streamed reply a minute or more.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Prompt tokens of one turn: a few dozen for a first message, the whole context for a long chat.
TOKEN_BUCKETS = (0, 16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
# Memories in one prompt: recall's top_k caps recalled turns at 40 by default.
MEMORY_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 40, 80)


class Metrics:
    """The instruments, on their own registry; `watch` adds what is read at scrape time."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._watched: Collector | None = None
        self.requests = Counter(
            "mnemo_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mnemo_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response (a whole stream), by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prompt_tokens = Histogram(
            "mnemo_turn_prompt_tokens",
            "Prompt tokens of each finished chat turn: `cached` reused from llama.cpp's KV cache, "
            "`evaluated` computed anew.",
            ["kind"],
            buckets=TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.memories = Histogram(
            "mnemo_turn_memories_injected",
            "Memories in each finished chat turn's prompt: `recalled` turns of the conversation, "
            "`long_term` memories.",
            ["kind"],
            buckets=MEMORY_BUCKETS,
            registry=self.registry,
        )

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request, labelled by its route's template (never the raw path)."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def turn(self, usage: Usage, context: PromptContext | None) -> None:
        """One finished chat turn: llama.cpp's token counts (if reported) and its prompt's memories."""
        if usage.cached_tokens or usage.evaluated_tokens:  # a server that reports nothing is no data
            self.prompt_tokens.labels("cached").observe(usage.cached_tokens)
            self.prompt_tokens.labels("evaluated").observe(usage.evaluated_tokens)
        if context is not None:
            self.memories.labels("recalled").observe(len(context.memories))
            self.memories.labels("long_term").observe(len(context.long_term))

    def watch(self, collector: Collector) -> None:
        """Read `collector` at every scrape, in place of the one watched before (a restarted lifespan)."""
        if self._watched is not None:
            self.registry.unregister(self._watched)
        self.registry.register(collector)
        self._watched = collector
