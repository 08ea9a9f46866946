import asyncio
import zlib

import pytest

from app.llm.slots import SlotChooser
from tests.fakes import FakeLLM


def hashed_to(slot: int, slots: int, count: int) -> list[str]:
    """`count` conversation ids whose hash puts them on `slot`."""
    ids = (f"conv-{n}" for n in range(1000))
    return [cid for cid in ids if zlib.crc32(cid.encode()) % slots == slot][:count]


async def waiting(chooser: SlotChooser, cid: str) -> asyncio.Task[int | None]:
    """An acquire that has started waiting."""
    before = chooser.waiting
    task = asyncio.create_task(chooser.acquire(cid))
    await asyncio.sleep(0)  # it runs until it waits
    assert chooser.waiting == before + 1 and not task.done()
    return task


async def test_a_conversation_alone_stays_on_its_hashed_slot() -> None:
    chooser = SlotChooser(FakeLLM(slots=4))
    [cid] = hashed_to(3, 4, 1)
    for _ in range(3):
        slot = await chooser.acquire(cid)
        assert slot == 3
        chooser.release(slot)


async def test_a_conversation_whose_slot_is_busy_takes_a_free_one() -> None:
    chooser = SlotChooser(FakeLLM(slots=2))
    first, second = hashed_to(0, 2, 2)
    assert await chooser.acquire(first) == 0
    assert await chooser.acquire(second) == 1
    assert chooser.waiting == 0


async def test_a_moved_conversation_goes_back_to_the_slot_it_last_ran_on() -> None:
    chooser = SlotChooser(FakeLLM(slots=2))
    first, second = hashed_to(0, 2, 2)
    await chooser.acquire(first)
    moved = await chooser.acquire(second)
    chooser.release(0)
    chooser.release(moved)
    # Both slots free: `second` returns to slot 1, where its prompt is cached, not to its hash's.
    assert await chooser.acquire(second) == 1


async def test_a_forgotten_conversation_starts_again_from_its_hash() -> None:
    chooser = SlotChooser(FakeLLM(slots=2), remember=1)
    first, second = hashed_to(0, 2, 2)
    [other] = hashed_to(1, 2, 1)
    await chooser.acquire(first)
    chooser.release(await chooser.acquire(second))  # ran on 1
    chooser.release(0)
    chooser.release(await chooser.acquire(other))  # pushes `second` out
    assert await chooser.acquire(second) == 0


async def test_a_free_slot_is_the_one_left_idle_longest() -> None:
    chooser = SlotChooser(FakeLLM(slots=3))
    a, b, c = hashed_to(0, 3, 3)
    assert [await chooser.acquire(cid) for cid in (a, b, c)] == [0, 1, 2]
    chooser.release(2)
    chooser.release(1)
    [d] = hashed_to(0, 3, 4)[3:]
    assert await chooser.acquire(d) == 2


async def test_with_every_slot_busy_turns_wait_in_order_for_the_next_freed_slot() -> None:
    chooser = SlotChooser(FakeLLM(slots=2))
    a, b = await chooser.acquire("a"), await chooser.acquire("b")
    assert {a, b} == {0, 1}
    third = await waiting(chooser, "c")
    fourth = await waiting(chooser, "d")
    assert chooser.waiting == 2 and not third.done()
    chooser.release(b)
    assert await third == b
    chooser.release(a)
    assert await fourth == a
    assert chooser.waiting == 0


async def test_a_new_turn_does_not_jump_the_queue() -> None:
    chooser = SlotChooser(FakeLLM(slots=1))
    held = await chooser.acquire("a")
    queued = await waiting(chooser, "b")
    chooser.release(held)
    late = await waiting(chooser, "c")  # the freed slot went to "b", so "c" waits
    assert await queued == 0 and not late.done()
    chooser.release(0)
    assert await late == 0


async def test_a_turn_cancelled_while_waiting_takes_no_slot() -> None:
    chooser = SlotChooser(FakeLLM(slots=1))
    held = await chooser.acquire("a")
    gone = await waiting(chooser, "b")
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert chooser.waiting == 0
    chooser.release(held)
    assert await asyncio.wait_for(chooser.acquire("c"), timeout=5) == 0


async def test_a_slot_handed_to_a_turn_cancelled_before_it_ran_goes_to_the_next() -> None:
    chooser = SlotChooser(FakeLLM(slots=1))
    held = await chooser.acquire("a")
    gone = await waiting(chooser, "b")
    nxt = await waiting(chooser, "c")
    chooser.release(held)  # handed to "b", which is cancelled before it resumes
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await asyncio.wait_for(nxt, timeout=5) == 0


async def test_a_server_without_props_gets_no_slot_and_never_waits() -> None:
    chooser = SlotChooser(FakeLLM(n_ctx=0, slots=1))
    assert [await chooser.acquire("a"), await chooser.acquire("b")] == [None, None]
    assert chooser.waiting == 0


async def test_conversations_are_pinned_by_tenant_and_id() -> None:
    chooser = SlotChooser(FakeLLM(slots=2))
    ada, bob = chooser.scoped("ada"), chooser.scoped("bob")
    first, second = hashed_to(0, 2, 2)
    assert await ada.acquire(first) == 0
    assert await ada.acquire(second) == 1  # its hash's slot is busy: it moves
    ada.release(0)
    ada.release(1)
    # Bob's `second` is another conversation than Ada's: it starts from its hash's slot.
    assert await bob.acquire(second) == 0
    assert await ada.acquire(second) == 1  # Ada's goes back to where it last ran
    assert bob.waiting == ada.waiting == 0
