import asyncio

import pytest

from app.conversations import hierarchy
from app.conversations.history import History
from app.conversations.models import Summary
from app.conversations.summarizer import SummaryScheduler
from app.wiring import Services
from tests.fakes import FakeLLM


async def chat(services: Services, cid: str, n: int) -> None:
    for i in range(n):
        async with services.turns.chat(cid, f"message number {i}", None, {}) as turn:
            async for _ in turn.events():
                pass
            await turn.commit()
        await services.scheduler.drain()


async def test_turns_that_leave_the_window_are_folded_into_a_summary(
    services: Services, llm: FakeLLM
) -> None:
    # summary_every=2 user turns, window_min_turns=2 (conftest)
    await chat(services, "c1", 2)
    assert await services.history.summaries("c1") == []  # 4 turns, 2 kept: not yet 2 user turns out
    await chat(services, "c1", 1)
    [summary] = await services.history.summaries("c1")
    assert (summary.level, summary.turn_from, summary.turn_to) == (0, 0, 3)
    assert summary.content == llm.summary_text
    prompt = llm.completions[0][-1]["content"]
    assert "message number 0" in prompt and "message number 1" in prompt
    # the next prompt carries the summary and only the turns after it
    async with services.turns.chat("c1", "next", None, {}) as turn:
        assert turn.context is not None
        assert turn.context.summaries == [summary]
        assert [t.turn_index for t in turn.context.window] == [4, 5]
        assert llm.summary_text in turn.context.messages[0]["content"]


async def test_a_failed_summary_loses_nothing_and_is_retried(services: Services, llm: FakeLLM) -> None:
    llm.fail_summaries = True
    await chat(services, "c1", 3)
    assert await services.history.summaries("c1") == []
    assert services.scheduler.failures >= 1
    jobs = services.scheduler.jobs.as_dict()
    assert sum(jobs["failures"].values()) == services.scheduler.failures
    assert all(not j["ok"] and j["subject"] == "c1" and "will retry" in j["detail"] for j in jobs["recent"])
    assert len(await services.history.read("c1", 0, 100)) == 6
    llm.fail_summaries = False
    await chat(services, "c1", 1)
    [summary] = await services.history.summaries("c1")
    assert summary.turn_to == 5
    newest = services.scheduler.jobs.as_dict()["recent"][0]
    assert newest["ok"] and newest["detail"].startswith(f"wrote {summary.id} ")
    # raw turns stay stored after they are summarised
    assert len(await services.history.read("c1", 0, 100)) == 8


async def test_summaries_fold_into_higher_levels_and_stay_bounded(services: Services, llm: FakeLLM) -> None:
    # every 2 user turns, keep 2 turns raw, fanout 4 (conftest and defaults)
    for _ in range(40):
        await chat(services, "c1", 1)
        async with services.turns.chat("c1", "peek", None, {}) as turn:
            assert turn.context is not None
            active = turn.context.summaries
            assert len(active) <= 3 * 2  # fewer than fanout per level, levels 0 and 1 here
            # the window starts right after the summarised past: no turn in the prompt twice
            if active:
                assert turn.context.window[0].turn_index == active[-1].turn_to + 1
                assert [s.turn_from for s in active] == sorted(s.turn_from for s in active)
            assert turn.context.prompt_tokens <= turn.context.budget
    summaries = await services.history.summaries("c1")
    assert {s.level for s in summaries} >= {0, 1, 2}
    level1 = [s for s in summaries if s.level == 1]
    assert level1[0].turn_from == 0
    # a level-1 summary was written from four level-0 summaries, not from raw turns
    assert any("Summaries of consecutive parts" in c[-1]["content"] for c in llm.completions)
    # every raw turn is still stored
    assert len(await services.history.read("c1", 0, 1000)) == 80


async def test_active_summaries_are_read_from_the_store_once_then_kept_current(
    services: Services, llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read = services.store.summaries

    async def counting(conversation_id: str) -> list[Summary]:
        reads.append(conversation_id)
        return await read(conversation_id)

    monkeypatch.setattr(services.store, "summaries", counting)
    for _ in range(12):
        await chat(services, "c1", 1)
    assert reads == ["c1"]  # the first turn's read; folds and prompts used the kept list after it
    every = await read("c1")
    assert {s.level for s in every} == {0, 1}
    assert await services.history.active_summaries("c1") == hierarchy.active(every)
    # a fresh history over the same store agrees, and forgetting empties the kept list
    cold = History(services.store, services.embedder)
    assert await cold.active_summaries("c1") == hierarchy.active(every)
    await services.history.forget("c1")
    assert await services.history.active_summaries("c1") == []


async def test_the_after_hook_runs_once_a_conversations_work_is_done_even_when_a_fold_failed(
    services: Services, llm: FakeLLM
) -> None:
    calls: list[int] = []

    async def after() -> None:
        calls.append(services.scheduler.busy)

    scheduler = SummaryScheduler(services.scheduler._summarizer, after=after)
    services.scheduler = scheduler
    llm.fail_summaries = True
    await chat(services, "c1", 3)
    assert scheduler.failures >= 1
    assert calls == [0, 0, 0]  # once per turn, after the conversation left the running set


class GatedFolds:
    """A summariser whose folds wait for a gate and find nothing due."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.folds: list[str] = []

    async def fold(self, conversation_id: str) -> None:
        self.folds.append(conversation_id)
        await self.gate.wait()
        await asyncio.sleep(0.01)


async def test_a_conversation_scheduled_while_it_folds_folds_again_and_drain_waits_for_it() -> None:
    folds = GatedFolds()
    scheduler = SummaryScheduler(folds)  # type: ignore[arg-type]
    scheduler.schedule("c1")
    scheduler.schedule("c2")
    await asyncio.sleep(0)  # both are folding now
    scheduler.schedule("c1")
    assert scheduler.busy == 2
    folds.gate.set()
    await asyncio.wait_for(scheduler.drain(), 5)
    assert sorted(folds.folds) == ["c1", "c1", "c2"] and scheduler.busy == 0


async def test_aclose_cancels_the_folds_in_progress() -> None:
    folds = GatedFolds()
    scheduler = SummaryScheduler(folds)  # type: ignore[arg-type]
    scheduler.schedule("c1")
    await asyncio.sleep(0)
    await asyncio.wait_for(scheduler.aclose(), 5)
    assert folds.folds == ["c1"] and scheduler.busy == 0
