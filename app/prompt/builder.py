"""Assembling one turn's prompt: summaries, recent window and recalled memories, fitted exactly."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from app.conversations import hierarchy
from app.conversations.history import History
from app.conversations.models import Recalled, Summary, Turn
from app.conversations.retriever import Retriever
from app.errors import InvalidInput, MessageTooLarge
from app.fields import utcnow
from app.llm.portable import text_of
from app.llm.protocols import ServerProbe
from app.llm.tokens import TokenCounter
from app.longterm.models import Scored
from app.prompt.budget import Request, Shares, plan
from app.prompt.client import client_text, last_user_text, split_client, user_start
from app.prompt.layout import (
    GAP,
    MEMORY_FOOTER,
    MEMORY_HEADER,
    SUMMARY_HEADER,
    build_client_messages,
    build_messages,
    day_header,
    day_of,
    memory_line,
    summary_label,
    system_content,
    turn_content,
)
from app.prompt.past import asks_about_past
from app.prompt.recall import LongTermRecall, long_term_block

# Template tokens around one message (Gemma: "<start_of_turn>user\n" ... "<end_of_turn>\n").
# Only for planning: every prompt is counted exactly before it is used.
MESSAGE_OVERHEAD = 6
FIT_ATTEMPTS = 4
# The window is cut two exchanges at a time: its start then holds for the next turns. A message
# about the past may take room from the window for memories, but never from its newest two exchanges.
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


@dataclass(frozen=True)
class Fitted:
    """A prompt that fits: what it keeps, where its window starts, its messages and their exact count."""

    summaries: list[Summary]
    memories: list[Recalled]
    start: int
    messages: list[dict[str, Any]]
    tokens: int


# The messages for the kept summaries, the window cut at a planned index and the kept memories,
# with the index the window really starts at.
Composed = tuple[list[dict[str, Any]], int]
Compose = Callable[[list[Summary], int, list[Recalled]], Composed]


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
        asks_past: bool = False,
    ) -> Request:
        """The planner's view of a prompt: the token cost of every part that may be left out."""
        summary_costs = [c + 1 for c in await self._counter.texts([summary_label(s) for s in summaries])]
        if summary_costs:  # the header comes with the newest summary, which is kept first
            summary_costs[-1] += await self._counter.text(f"\n\n{SUMMARY_HEADER}\n")
        memory_costs = await self._memory_costs(memories)
        return Request(
            budget=budget,
            fixed=fixed,
            summaries=summary_costs,
            window=window_costs,
            memories=memory_costs,
            memory_block=await self._counter.text(f"{MEMORY_HEADER}\n{MEMORY_FOOTER}\n\n") + 1,
            window_step=WINDOW_STEP,
            asks_past=asks_past,
            window_keep=WINDOW_STEP,
        )

    async def _memory_costs(self, memories: Sequence[Recalled]) -> list[int]:
        """Each memory's line and line break, with its day's header if it is the first of its day.

        The planner keeps a prefix of the ranked list, so the first of a day in rank order
        is the one that brings the header; a later one of the day may bring a gap marker.
        Lines and headers hold no score, so their counts are cached across requests.
        """
        lines = await self._counter.texts([memory_line(m.turn) for m in memories])
        days = {day_of(m.turn): day_header(m.turn.created_at) for m in memories}
        headers = dict(zip(days, await self._counter.texts(list(days.values())), strict=True))
        gap = await self._counter.text(GAP) + 1
        costs: list[int] = []
        seen: set[date] = set()
        for memory, line in zip(memories, lines, strict=True):
            day = day_of(memory.turn)
            if day not in seen:
                costs.append(line + 1 + headers[day] + 1)
            else:  # a neighbour sits next to its turn; another turn of the day is rarely adjacent
                costs.append(line + 1 + (0 if memory.neighbour_of is not None else gap))
            seen.add(day)
        return costs

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

    async def _long_term(self, query: str, project: str | None, room: int) -> list[Scored]:
        """Long-term memories go before any window turn is dropped: their room is what the window leaves."""
        if self._recall is None:
            return []
        return await self._recall.fit(await self._recall.candidates(query, project), room)

    async def _fit(
        self, request: Request, summaries: Sequence[Summary], memories: Sequence[Recalled], compose: Compose
    ) -> Fitted:
        """Plan, lay out and count until the prompt fits; the planner's estimates may run short."""
        target = request.budget
        for _ in range(FIT_ATTEMPTS):
            planned = plan(replace(request, budget=target), self._shares)
            kept = list(summaries[len(summaries) - planned.summaries :])
            recalled = list(memories[: planned.memories])
            messages, start = compose(kept, planned.window_start, recalled)
            tokens = await self._counter.prompt(messages)
            if tokens <= request.budget:
                return Fitted(kept, recalled, start, messages, tokens)
            target -= tokens - request.budget  # the estimate was short: plan again with less
        budget = request.budget
        raise MessageTooLarge(f"Could not fit the prompt into {budget} tokens; send a shorter message.")

    async def build(
        self, conversation_id: str, message: str, budget: int, project: str | None = None
    ) -> PromptContext:
        """The prompt for a /chat message: the stored window, its summaries and recalled turns."""
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
        long_term = await self._long_term(message, project, budget - fixed - sum(window_costs))
        lt_block = long_term_block(long_term)
        if lt_block:
            fixed = await self._fixed(message, budget, lt_block)
        past = asks_about_past(message, now)
        request = await self._request(budget, fixed, summaries, window_costs, memories, past)

        def compose(kept: list[Summary], cut: int, recalled: list[Recalled]) -> Composed:
            return build_messages(self._system, kept, window[cut:], recalled, message, lt_block), cut

        fitted = await self._fit(request, summaries, memories, compose)
        return PromptContext(
            conversation_id=conversation_id,
            messages=fitted.messages,
            memories=fitted.memories,
            summaries=fitted.summaries,
            window=window[fitted.start :],
            prompt_tokens=fitted.tokens,
            budget=budget,
            next_index=next_index,
            long_term=long_term,
        )

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
        past = asks_about_past(query, utcnow())
        fixed = await self._counter.prompt(build_client_messages(system, [], [], [], last))
        if tools:
            fixed += await self._counter.text(json.dumps(tools, ensure_ascii=False))
        window_costs = [
            c + MESSAGE_OVERHEAD for c in await self._counter.texts([client_text(m) for m in window])
        ]
        # Long-term memories, as for /chat: in the stable system part.
        long_term = await self._long_term(query, None, budget - fixed - sum(window_costs))
        if long_term:
            system = system_content(system, [], long_term_block(long_term))
            fixed = await self._counter.prompt(build_client_messages(system, [], [], [], last))

        def compose(kept: list[Summary], cut: int, recalled: list[Recalled]) -> Composed:
            start = user_start(window, cut)
            return build_client_messages(system, kept, window[start:], recalled, last), start

        async def attempt(candidates: list[Summary], start: int) -> Fitted:
            exclude = frozenset(text_of(m.get("content")).strip() for m in [*window[start:], last])
            memories = await self._retriever.retrieve(conversation_id, query, next_index, exclude)
            request = await self._request(budget, fixed, candidates, window_costs, memories, past)
            return await self._fit(request, candidates, memories, compose)

        fitted = await attempt([], 0)
        if fitted.start > 0:  # the client's history was cut: the summaries cover what left
            fitted = await attempt(summaries, fitted.start)
        return PromptContext(
            conversation_id=conversation_id,
            messages=fitted.messages,
            memories=fitted.memories,
            summaries=fitted.summaries,
            window=[],
            prompt_tokens=fitted.tokens,
            budget=budget,
            next_index=next_index,
            long_term=long_term,
        )
