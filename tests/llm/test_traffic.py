"""Traffic: background jobs wait for the chat replies in flight and take the lane one at a time."""

from __future__ import annotations

import asyncio

from app.llm.traffic import Traffic


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_idle_waits_until_the_last_reply_leaves() -> None:
    traffic = Traffic()
    await asyncio.wait_for(traffic.idle(), 5)  # no reply: no wait
    traffic.enter()
    traffic.enter()
    waiting = asyncio.create_task(traffic.idle())
    await settle()
    traffic.leave()
    await settle()
    assert not waiting.done() and traffic.replies == 1
    traffic.leave()
    await asyncio.wait_for(waiting, 5)
    assert traffic.replies == 0


async def test_a_reply_that_starts_again_before_the_waiter_wakes_keeps_it_waiting() -> None:
    traffic = Traffic()
    traffic.enter()
    waiting = asyncio.create_task(traffic.idle())
    await settle()
    traffic.leave()
    traffic.enter()  # before the waiter ran
    await settle()
    assert not waiting.done()
    traffic.leave()
    await asyncio.wait_for(waiting, 5)


async def test_the_lane_holds_one_job_at_a_time_and_opens_after_the_replies() -> None:
    traffic = Traffic()
    order: list[str] = []
    release = asyncio.Event()

    async def job(name: str) -> None:
        async with traffic.lane():
            order.append(f"{name} in")
            await release.wait()
            order.append(f"{name} out")

    traffic.enter()
    jobs = [asyncio.create_task(job("a")), asyncio.create_task(job("b"))]
    await settle()
    assert order == []  # a reply is in flight
    traffic.leave()
    await settle()
    assert order == ["a in"]  # b waits for the lane
    release.set()
    await asyncio.wait_for(asyncio.gather(*jobs), 5)
    assert order == ["a in", "a out", "b in", "b out"]
