"""Chat traffic ahead of background work: the replies in flight, and one background model call at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Reply:
    """One chat reply in flight: set once it has left the traffic."""

    def __init__(self) -> None:
        self.done = asyncio.Event()


class Traffic:
    """Chat replies mark themselves in flight; background jobs take the one lane after them.

    llama.cpp shares its cores between everything it generates, so a summary written
    during a reply slows the reply. Background jobs (summaries, extraction) therefore
    run one at a time, and each model call waits for the replies in flight when it
    asks. Replies that start later do not hold it back: under steady chat traffic
    (one client's turns back to back, or many clients at once) there may never be a
    moment with no reply, and a summary that waited for one would never be written,
    while the chat it serves needs it to keep its prompt short and its cache warm.
    """

    def __init__(self) -> None:
        self._replies: set[Reply] = set()
        self._lane = asyncio.Lock()

    @property
    def replies(self) -> int:
        """Chat replies being generated now."""
        return len(self._replies)

    def enter(self) -> Reply:
        """A chat reply starts; background model calls asked for from now on wait until it `leave`s."""
        reply = Reply()
        self._replies.add(reply)
        return reply

    def leave(self, reply: Reply) -> None:
        self._replies.discard(reply)
        reply.done.set()

    async def idle(self) -> None:
        """Return once every chat reply in flight now has ended (later ones are not waited for)."""
        for reply in list(self._replies):
            await reply.done.wait()

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[None]:
        """The one background job at a time, entered after the chat replies in flight."""
        async with self._lane:
            await self.idle()
            yield
