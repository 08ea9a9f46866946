import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.conversations import hierarchy
from app.conversations.history import History, NewMessage
from app.conversations.models import Summary, Turn
from app.conversations.recorder import Recorder
from app.conversations.store import ChromaStore
from app.conversations.summarizer import QueueDepth, Summarizer, SummaryScheduler
from app.jobs import Backlog
from app.llm.tokens import TokenCounter
from app.llm.traffic import Reply, Traffic
from app.prompt.builder import PromptContext
from app.settings import Settings
from app.wiring import Services
from tests.fakes import FakeLLM, HashEmbedder


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


class Turns:
    """An in-memory history with what the summariser and the recorder use: fast enough for big imports."""

    def __init__(self) -> None:
        self.turns: dict[str, list[Turn]] = {}
        self.summaries: dict[str, list[Summary]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def locked(self, conversation_id: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(conversation_id, asyncio.Lock()):
            yield

    async def append(self, conversation_id: str, messages: list[NewMessage]) -> list[Turn]:
        stored = self.turns.setdefault(conversation_id, [])
        new = [Turn(conversation_id, len(stored) + i, m.role, m.content) for i, m in enumerate(messages)]
        stored.extend(new)
        return new

    async def next_index(self, conversation_id: str) -> int:
        return len(self.turns.get(conversation_id, []))

    async def read(self, conversation_id: str, start: int, stop: int) -> list[Turn]:
        return self.turns.get(conversation_id, [])[max(start, 0) : stop]

    async def active_summaries(self, conversation_id: str) -> list[Summary]:
        return hierarchy.active(self.summaries.get(conversation_id, []))

    async def add_summary(self, summary: Summary, vector: list[float]) -> None:
        self.summaries.setdefault(summary.conversation_id, []).append(summary)


def history_of(n: int, cid: str) -> list[NewMessage]:
    roles = ["user", "assistant"]
    return [NewMessage(role=roles[i % 2], content=f"turn {i} of {cid} in plain words") for i in range(n)]  # type: ignore[arg-type]


def lazy_parts(
    llm: FakeLLM,
    lookback: int = 64,
    per_conversation: int = 2,
    max_queued: int = 8,
    traffic: Traffic | None = None,
    backlog: Backlog | None = None,
) -> tuple[Turns, SummaryScheduler, Traffic]:
    """A tenant's turns and scheduler; given another tenant's traffic and backlog, it shares them."""
    turns, traffic = Turns(), traffic or Traffic()
    summarizer = Summarizer(
        turns,  # type: ignore[arg-type]
        HashEmbedder(),
        llm,
        TokenCounter(llm),
        every=5,
        keep=4,
        max_tokens=64,
        input_tokens=200,  # about 10 turns a fold: the look-back takes several folds
        lookback=lookback,
        traffic=traffic,
    )
    scheduler = SummaryScheduler(
        summarizer,
        traffic=traffic,
        per_conversation=per_conversation,
        max_queued=max_queued,
        backlog=backlog,
    )
    return turns, scheduler, traffic


async def test_importing_20_conversations_of_1000_turns_queues_the_cap_and_folds_only_their_tails(
    llm: FakeLLM,
) -> None:
    turns, scheduler, traffic = lazy_parts(llm, lookback=64, per_conversation=2, max_queued=8)
    recorder = Recorder(turns, scheduler)  # type: ignore[arg-type]
    reply = traffic.enter()  # a chat reply is streaming while the archive comes in
    for n in range(20):
        await recorder.append(f"c{n}", history_of(1000, f"c{n}"))
    await settle()
    assert scheduler.queue == QueueDepth(queued=8, running=0, dropped=12, owed=12)
    assert llm.completions == []  # nothing reaches the model while the reply streams
    traffic.leave(reply)
    await asyncio.wait_for(scheduler.drain(), 30)  # the model is idle: the owed ones follow the first 8
    assert scheduler.queue == QueueDepth(queued=0, running=0, dropped=12, owed=0)
    # 2 folds a conversation: not the ~100 folds per conversation an end-to-end summary takes
    assert len(llm.completions) == 40 and scheduler.written == 40
    for n in range(20):
        written = turns.summaries[f"c{n}"]
        assert len(written) == 2
        assert min(s.turn_from for s in written) == 1000 - 4 - 64  # the look-back's tail, not turn 0


async def test_the_queue_never_holds_more_than_its_cap_while_owed_conversations_wait(llm: FakeLLM) -> None:
    turns, scheduler, _ = lazy_parts(llm, max_queued=2)
    recorder = Recorder(turns, scheduler)  # type: ignore[arg-type]
    seen: list[int] = []
    complete = llm.complete

    async def watched(messages: Any, params: Any) -> str:
        seen.append(scheduler.queue.queued + scheduler.queue.running)
        return await complete(messages, params)

    llm.complete = watched  # type: ignore[method-assign]
    for n in range(6):
        await recorder.append(f"c{n}", history_of(100, f"c{n}"))
    assert scheduler.queue.owed == 4
    await asyncio.wait_for(scheduler.drain(), 30)
    assert seen and max(seen) <= 2
    assert all(f"c{n}" in turns.summaries for n in range(6))


async def test_an_owed_conversation_folds_before_its_next_prompt(llm: FakeLLM) -> None:
    turns, scheduler, traffic = lazy_parts(llm, max_queued=1)
    recorder = Recorder(turns, scheduler)  # type: ignore[arg-type]
    reply = traffic.enter()  # the model is busy: the background queue does not move
    await recorder.append("a", history_of(100, "a"))
    await recorder.append("b", history_of(100, "b"))
    assert scheduler.queue == QueueDepth(queued=1, running=0, dropped=1, owed=1)
    traffic.leave(reply)
    await scheduler.needed("b")  # b's next prompt asks for it; a still waits behind it or beside it
    assert turns.summaries["b"] and turns.summaries["b"][0].turn_from == 100 - 4 - 64
    assert scheduler.queue.owed == 0
    await scheduler.needed("b")  # owed no more: nothing more to do before the prompt
    assert len(turns.summaries["b"]) == 1
    await asyncio.wait_for(scheduler.drain(), 10)


async def test_closing_the_scheduler_starts_no_owed_work(llm: FakeLLM) -> None:
    turns, scheduler, traffic = lazy_parts(llm, max_queued=1)
    recorder = Recorder(turns, scheduler)  # type: ignore[arg-type]
    traffic.enter()  # never leaves: the queued job waits until it is cancelled
    await recorder.append("a", history_of(100, "a"))
    await recorder.append("b", history_of(100, "b"))
    await scheduler.aclose()
    assert scheduler.busy == 0 and llm.completions == []


async def test_each_scheduling_continues_from_the_last_summary_towards_the_window(llm: FakeLLM) -> None:
    turns, scheduler, _ = lazy_parts(llm, lookback=64, per_conversation=2)
    recorder = Recorder(turns, scheduler)  # type: ignore[arg-type]
    await recorder.append("c1", history_of(1000, "c1"))
    await asyncio.wait_for(scheduler.drain(), 10)
    first = hierarchy.covered_through(turns.summaries["c1"])
    await recorder.append("c1", history_of(2, "c1"))
    await asyncio.wait_for(scheduler.drain(), 10)
    written = sorted(turns.summaries["c1"], key=lambda s: s.turn_from)
    assert len(written) == 4
    # contiguous from the look-back's start: no turn summarised twice, none skipped inside the tail
    assert [s.turn_from for s in written[1:]] == [s.turn_to + 1 for s in written[:-1]]
    assert written[2].turn_from == first + 1


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_summary_waits_for_the_chat_reply_in_flight_and_follows_it(
    services: Services, llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = asyncio.Event()
    idle = services.traffic.idle

    async def watched() -> None:
        waiting.set()
        await idle()

    monkeypatch.setattr(services.traffic, "idle", watched)
    async with services.turns.chat("c2", "hello there", None, {}) as turn:
        await turn.open()
        await services.recorder.append("c1", history_of(30, "c1"))  # an import while the reply streams
        await asyncio.wait_for(waiting.wait(), 5)
        await settle()
        assert llm.completions == []
        assert services.scheduler.queue == QueueDepth(queued=1, running=0, dropped=0)
        async for _ in turn.events():
            pass
        await turn.commit()
    await asyncio.wait_for(services.scheduler.drain(), 10)
    assert llm.completions and await services.history.summaries("c1")


async def test_the_first_chat_after_an_import_has_the_summaries_of_the_turns_before_its_window(
    settings: Settings,
    llm: FakeLLM,
    store: ChromaStore,
    embedder: HashEmbedder,
) -> None:
    lazy = settings.model_copy(update={"summary_lookback": 12, "summary_max_per_conversation": 2})
    services = Services.assemble(lazy, llm, store, embedder)
    await services.recorder.append("c1", history_of(200, "c1"))
    await asyncio.wait_for(services.scheduler.drain(), 10)  # the model was idle after the import
    summaries = await services.history.active_summaries("c1")
    assert 1 <= len(llm.completions) <= 2
    assert summaries and summaries[0].turn_from == 200 - 2 - 12  # keep 2 (conftest), look back 12
    async with services.turns.chat("c1", "what did we say", None, {}) as turn:
        assert turn.context is not None
        assert turn.context.summaries == summaries
        assert turn.context.window[0].turn_index == summaries[-1].turn_to + 1


async def test_the_first_chat_in_a_conversation_the_cap_left_owed_has_its_summaries(
    settings: Settings,
    llm: FakeLLM,
    store: ChromaStore,
    embedder: HashEmbedder,
) -> None:
    lazy = settings.model_copy(
        update={"summary_lookback": 12, "summary_max_per_conversation": 2, "summary_max_queued": 1}
    )
    services = Services.assemble(lazy, llm, store, embedder)
    reply = services.traffic.enter()  # the model is busy while the archive comes in
    await services.recorder.append("c1", history_of(200, "c1"))
    await services.recorder.append("c2", history_of(200, "c2"))
    assert services.scheduler.queue == QueueDepth(queued=1, running=0, dropped=1, owed=1)

    async def first_chat() -> PromptContext | None:
        async with services.turns.chat("c2", "what did we say", None, {}) as turn:
            return turn.context

    chat = asyncio.create_task(first_chat())
    await settle()
    assert not chat.done()  # its fold waits for the reply in flight, like any model call
    services.traffic.leave(reply)
    context = await asyncio.wait_for(chat, 10)
    assert context is not None and context.summaries
    assert context.summaries[0].turn_from == 200 - 2 - 12
    assert services.scheduler.queue.owed == 0
    await asyncio.wait_for(services.scheduler.drain(), 10)


async def test_a_reply_that_starts_while_a_fold_reads_its_turns_still_goes_before_its_model_call(
    llm: FakeLLM,
) -> None:
    turns, traffic = Turns(), Traffic()
    counted = asyncio.Event()
    replies: list[Reply] = []

    class ChatStartsMidFold:
        """Counts words; a chat reply starts while the fold counts its first turn."""

        async def text(self, text: str) -> int:
            if not counted.is_set():
                replies.append(traffic.enter())
                counted.set()
            return len(text.split())

    summarizer = Summarizer(
        turns,  # type: ignore[arg-type]
        HashEmbedder(),
        llm,
        ChatStartsMidFold(),
        every=5,
        keep=4,
        max_tokens=64,
        traffic=traffic,
    )
    scheduler = SummaryScheduler(summarizer, traffic=traffic, per_conversation=1)
    await Recorder(turns, scheduler).append("c1", history_of(40, "c1"))  # type: ignore[arg-type]
    await asyncio.wait_for(counted.wait(), 5)
    await settle()
    assert llm.completions == [] and scheduler.queue == QueueDepth(queued=0, running=1, dropped=0)
    traffic.leave(replies[0])
    await asyncio.wait_for(scheduler.drain(), 5)
    assert len(llm.completions) == 1 and turns.summaries["c1"][0].turn_from == 0


async def test_schedulers_sharing_a_backlog_are_capped_together(llm: FakeLLM) -> None:
    """Each tenant has its scheduler; the cap on queued conversations counts all tenants at once."""
    ada_turns, ada, traffic = lazy_parts(llm, max_queued=3)
    bob_turns, bob, _ = lazy_parts(llm, traffic=traffic, backlog=ada.backlog)
    reply = traffic.enter()
    for n in range(2):
        await Recorder(ada_turns, ada).append(f"c{n}", history_of(20, f"c{n}"))  # type: ignore[arg-type]
        await Recorder(bob_turns, bob).append(f"c{n}", history_of(20, f"c{n}"))  # type: ignore[arg-type]
    assert ada.backlog.held == 3 and ada.backlog.dropped == 1
    assert ada.queue.queued + bob.queue.queued == 3
    traffic.leave(reply)
    await asyncio.wait_for(asyncio.gather(ada.drain(), bob.drain()), 10)
    assert ada.backlog.held == 0


async def test_a_job_that_ends_gives_its_room_to_another_tenants_owed_conversation(llm: FakeLLM) -> None:
    """The owed conversations are kept with the shared cap: bob's waits for ada's job, not for one of his."""
    ada_turns, ada, traffic = lazy_parts(llm, max_queued=1)
    bob_turns, bob, _ = lazy_parts(llm, traffic=traffic, backlog=ada.backlog)
    reply = traffic.enter()
    await Recorder(ada_turns, ada).append("c0", history_of(20, "c0"))  # type: ignore[arg-type]
    await Recorder(bob_turns, bob).append("c0", history_of(20, "c0"))  # type: ignore[arg-type]
    assert (ada.queue.queued, ada.queue.owed, bob.queue.queued, bob.queue.owed) == (1, 0, 0, 1)
    traffic.leave(reply)
    await asyncio.wait_for(ada.drain(), 10)  # ada's job ends: bob's owed conversation takes its room
    await asyncio.wait_for(bob.drain(), 10)
    assert bob_turns.summaries["c0"] and bob.queue.owed == 0 and ada.backlog.held == 0


async def test_a_closed_schedulers_owed_conversations_are_not_started_by_another_tenants_job(
    llm: FakeLLM,
) -> None:
    ada_turns, ada, traffic = lazy_parts(llm, max_queued=1)
    bob_turns, bob, _ = lazy_parts(llm, traffic=traffic, backlog=ada.backlog)
    reply = traffic.enter()
    await Recorder(ada_turns, ada).append("c0", history_of(20, "c0"))  # type: ignore[arg-type]
    await Recorder(bob_turns, bob).append("c0", history_of(20, "c0"))  # type: ignore[arg-type]
    await bob.aclose()  # bob's tenant is evicted from the cache
    assert ada.backlog.owed_to(bob) == 0
    traffic.leave(reply)
    await asyncio.wait_for(ada.drain(), 10)
    assert bob.busy == 0 and "c0" not in bob_turns.summaries and ada.backlog.held == 0
