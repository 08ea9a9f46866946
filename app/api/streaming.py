"""A turn's life across a response: enter and start it, relay its events, clean it up exactly once.

A streamed turn outlives the route that opened it (the response body runs later), so its exit
is held in an `AsyncExitStack`: closed here if starting fails, else by whoever relays the events.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, aclosing
from typing import TypeVar

from app.prompt.builder import PromptContext
from app.turns.context_manager import LLMContextManager

T = TypeVar("T")


async def opened(turn: LLMContextManager, remember: Callable[[PromptContext], None]) -> AsyncExitStack:
    """Enter `turn`, hand its prompt to `remember`, start the model; the stack's exit ends the turn.

    If anything fails before the stack is handed over, the turn is cleaned up here and the error raised.
    """
    stack = AsyncExitStack()
    await stack.enter_async_context(turn)
    try:
        assert turn.context is not None
        remember(turn.context)
        await turn.open()
    except BaseException:
        await stack.__aexit__(*sys.exc_info())
        raise
    return stack


async def relayed(stack: AsyncExitStack, events: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """The events of a streamed response; the turn ends when they do, or when the client leaves."""
    async with stack, aclosing(events):
        async for event in events:
            yield event
