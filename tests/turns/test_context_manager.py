import asyncio
import zlib

import pytest

from app.conversations.history import NewMessage
from app.errors import LLMFailed, LLMUnavailable, MessageTooLarge
from app.llm.protocols import Delta, Finished
from app.wiring import Services
from tests.fakes import FakeLLM


async def seed(services: Services, cid: str, texts: list[str]) -> None:
    roles = ["user", "assistant"]
    async with services.history.locked(cid):
        await services.history.append(
            cid,
            [NewMessage(role=roles[i % 2], content=t) for i, t in enumerate(texts)],  # type: ignore[arg-type]
        )


async def run_turn(services: Services, cid: str, message: str) -> list[object]:
    events: list[object] = []
    async with services.turns.chat(cid, message, None, {}) as turn:
        async for event in turn.events():
            events.append(event)
        await turn.commit()
    return events


async def test_a_turn_stores_both_messages_with_metadata(services: Services, llm: FakeLLM) -> None:
    events = await run_turn(services, "c1", "hello")
    assert [e.text for e in events if isinstance(e, Delta) and e.text] == ["Hello", " there", "!"]
    assert isinstance(events[-1], Finished)
    turns = await services.history.read("c1", 0, 10)
    assert [(t.role, t.content, t.turn_index, t.incomplete) for t in turns] == [
        ("user", "hello", 0, False),
        ("assistant", "Hello there!", 1, False),
    ]
    params = llm.streams[0].params
    assert params["id_slot"] in (0, 1)
    assert params["max_tokens"] == services.settings.reply_tokens


async def test_old_turns_are_recalled_but_window_turns_are_not(services: Services, llm: FakeLLM) -> None:
    facts = ["my sister lives in Reykjavik", "noted"] + [f"filler talk number {i}" for i in range(10)]
    await seed(services, "c1", facts)
    async with services.turns.chat("c1", "where does my sister live", None, {}) as turn:
        assert turn.context is not None
        recalled = [m.turn.content for m in turn.context.memories]
        window = [t.turn_index for t in turn.context.window]
    assert recalled[0] == "my sister lives in Reykjavik"
    assert min(window) == 12 - services.settings.window_max_turns
    assert all(m.turn.turn_index < min(window) for m in turn.context.memories)
    assert "Reykjavik" in turn.context.messages[-1]["content"]


async def test_a_failure_mid_stream_keeps_the_user_turn_and_the_partial_reply(
    services: Services, llm: FakeLLM
) -> None:
    llm.script.fail_after = 2
    with pytest.raises(LLMFailed):
        await run_turn(services, "c1", "tell me a story")
    turns = await services.history.read("c1", 0, 10)
    assert [(t.role, t.content, t.incomplete) for t in turns] == [
        ("user", "tell me a story", False),
        ("assistant", "Hello there", True),
    ]


async def test_a_cancelled_turn_still_stores_what_was_said(services: Services, llm: FakeLLM) -> None:
    gate = asyncio.Event()

    async def consume() -> None:
        async with services.turns.chat("c1", "are you there", None, {}) as turn:
            async for _ in turn.events():
                gate.set()
                await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    turns = await services.history.read("c1", 0, 10)
    assert [(t.role, t.content, t.incomplete) for t in turns] == [
        ("user", "are you there", False),
        ("assistant", "Hello", True),
    ]


async def test_an_unreachable_model_stores_nothing(services: Services, llm: FakeLLM) -> None:
    llm.script.unavailable = True
    with pytest.raises(LLMUnavailable):
        await run_turn(services, "c1", "hi")
    llm.script.unavailable = False
    assert await services.history.read("c1", 0, 10) == []
    # and the conversation is not left locked
    await asyncio.wait_for(run_turn(services, "c1", "hi again"), timeout=5)


async def test_a_message_too_large_is_refused_and_nothing_stored(services: Services, llm: FakeLLM) -> None:
    llm.n_ctx = 200
    with pytest.raises(MessageTooLarge):
        await run_turn(services, "c1", "word " * 500)
    assert await services.history.read("c1", 0, 10) == []


