import pytest

from app.errors import MessageTooLarge
from app.prompt.budget import Request, Shares, plan


def test_everything_fits_when_there_is_room() -> None:
    p = plan(
        Request(budget=1000, fixed=100, summaries=[20], window=[10, 10], memories=[5, 5], memory_block=3)
    )
    assert (p.summaries, p.memories, p.window_start, p.tokens) == (1, 2, 0, 153)


def test_empty_history_is_just_the_fixed_part() -> None:
    p = plan(Request(budget=500, fixed=40))
    assert (p.summaries, p.memories, p.window_start, p.tokens) == (0, 0, 0, 40)


def test_a_message_larger_than_the_whole_budget_is_refused() -> None:
    with pytest.raises(MessageTooLarge, match="Send a shorter message"):
        plan(Request(budget=2000, fixed=5000, window=[1], memories=[1]))


def test_memories_that_alone_exceed_their_share_are_cut_to_it() -> None:
    # share 0.25 of 1000 = 250; the window wants everything else
    p = plan(
        Request(budget=1000, fixed=100, window=[50] * 20, memories=[100, 100, 100, 100], memory_block=10)
    )
    assert p.memories == 2  # 10 + 100 + 100 fits in 250, a third would not
    assert p.tokens <= 1000
    assert p.window_start == 20 - (1000 - 100 - 210) // 50  # the window took the rest, newest first


def test_a_memory_larger_than_the_whole_budget_is_dropped_not_fatal() -> None:
    p = plan(Request(budget=300, fixed=50, window=[10], memories=[5000, 20], memory_block=5))
    assert p.memories == 0  # the most relevant one does not fit, and order is kept
    assert p.window_start == 0
    assert p.tokens == 60


def test_oldest_window_turns_give_way_first() -> None:
    p = plan(Request(budget=100, fixed=10, window=[30, 30, 30, 30]))
    assert p.window_start == 1
    assert p.tokens == 100


def test_summaries_keep_the_newest_within_their_share() -> None:
    p = plan(Request(budget=400, fixed=20, summaries=[60, 60, 60], window=[100, 100, 100]))
    assert p.summaries == 1  # 100 = share; only the newest 60 fits next to the window's claim
    assert p.window_start == 0
    assert p.tokens == 20 + 60 + 300


def test_room_the_window_leaves_goes_back_to_memories_then_summaries() -> None:
    p = plan(
        Request(
            budget=1000, fixed=10, summaries=[200, 200], window=[10], memories=[200, 200], memory_block=0
        ),
        Shares(summaries=0.2, memories=0.2),
    )
    assert (p.memories, p.summaries) == (2, 2)
    assert p.tokens == 10 + 400 + 400 + 10


def test_the_plan_never_exceeds_the_budget() -> None:
    import random

    rng = random.Random(7)
    for _ in range(500):
        budget = rng.randint(50, 3000)
        request = Request(
            budget=budget,
            fixed=rng.randint(1, budget),
            summaries=[rng.randint(1, 400) for _ in range(rng.randint(0, 6))],
            window=[rng.randint(1, 300) for _ in range(rng.randint(0, 20))],
            memories=[rng.randint(1, 300) for _ in range(rng.randint(0, 8))],
            memory_block=rng.randint(0, 20),
            window_step=rng.choice([1, 2, 4]),
            asks_past=rng.random() < 0.5,
            window_keep=rng.randint(0, 6),
        )
        p = plan(request, Shares(rng.random(), rng.random(), rng.random()))
        kept = (
            request.fixed
            + sum(request.summaries[len(request.summaries) - p.summaries :])
            + sum(request.window[p.window_start :])
            + sum(request.memories[: p.memories])
            + (request.memory_block if p.memories else 0)
        )
        assert kept == p.tokens <= budget


def test_settings_refuse_a_window_that_would_slide_between_summaries() -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="MNEMO_WINDOW_MAX_TURNS=16 is below"):
        Settings(_env_file=None, summary_every=8, window_min_turns=4, window_max_turns=16)  # type: ignore[call-arg]
    assert Settings(_env_file=None, summary_every=8, window_max_turns=20).window_max_turns == 20  # type: ignore[call-arg]


def test_a_cut_window_is_cut_at_an_aligned_turn_so_its_start_holds() -> None:
    window = [30] * 10
    p = plan(Request(budget=100 + 30 * 7, fixed=100, window=window, window_step=4))
    assert p.window_start == 4  # 7 turns would fit (start 3); cut further, to the aligned turn 4
    assert p.tokens == 100 + 30 * 6
    # as the window grows a turn at a time, its start holds, then moves by a whole step
    starts = [
        plan(Request(budget=100 + 30 * 9, fixed=100, window=[30] * grown, window_step=4)).window_start
        for grown in (12, 13, 14, 15, 16, 17)
    ]
    assert starts == [4, 4, 8, 8, 8, 8]
    # with nothing to cut, nothing is cut
    assert plan(Request(budget=10_000, fixed=100, window=window, window_step=4)).window_start == 0


def test_memories_fill_the_room_in_rank_order_and_stop_at_the_first_that_does_not_fit() -> None:
    costs = [12, 7, 30, 9] * 25  # 100 candidates
    small = plan(Request(budget=300, fixed=50, window=[20] * 4, memories=costs, memory_block=5))
    large = plan(Request(budget=900, fixed=50, window=[20] * 4, memories=costs, memory_block=5))
    assert 0 < small.memories < large.memories < len(costs)
    for p, budget in ((small, 300), (large, 900)):
        assert p.tokens <= budget
        assert p.window_start == 0  # the window needed little; the rest went to memories
        assert p.tokens + costs[p.memories] > budget  # the next one in rank order did not fit


def _past(asks_past: bool, window: list[int]) -> int:
    request = Request(
        budget=1000,
        fixed=100,
        window=window,
        memories=[20] * 60,
        memory_block=10,
        window_keep=4,
        asks_past=asks_past,
    )
    p = plan(request, Shares(memories=0.25, memories_past=0.5))
    assert p.tokens <= 1000
    assert p.window_start <= len(window) - 4  # the newest turns keep their room
    return p.memories


def test_a_message_about_the_past_lets_memories_take_the_older_window_turns_room() -> None:
    window = [50] * 20  # wants everything
    assert _past(False, window) == (250 - 10) // 20
    assert _past(True, window) == (500 - 10) // 20


def test_the_larger_share_never_takes_the_room_of_the_newest_window_turns() -> None:
    window = [150] * 4  # the four newest turns need 600 of the 900 left
    assert _past(True, window) == _past(False, window) == (1000 - 100 - 600 - 10) // 20
