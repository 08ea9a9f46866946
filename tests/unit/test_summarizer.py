from app.services import Services
from tests.fakes import FakeLLM


async def chat(services: Services, cid: str, n: int) -> None:
    for i in range(n):
        async with services.turn(cid, f"message number {i}", None, {}) as turn:
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
    async with services.turn("c1", "next", None, {}) as turn:
        assert turn.context is not None
        assert turn.context.summary == summary
        assert [t.turn_index for t in turn.context.window] == [4, 5]
        assert llm.summary_text in turn.context.messages[0]["content"]


async def test_a_failed_summary_loses_nothing_and_is_retried(services: Services, llm: FakeLLM) -> None:
    llm.fail_summaries = True
    await chat(services, "c1", 3)
    assert await services.history.summaries("c1") == []
    assert services.scheduler.failures >= 1
    assert len(await services.history.read("c1", 0, 100)) == 6
    llm.fail_summaries = False
    await chat(services, "c1", 1)
    [summary] = await services.history.summaries("c1")
    assert summary.turn_to == 5
    # raw turns stay stored after they are summarised
    assert len(await services.history.read("c1", 0, 100)) == 8


async def test_the_rolling_summary_builds_on_the_previous_one(services: Services, llm: FakeLLM) -> None:
    await chat(services, "c1", 3)
    llm.summary_text = "Second summary."
    await chat(services, "c1", 2)
    summaries = await services.history.summaries("c1")
    assert [s.turn_to for s in summaries] == [3, 7]
    assert summaries[-1].turn_from == 0
    assert "They talked about things." in llm.completions[-1][-1]["content"]
