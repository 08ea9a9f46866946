import ctypes
from typing import Any, cast

from app.storage.heap import M_ARENA_MAX, Heap, glibc


class FakeLibc:
    def __init__(self, accept: bool = True) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []
        self.accept = accept

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", (param, value)))
        return 1 if self.accept else 0

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", (pad,)))
        return 1


def heap_on(libc: FakeLibc) -> Heap:
    return Heap(cast(ctypes.CDLL, libc))


async def test_trim_hands_all_free_memory_back_and_arenas_are_capped() -> None:
    libc = FakeLibc()
    heap = heap_on(libc)
    heap.limit_arenas(2)
    await heap.trim()
    assert libc.calls == [("mallopt", (M_ARENA_MAX, 2)), ("malloc_trim", (0,))]


def test_a_refused_arena_cap_is_logged(caplog: Any) -> None:
    heap_on(FakeLibc(accept=False)).limit_arenas(2)
    assert "refused" in caplog.text


async def test_the_real_heap_of_this_process_can_be_trimmed() -> None:
    assert glibc() is not None  # the CI and the Docker image run on glibc
    await Heap().trim()