async def test_the_prompt_never_exceeds_its_budget(services: Services, llm: FakeLLM) -> None:
    llm.n_ctx = 300
    await seed(services, "c1", [f"turn {i} " + "blah " * 30 for i in range(12)])
    async with services.turns.chat("c1", "blah question", None, {}) as turn:
        assert turn.context is not None
        assert turn.context.prompt_tokens <= turn.context.budget == 300 - services.settings.reply_tokens
        assert await llm.count_prompt(turn.context.messages) == turn.context.prompt_tokens
        assert len(turn.context.window) < 6


async def test_turns_of_one_conversation_are_serialised(services: Services, llm: FakeLLM) -> None:
    await asyncio.gather(*(run_turn(services, "c1", f"message {i}") for i in range(4)))
    turns = await services.history.read("c1", 0, 20)
    assert [t.turn_index for t in turns] == list(range(8))
    assert [t.role for t in turns] == ["user", "assistant"] * 4


async def test_a_reply_is_chat_traffic_from_its_start_to_its_last_event(services: Services) -> None:
    traffic = services.traffic
    async with services.turns.chat("c1", "hello", None, {}) as turn:
        assert traffic.replies == 0  # building the prompt is not generating
        await turn.open()
        assert traffic.replies == 1
        async for event in turn.events():
            assert traffic.replies == (0 if isinstance(event, Finished) else 1)
        await turn.commit()
    assert traffic.replies == 0


@pytest.mark.parametrize("failure", ["unavailable", "mid_stream", "cancelled"])
async def test_a_reply_that_fails_or_is_cancelled_leaves_the_chat_traffic(
    services: Services, llm: FakeLLM, failure: str
) -> None:
    llm.script.unavailable = failure == "unavailable"
    llm.script.fail_after = 1 if failure == "mid_stream" else None

    async def attempt() -> None:
        async with services.turns.chat("c1", "hello", None, {}) as turn:
            async for _ in turn.events():
                if failure == "cancelled":
                    raise asyncio.CancelledError

    with pytest.raises((LLMUnavailable, LLMFailed, asyncio.CancelledError)):
        await attempt()
    assert services.traffic.replies == 0


def hashed_to_slot_0(count: int) -> list[str]:
    """Conversation ids that the hash alone would put on one slot of two."""
    return [cid for cid in (f"conv-{n}" for n in range(100)) if zlib.crc32(cid.encode()) % 2 == 0][:count]


async def test_two_conversations_hashed_to_one_slot_run_on_both_slots(
    services: Services, llm: FakeLLM
) -> None:
    first, second = hashed_to_slot_0(2)
    async with (
        services.turns.chat(first, "hi", None, {}) as one,
        services.turns.chat(second, "hi", None, {}) as two,
    ):
        await one.open()
        await two.open()
    assert sorted(s.params["id_slot"] for s in llm.streams) == [0, 1]


async def test_a_slot_is_free_for_the_next_turn_once_the_reply_ends(services: Services, llm: FakeLLM) -> None:
    llm.slots = 1
    async with services.turns.chat("c1", "hello", None, {}) as turn:
        async for _ in turn.events():
            pass
        # Not stored yet, but llama.cpp is done: another conversation's turn gets the slot now.
        async with services.turns.chat("c2", "hello", None, {}) as other:
            await asyncio.wait_for(other.open(), timeout=5)
        await turn.commit()
    assert [s.params["id_slot"] for s in llm.streams] == [0, 0]


@pytest.mark.parametrize("failure", ["reject", "fail_after"])
async def test_a_failed_turn_gives_its_slot_back(services: Services, llm: FakeLLM, failure: str) -> None:
    llm.slots = 1
    setattr(llm.script, failure, True if failure == "reject" else 1)
    with pytest.raises(LLMFailed):
        await run_turn(services, "c1", "hello")
    llm.script.reject, llm.script.fail_after = False, None
    await asyncio.wait_for(run_turn(services, "c2", "hello"), timeout=5)
