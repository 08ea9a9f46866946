import pytest

from app.context.budget import fit
from app.errors import MessageTooLarge


def test_everything_fits_when_there_is_room() -> None:
    plan = fit(fixed=100, window=[10, 10], memories=[5, 5], budget=1000, memory_overhead=3)
    assert (plan.memories, plan.window_start, plan.tokens) == (2, 0, 133)


def test_least_relevant_memories_go_first() -> None:
    plan = fit(fixed=100, window=[10, 10], memories=[5, 6, 7], budget=132, memory_overhead=0)
    assert plan.memories == 2  # the 7-token, least relevant one was dropped
    assert plan.window_start == 0
    assert plan.tokens == 131


def test_oldest_window_turns_go_after_all_memories() -> None:
    plan = fit(fixed=100, window=[30, 20, 10], memories=[5, 5], budget=135, memory_overhead=2)
    assert plan.memories == 0
    assert plan.window_start == 1  # dropped the oldest (30)
    assert plan.tokens == 130


def test_memories_that_alone_exceed_their_share_are_dropped() -> None:
    plan = fit(fixed=10, window=[], memories=[500, 400], budget=100, memory_overhead=5)
    assert plan.memories == 0
    assert plan.tokens == 10


def test_empty_history() -> None:
    plan = fit(fixed=10, window=[], memories=[], budget=10)
    assert (plan.memories, plan.window_start, plan.tokens) == (0, 0, 10)


def test_a_message_larger_than_the_whole_budget_is_refused() -> None:
    with pytest.raises(MessageTooLarge, match="Send a shorter message"):
        fit(fixed=5000, window=[1], memories=[1], budget=4000)
