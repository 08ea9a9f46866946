from datetime import UTC, datetime

from app.conversations.hierarchy import active, covered_through, pile
from app.conversations.models import Summary

T = datetime(2026, 1, 1, tzinfo=UTC)


def s(level: int, a: int, b: int) -> Summary:
    return Summary("c", level, a, b, f"L{level} {a}-{b}", T, T, created_at=T)


def test_no_summaries() -> None:
    assert active([]) == []
    assert covered_through([]) == -1
    assert pile([], 4) == []


def test_a_higher_level_replaces_what_it_folded() -> None:
    level0 = [s(0, 0, 9), s(0, 10, 19), s(0, 20, 29), s(0, 30, 39), s(0, 40, 49)]
    level1 = [s(1, 0, 39)]
    assert active(level0 + level1) == [s(1, 0, 39), s(0, 40, 49)]
    assert covered_through(level0 + level1) == 49


def test_a_full_pile_of_one_level_is_folded_oldest_first() -> None:
    level0 = [s(0, i * 10, i * 10 + 9) for i in range(5)]
    assert pile(level0, 4) == level0[:4]
    assert pile(level0[:3], 4) == []
    # after the fold, the pile is gone until four more gather
    assert pile([*level0, s(1, 0, 39)], 4) == []


def test_levels_pile_up_logarithmically() -> None:
    summaries: list[Summary] = []
    for i in range(64):  # write 64 level-0 summaries, folding whenever a pile is full
        summaries.append(s(0, i * 10, i * 10 + 9))
        while parts := pile(summaries, 4):
            summaries.append(s(parts[0].level + 1, parts[0].turn_from, parts[-1].turn_to))
        assert len(active(summaries)) <= 3 * 4  # fewer than fanout per level
    assert max(x.level for x in summaries) == 3
    assert active(summaries) == [s(3, 0, 639)]


def test_summaries_of_only_an_imports_tail_stand_for_it_from_where_they_start() -> None:
    # the look-back left turns 0-931 to recall; a later backlog left 952-1435 too
    tail = [s(0, 932, 941), s(0, 942, 951), s(0, 1436, 1445), s(0, 1446, 1455)]
    assert active(list(reversed(tail))) == tail
    assert covered_through(tail) == 1455
    assert pile(tail, 4) == tail and pile(tail, 5) == []
    assert active([*tail, s(1, 932, 1455)]) == [s(1, 932, 1455)]
