"""A turn entered, started, relayed and cleaned up exactly once, however the response ends."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Any, cast

import pytest

from app.api.streaming import opened, relayed
from app.prompt.builder import PromptContext
from app.turns.context_manager import LLMContextManager

CONTEXT = PromptContext("c1", [], [], [], [], prompt_tokens=3, budget=10, next_index=0)


class Turn:
    """Records how it is driven, like LLMContextManager's entry, start and exit."""

    def __init__(self, fail_open: Exception | None = None) -> None:
        self.context: PromptContext | None = None
        self.fail_open = fail_open
        self.log: list[Any] = []

    async def __aenter__(self) -> Turn:
        self.context = CONTEXT
        self.log.append("enter")
        return self

    async def open(self) -> None:
        self.log.append("open")
        if self.fail_open is not None:
            raise self.fail_open

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.log.append(("exit", kind))


def as_turn(turn: Turn) -> LLMContextManager:
    return cast(LLMContextManager, turn)


async def test_opened_enters_notes_the_prompt_and_starts_the_model_leaving_the_exit_to_the_caller() -> None:
    turn, sent = Turn(), []
    stack = await opened(as_turn(turn), sent.append)
    assert sent == [CONTEXT]
    assert turn.log == ["enter", "open"]
    await stack.aclose()
    assert turn.log == ["enter", "open", ("exit", None)]


async def test_a_turn_that_cannot_start_is_cleaned_up_once_with_the_error() -> None:
    turn = Turn(fail_open=ConnectionError("down"))
    with pytest.raises(ConnectionError):
        await opened(as_turn(turn), lambda context: None)
    assert turn.log == ["enter", "open", ("exit", ConnectionError)]


async def events(turn: Turn, n: int) -> AsyncGenerator[int, None]:
    try:
        for i in range(n):
            yield i
    finally:
        turn.log.append("events closed")


async def test_relayed_passes_every_event_then_ends_the_turn() -> None:
    turn = Turn()
    stack = await opened(as_turn(turn), lambda context: None)
    assert [e async for e in relayed(stack, events(turn, 3))] == [0, 1, 2]
    assert turn.log == ["enter", "open", "events closed", ("exit", None)]


async def test_a_client_that_leaves_closes_the_events_before_the_turn_ends() -> None:
    turn = Turn()
    stack = await opened(as_turn(turn), lambda context: None)
    stream = relayed(stack, events(turn, 10))
    assert await anext(stream) == 0
    await stream.aclose()  # what the server does when the client disconnects
    assert turn.log == ["enter", "open", "events closed", ("exit", GeneratorExit)]


async def test_an_error_in_the_events_reaches_the_turns_exit() -> None:
    turn = Turn()
    stack = await opened(as_turn(turn), lambda context: None)

    async def failing() -> AsyncGenerator[int, None]:
        yield 1
        raise RuntimeError("broke")

    with pytest.raises(RuntimeError):
        async for _ in relayed(stack, failing()):
            pass
    assert turn.log == ["enter", "open", ("exit", RuntimeError)]
