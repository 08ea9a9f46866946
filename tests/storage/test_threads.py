import sqlite3
import threading

import pytest

from app.errors import StoreUnavailable
from app.storage.threads import in_thread, store_errors


async def test_the_call_runs_off_the_event_loop_thread() -> None:
    assert await in_thread(threading.get_ident, "Chroma") != threading.get_ident()


async def test_a_failure_is_store_unavailable_naming_the_store() -> None:
    def fail() -> None:
        raise KeyError("collection mnemo_turns")

    with pytest.raises(StoreUnavailable, match=r"^Chroma failed: 'collection mnemo_turns'$") as caught:
        await in_thread(fail, "Chroma")
    assert isinstance(caught.value.__cause__, KeyError)


async def test_store_unavailable_passes_through_unchanged() -> None:
    def refuse() -> None:
        raise StoreUnavailable("long-term memories are not configured")

    with pytest.raises(StoreUnavailable, match=r"^long-term memories are not configured$"):
        await in_thread(refuse, "the memory store")


async def test_only_the_named_failures_are_mapped() -> None:
    def broken() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(StoreUnavailable, match=r"^the keyword index failed: database is locked$"):
        await in_thread(broken, "the keyword index", failures=(sqlite3.Error,))
    with pytest.raises(ZeroDivisionError), store_errors("the keyword index", (sqlite3.Error,)):
        _ = 1 / 0


async def test_the_lock_is_held_during_the_call() -> None:
    lock = threading.Lock()
    assert await in_thread(lock.locked, "the memory store", lock)
    assert not lock.locked()
