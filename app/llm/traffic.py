"""Chat traffic ahead of background work: the replies in flight, and one background model call at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Traffic:
    """Chat replies mark themselves in flight; background jobs take the one lane once none is.

    llama.cpp shares its cores between everything it generates, so a summary written
    during a reply slows the reply. Background jobs (summaries, extraction) therefore
    run one at a time and start each model call only while no reply is streaming.
    """

    def __init__(self) -> None:
        self._replies = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._lane = asyncio.Lock()

    @property
    def replies(self) -> int:
        """Chat replies being generated now."""
        return self._replies

    def enter(self) -> None:
        """A chat reply starts; background model calls wait until it `leave`s."""
        self._replies += 1
        self._quiet.clear()

    def leave(self) -> None:
        self._replies -= 1
        if self._replies == 0:
            self._quiet.set()

    async def idle(self) -> None:
        """Return once no chat reply is being generated."""
        while self._replies:  # a reply may start again between the event and our wake-up
            await self._quiet.wait()

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[None]:
        """The one background job at a time, entered once no chat reply is in flight."""
        async with self._lane:
            await self.idle()
            yield
