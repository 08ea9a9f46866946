"""Assembling one turn's prompt: summaries, recent window and recalled memories, fitted exactly."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from app.context.budget import Request, Shares, plan
from app.context.prompt import (
    MEMORY_FOOTER,
    MEMORY_HEADER,
    SUMMARY_HEADER,
    Message,
    build_messages,
    memory_label,
    summary_label,
    turn_content,
)
from app.context.recall import LongTermRecall, long_term_block
from app.errors import InvalidInput, MessageTooLarge
from app.llm.client import LLM
from app.llm.tokens import TokenCounter
from app.memory import hierarchy
from app.memory.history import History
from app.memory.longterm import Scored
from app.memory.retriever import Retriever
from app.memory.types import Memory, Summary, Turn, utcnow

# Template tokens around one message (Gemma: "<start_of_turn>user\n" ... "<end_of_turn>\n").
# Only for planning: every prompt is counted exactly before it is used.
MESSAGE_OVERHEAD = 6
FIT_ATTEMPTS = 4
# Context assumed when the server does not say (not llama.cpp) and none is configured.
FALLBACK_CONTEXT = 4096


@dataclass(frozen=True)
class PromptContext:
    """What one turn sends to the model, and why."""

    conversation_id: str
    messages: list[Message]
    memories: list[Memory]
    summaries: list[Summary]
    window: list[Turn]
    prompt_tokens: int
    budget: int
    next_index: int
    long_term: list[Scored] = field(default_factory=list)


class ContextBuilder:
    """Builds the prompt for a new message in a conversation, exactly inside a token budget."""

    def __init__(
        self,
        history: History,
        retriever: Retriever,
        counter: TokenCounter,
        llm: LLM,
        system_prompt: str,
        window_max_turns: int,
        context_tokens: int = 0,
        shares: Shares | None = None,
        recall: LongTermRecall | None = None,
    ) -> None:
        self._history = history
        self._retriever = retriever
        self._counter = counter
        self._llm = llm
        self._system = system_prompt
        self._window_max = window_max_turns
        self._context_tokens = context_tokens
        self._shares = shares or Shares()
        self._recall = recall

    async def context_size(self) -> int:
        """Tokens one request may use: the server's per-slot context unless configured lower."""
        n_ctx = (await self._llm.info()).n_ctx
        if not n_ctx:
            return self._context_tokens or FALLBACK_CONTEXT
        if self._context_tokens and self._context_tokens < n_ctx:
            return self._context_tokens
        return n_ctx

    async def prompt_budget(self, reply_tokens: int) -> int:
        """Tokens left for the prompt once the reply's room is set aside."""
        size = await self.context_size()
        budget = size - reply_tokens
        if budget <= 0:
            raise InvalidInput(
                f"max_tokens={reply_tokens} leaves no room for the prompt in a context of {size} tokens."
            )
        return budget

    async def build(
        self, conversation_id: str, message: str, budget: int, project: str | None = None
    ) -> PromptContext:
        next_index = await self._history.next_index(conversation_id)
        summaries = hierarchy.active(await self._history.summaries(conversation_id))
        # The window starts after the summarised past, so no turn is in the prompt twice;
        # it is append-only between summaries, which keeps llama.cpp's cached prefix valid.
        start = max(hierarchy.covered_through(summaries) + 1, next_index - self._window_max)
        window = await self._history.read(conversation_id, start, next_index)
        in_window = frozenset(t.content.strip() for t in window)
        now = window[-1].created_at if window else utcnow()  # "last May" means May before the latest turn
        memories = await self._retriever.retrieve(
            conversation_id, message, before=start, exclude=in_window, now=now
        )

        fixed = await self._counter.prompt(build_messages(self._system, [], [], [], message))
        window_costs = [
            c + MESSAGE_OVERHEAD for c in await self._counter.texts([turn_content(t) for t in window])
        ]
        long_term: list[Scored] = []
        if self._recall is not None:
            # Long-term memories go before any window turn is dropped: room is what the window leaves.
            candidates = await self._recall.candidates(message, project)
            long_term = await self._recall.fit(candidates, budget - fixed - sum(window_costs))
        lt_block = long_term_block(long_term)
        if lt_block:
            fixed = await self._counter.prompt(build_messages(self._system, [], [], [], message, lt_block))
        summary_costs = [c + 1 for c in await self._counter.texts([summary_label(s) for s in summaries])]
        if summary_costs:  # the header comes with the newest summary, which is kept first
            summary_costs[-1] += await self._counter.text(f"\n\n{SUMMARY_HEADER}\n")
        request = Request(
            budget=budget,
            fixed=fixed,
            summaries=summary_costs,
            window=window_costs,
            memories=[c + 1 for c in await self._counter.texts([memory_label(m) for m in memories])],
            memory_block=await self._counter.text(f"{MEMORY_HEADER}\n{MEMORY_FOOTER}\n\n") + 1,
        )

        target = budget
        for _ in range(FIT_ATTEMPTS):
            fitted = plan(replace(request, budget=target), self._shares)
            kept_summaries = summaries[len(summaries) - fitted.summaries :]
            kept_memories = memories[: fitted.memories]
            kept_window = window[fitted.window_start :]
            messages = build_messages(
                self._system, kept_summaries, kept_window, kept_memories, message, lt_block
            )
            tokens = await self._counter.prompt(messages)
            if tokens <= budget:
                return PromptContext(
                    conversation_id=conversation_id,
                    messages=messages,
                    memories=kept_memories,
                    summaries=kept_summaries,
                    window=kept_window,
                    prompt_tokens=tokens,
                    budget=budget,
                    next_index=next_index,
                    long_term=long_term,
                )
            target -= tokens - budget  # the estimate was short: plan again with less
        raise MessageTooLarge(f"Could not fit the prompt into {budget} tokens; send a shorter message.")
