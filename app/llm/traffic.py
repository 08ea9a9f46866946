"""Chat traffic ahead of background work: the replies in flight, and one background model call at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

IMPORT_QUIET = 2.0  # seconds after an import's last append before background model calls start


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

    Imports go first too, for as long as they last: an import embeds on the same cores
    llama.cpp would write summaries on, and a history imported conversation after
    conversation leaves only short gaps between its requests, so background model
    calls start `quiet` seconds after the last import's last append.
    """

    def __init__(self, quiet: float = IMPORT_QUIET) -> None:
        self._replies: set[Reply] = set()
        self._lane = asyncio.Lock()
        self._quiet = quiet
        self._importing = 0
        self._imported_at = float("-inf")

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

    @property
    def imports(self) -> int:
        """Imports appending now."""
        return self._importing

    @contextmanager
    def importing(self) -> Iterator[None]:
        """An import appends: background model calls wait until imports have been quiet a while."""
        self._importing += 1
        try:
            yield
        finally:
            self._importing -= 1
            self._imported_at = time.monotonic()

    async def idle(self) -> None:
        """Return once every chat reply in flight now has ended (later ones are not waited for)
        and no import has appended for `quiet` seconds."""
        for reply in list(self._replies):
            await reply.done.wait()
        while (wait := self._import_wait()) > 0:  # noqa: ASYNC110 - a deadline each import moves
            await asyncio.sleep(wait)

    def _import_wait(self) -> float:
        if self._importing:
            return self._quiet or 0.05
        return self._imported_at + self._quiet - time.monotonic()

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[None]:
        """The one background job at a time, entered after the chat replies in flight."""
        async with self._lane:
            await self.idle()
            yield
