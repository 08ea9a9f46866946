"""Conversation records: stable ids of turns and summaries."""

from __future__ import annotations

from datetime import UTC, datetime

from app.conversations.models import Summary, Turn, summary_id, turn_id
from app.fields import utcnow

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_turn_id_names_conversation_and_index() -> None:
    assert turn_id("ada", 0) == "ada/t0"
    assert turn_id("ada", 12) == "ada/t12"
    assert Turn("ada", 3, "user", "hi").id == "ada/t3"


def test_summary_id_names_level_and_span() -> None:
    assert summary_id("ada", 1, 0, 9) == "ada/s1:0-9"
    summary = Summary("ada", 2, 10, 19, "text", covers_from=T0, covers_to=T0)
    assert summary.id == "ada/s2:10-19"


def test_ids_of_different_records_never_collide() -> None:
    ids = {turn_id("a", 1), turn_id("a", 11), turn_id("a1", 1), summary_id("a", 1, 1, 1)}
    assert len(ids) == 4


def test_new_records_are_stamped_in_utc() -> None:
    assert utcnow().tzinfo is UTC
    turn = Turn("ada", 0, "user", "hi")
    assert turn.created_at.tzinfo is UTC
    assert not turn.incomplete and not turn.abandoned
