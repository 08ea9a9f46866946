"""Each request's turn, made from the shared parts."""

from __future__ import annotations

from app.turns.client_turn import ClientTurn
from app.turns.context_manager import LLMContextManager, TurnParts
from app.turns.factory import TurnFactory
from app.wiring import Services
from tests.fakes import FakeLLM


def factory(services: Services, reply_tokens: int = 64) -> TurnFactory:
    parts = TurnParts(
        services.builder,
        services.history,
        services.llm,
        services.slots,
        services.scheduler,
        services.long_term,
    )
    return TurnFactory(parts, reply_tokens)


async def test_a_chat_turn_carries_the_message_and_scope_and_gets_the_default_reply_room(
    services: Services, llm: FakeLLM
) -> None:
    turn = factory(services, reply_tokens=77).chat("c1", "hello", None, {"temperature": 0.2}, "billing")
    assert type(turn) is LLMContextManager
    assert (turn.conversation_id, turn.message, turn.project) == ("c1", "hello", "billing")
    async with turn:
        async for _ in turn.events():
            pass
        await turn.commit()
    params = llm.streams[0].params
    assert params["max_tokens"] == 77
    assert params["temperature"] == 0.2
    assert [t.content for t in await services.history.read("c1", 0, 10)] == ["hello", "Hello there!"]


async def test_a_chat_turn_with_max_tokens_gets_that_room(services: Services, llm: FakeLLM) -> None:
    async with factory(services).chat("c1", "hello", 9, {}) as turn:
        async for _ in turn.events():
            pass
        await turn.commit()
    assert llm.streams[0].params["max_tokens"] == 9


async def test_a_client_turn_takes_the_clients_messages_and_tools(services: Services, llm: FakeLLM) -> None:
    tools = [{"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "what time is it"}]
    turn = factory(services, reply_tokens=55).client("c2", messages, None, {"tools": tools})
    assert isinstance(turn, ClientTurn)
    assert turn.messages == messages and turn.message == "what time is it"
    async with turn:
        async for _ in turn.events():
            pass
        await turn.commit()
    params = llm.streams[0].params
    assert params["max_tokens"] == 55
    assert params["tools"] == tools
    assert [t.content for t in await services.history.read("c2", 0, 10)] == [
        "what time is it",
        "Hello there!",
    ]
