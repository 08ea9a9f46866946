"""Traffic: background jobs wait for the chat replies in flight and take the lane one at a time."""

from __future__ import annotations

import asyncio

from app.llm.traffic import Traffic


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_idle_waits_until_the_replies_in_flight_leave() -> None:
    traffic = Traffic()
    await asyncio.wait_for(traffic.idle(), 5)  # no reply: no wait
    first, second = traffic.enter(), traffic.enter()
    waiting = asyncio.create_task(traffic.idle())
    await settle()
    traffic.leave(second)
    await settle()
    assert not waiting.done() and traffic.replies == 1
    traffic.leave(first)
    await asyncio.wait_for(waiting, 5)
    assert traffic.replies == 0


async def test_replies_that_start_after_the_wait_began_do_not_hold_it_back() -> None:
    """Back-to-back turns (or many clients) never leave a moment with no reply: no starvation."""
    traffic = Traffic()
    first = traffic.enter()
    waiting = asyncio.create_task(traffic.idle())
    await settle()
    later = traffic.enter()  # the next turn starts before the first has left
    traffic.leave(first)
    await asyncio.wait_for(waiting, 5)
    assert traffic.replies == 1
    traffic.leave(later)


async def test_the_lane_holds_one_job_at_a_time_and_opens_after_the_replies() -> None:
    traffic = Traffic()
    order: list[str] = []
    release = asyncio.Event()

    async def job(name: str) -> None:
        async with traffic.lane():
            order.append(f"{name} in")
            await release.wait()
            order.append(f"{name} out")

    reply = traffic.enter()
    jobs = [asyncio.create_task(job("a")), asyncio.create_task(job("b"))]
    await settle()
    assert order == []  # a reply is in flight
    traffic.leave(reply)
    await settle()
    assert order == ["a in"]  # b waits for the lane
    release.set()
    await asyncio.wait_for(asyncio.gather(*jobs), 5)
    assert order == ["a in", "a out", "b in", "b out"]


async def test_background_work_waits_for_imports_and_a_quiet_moment_after_them() -> None:
    """An import conversation after conversation leaves short gaps: a summary must not slip into one."""
    traffic = Traffic(quiet=0.2)
    with traffic.importing():
        waiting = asyncio.create_task(traffic.idle())
        await asyncio.sleep(0.3)
        assert not waiting.done() and traffic.imports == 1  # the import goes first for as long as it lasts
    await asyncio.sleep(0.1)
    assert not waiting.done() and traffic.imports == 0  # a gap between two imports is not a quiet moment
    with traffic.importing():  # the next conversation of the import
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await asyncio.wait_for(waiting, 5)  # quiet for 0.2 s after the last import


async def test_with_no_import_idle_does_not_wait_for_the_quiet() -> None:
    traffic = Traffic(quiet=60)
    await asyncio.wait_for(traffic.idle(), 1)
