"""Give freed heap memory back to the system, so a long-running service's resident memory stays flat.

glibc keeps memory freed by Python, torch and Chroma's native code in per-thread
arenas instead of returning it: a chat that embeds texts of every length in
worker threads grows the process by tens of MiB that it no longer uses. Capping
the arenas and calling `malloc_trim` after each turn's background work returns
it. Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import anyio.to_thread

log = logging.getLogger("mnemo.heap")

M_ARENA_MAX = -8  # mallopt parameter from glibc's malloc.h


def glibc() -> ctypes.CDLL | None:
    """The C library of this process when it is glibc (it has malloc_trim and mallopt), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 (absent outside glibc)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


class Heap:
    """The C heap of this process."""

    def __init__(self, libc: ctypes.CDLL | None = None) -> None:
        self._libc = libc if libc is not None else glibc()

    def limit_arenas(self, arenas: int) -> None:
        """Cap glibc's malloc arenas; call before worker threads start allocating."""
        if self._libc is not None and not self._libc.mallopt(M_ARENA_MAX, arenas):
            log.warning("mallopt(M_ARENA_MAX, %d) was refused", arenas)

    def _trim(self) -> None:
        if self._libc is not None:
            self._libc.malloc_trim(0)

    async def trim(self) -> None:
        """Return freed memory to the system (about a millisecond, in a worker thread)."""
        if self._libc is not None:
            await anyio.to_thread.run_sync(self._trim)
