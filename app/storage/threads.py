"""Blocking store calls (Chroma, SQLite) in a worker thread, their failures raised as StoreUnavailable."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio.to_thread

from app.errors import MnemoError, StoreUnavailable

T = TypeVar("T")
Failures = tuple[type[Exception], ...]


@contextmanager
def store_errors(what: str, failures: Failures = (Exception,)) -> Iterator[None]:
    """Raise a failure of a store's library as StoreUnavailable("<what> failed: ...")."""
    try:
        yield
    except MnemoError:  # already says what went wrong (a store's own refusal, such as a full cap)
        raise
    except failures as exc:
        raise StoreUnavailable(f"{what} failed: {exc}") from exc


async def in_thread(
    fn: Callable[[], T],
    what: str,
    lock: threading.Lock | None = None,
    failures: Failures = (Exception,),
) -> T:
    """Run fn in a worker thread (holding lock, if given), with its failures mapped by `store_errors`."""

    def locked() -> T:
        if lock is None:
            return fn()
        with lock:
            return fn()

    with store_errors(what, failures):
        return await anyio.to_thread.run_sync(locked)
