"""Assembling one turn's prompt: summaries, recent window and recalled memories, fitted exactly."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.conversations import hierarchy
from app.conversations.history import History
from app.conversations.models import Recalled, Summary, Turn, utcnow
from app.conversations.retriever import Retriever
from app.errors import InvalidInput, MessageTooLarge
from app.llm.protocols import ServerProbe
from app.llm.tokens import TokenCounter
from app.longterm.models import Scored
from app.prompt.budget import Request, Shares, plan
from app.prompt.layout import (
    MEMORY_FOOTER,
    MEMORY_HEADER,
    SUMMARY_HEADER,
    build_client_messages,
    build_messages,
    summary_label,
    system_content,
    turn_content,
)
from app.prompt.recall import LongTermRecall, long_term_block
from app.turns.openai_sync import text_of

# Template tokens around one message (Gemma: "<start_of_turn>user\n" ... "<end_of_turn>\n").
# Only for planning: every prompt is counted exactly before it is used.
MESSAGE_OVERHEAD = 6
# "[2023-05-08 13:56 UTC | Caroline | relevance 0.62] " and the line break, with room to spare.
LABEL_OVERHEAD = 30
FIT_ATTEMPTS = 4
# The window is cut two exchanges at a time: its start then holds for the next turns.
WINDOW_STEP = 4
# Context assumed when the server does not say (not llama.cpp) and none is configured.
FALLBACK_CONTEXT = 4096


@dataclass(frozen=True)
class PromptContext:
    """What one turn sends to the model, and why."""

    conversation_id: str
    messages: list[dict[str, Any]]
    memories: list[Recalled]
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
        llm: ServerProbe,
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

    async def _request(
        self,
        budget: int,
        fixed: int,
        summaries: Sequence[Summary],
        window_costs: list[int],
        memories: Sequence[Recalled],
    ) -> Request:
        """The planner's view of a prompt: the token cost of every part that may be left out."""
        summary_costs = [c + 1 for c in await self._counter.texts([summary_label(s) for s in summaries])]
        if summary_costs:  # the header comes with the newest summary, which is kept first
            summary_costs[-1] += await self._counter.text(f"\n\n{SUMMARY_HEADER}\n")
        # A label holds the query's relevance score, so it is never cached: count the turn's
        # text (cached) and allow for the label around it.
        memory_costs = await self._counter.texts([m.turn.content for m in memories])
        return Request(
            budget=budget,
            fixed=fixed,
            summaries=summary_costs,
            window=window_costs,
            memories=[c + LABEL_OVERHEAD for c in memory_costs],
            memory_block=await self._counter.text(f"{MEMORY_HEADER}\n{MEMORY_FOOTER}\n\n") + 1,
            window_step=WINDOW_STEP,
        )

    async def _fixed(self, message: str, budget: int, long_term: str = "") -> int:
        """Tokens of the system prompt and the new message with their template.

        Planned from cached counts; counted exactly when that is what decides whether
        the message fits at all.
        """
        system = system_content(self._system, [], long_term)
        estimate = sum(await self._counter.texts([system, message])) + 2 * MESSAGE_OVERHEAD + 1
        if estimate <= budget:
            return estimate
        return await self._counter.prompt(build_messages(self._system, [], [], [], message, long_term))

    async def build(
        self, conversation_id: str, message: str, budget: int, project: str | None = None
    ) -> PromptContext:
        next_index = await self._history.next_index(conversation_id)
        summaries = await self._history.active_summaries(conversation_id)
        # The window starts after the summarised past, so no turn is in the prompt twice;
        # it is append-only between summaries, which keeps llama.cpp's cached prefix valid.
        start = max(hierarchy.covered_through(summaries) + 1, next_index - self._window_max)
        window = await self._history.read(conversation_id, start, next_index)
        in_window = frozenset(t.content.strip() for t in window)
        now = window[-1].created_at if window else utcnow()  # "last May" means May before the latest turn
        memories = await self._retriever.retrieve(
            conversation_id, message, before=start, exclude=in_window, now=now
        )

        fixed = await self._fixed(message, budget)
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
            fixed = await self._fixed(message, budget, lt_block)
        request = await self._request(budget, fixed, summaries, window_costs, memories)

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

    async def build_for_client(
        self,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
        budget: int,
        tools: Any = None,
    ) -> PromptContext:
        """The prompt for an OpenAI client's messages: its history is the window.

        The client's system message (else Mnemo's) comes first with the summaries, its
        history follows as sent, the recalled memories go inside its newest message. When
        the history does not fit, its oldest messages give way, summaries join, and the
        dropped turns become eligible as memories. `tools` (the client's definitions) are
        counted into the fixed part.
        """
        system, window, last = split_client(messages, self._system)
        query = text_of(last.get("content")) if last.get("role") == "user" else last_user_text(messages)
        next_index = await self._history.next_index(conversation_id)
        summaries = await self._history.active_summaries(conversation_id)
        fixed = await self._counter.prompt(build_client_messages(system, [], [], [], last))
        if tools:
            fixed += await self._counter.text(json.dumps(tools, ensure_ascii=False))
        window_costs = [
            c + MESSAGE_OVERHEAD for c in await self._counter.texts([client_text(m) for m in window])
        ]
        long_term: list[Scored] = []
        if self._recall is not None:  # long-term memories, as for /chat: in the stable system part
            recalled = await self._recall.candidates(query, None)
            long_term = await self._recall.fit(recalled, budget - fixed - sum(window_costs))
            if long_term:
                system = system_content(system, [], long_term_block(long_term))
                fixed = await self._counter.prompt(build_client_messages(system, [], [], [], last))

        start, use_summaries = 0, False
        for _ in range(2):
            kept_window = window[start:]
            exclude = frozenset(text_of(m.get("content")).strip() for m in [*kept_window, last])
            memories = await self._retriever.retrieve(conversation_id, query, next_index, exclude)
            candidates = summaries if use_summaries else []
            fitted = await self._fit_client(
                system, candidates, window, window_costs, memories, last, fixed, budget
            )
            context, start = fitted
            if start == 0 or use_summaries:
                return replace(
                    context, conversation_id=conversation_id, next_index=next_index, long_term=long_term
                )
            use_summaries = True  # the client's history was cut: the summaries cover what left
        raise AssertionError("unreachable")

    async def _fit_client(
        self,
        system: str,
        summaries: list[Summary],
        window: Sequence[Mapping[str, Any]],
        window_costs: list[int],
        memories: list[Recalled],
        last: Mapping[str, Any],
        fixed: int,
        budget: int,
    ) -> tuple[PromptContext, int]:
        request = await self._request(budget, fixed, summaries, window_costs, memories)
        target = budget
        for _ in range(FIT_ATTEMPTS):
            fitted = plan(replace(request, budget=target), self._shares)
            start = user_start(window, fitted.window_start)
            kept_summaries = summaries[len(summaries) - fitted.summaries :]
            kept_memories = memories[: fitted.memories]
            messages = build_client_messages(system, kept_summaries, window[start:], kept_memories, last)
            tokens = await self._counter.prompt(messages)
            if tokens <= budget:
                context = PromptContext(
                    conversation_id="",
                    messages=messages,
                    memories=kept_memories,
                    summaries=kept_summaries,
                    window=[],
                    prompt_tokens=tokens,
                    budget=budget,
                    next_index=0,
                )
                return context, start
            target -= tokens - budget
        raise MessageTooLarge(f"Could not fit the prompt into {budget} tokens; send a shorter message.")


def split_client(
    messages: Sequence[Mapping[str, Any]], default_system: str
) -> tuple[str, list[Mapping[str, Any]], Mapping[str, Any]]:
    """The client's leading system message (else Mnemo's), its history, and its newest message."""
    if not messages:
        raise InvalidInput("messages: at least one message is required")
    rest = list(messages)
    system = default_system
    if rest[0].get("role") in ("system", "developer"):
        system = text_of(rest.pop(0).get("content"))
    if not rest:  # system messages only: templates place a system prompt with the user's turn
        return system, [], {"role": "user", "content": ""}
    return system, rest[:-1], rest[-1]


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")


def client_text(message: Mapping[str, Any]) -> str:
    """What a client message costs, roughly: its text and any tool calls."""
    calls = message.get("tool_calls")
    return text_of(message.get("content")) + (json.dumps(calls) if calls else "")


def user_start(window: Sequence[Mapping[str, Any]], start: int) -> int:
    """Move a cut forward to a user message: a history must not open with a reply or a tool result."""
    if start == 0:
        return 0
    while start < len(window) and window[start].get("role") != "user":
        start += 1
    return start
